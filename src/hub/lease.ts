/**
 * A lease on a job's planning among hubs sharing one fleet (scale-out on Redis): one Redis key per
 * job, `dora:lease:{job}` = the holder's hub id, set only if absent and expiring after `leaseMs`.
 * The holder renews it every third of that; a hub that crashes stops renewing, and another takes
 * it over once it expires. Only the holder plans and publishes the job's epochs.
 */
import { Redis } from 'ioredis'
import type { Logger } from '../log.js'

// renew or take: our key (or none) -> ours for leaseMs; someone else's -> not ours
const TAKE = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

export class PlanLeases {
  private readonly redis: Redis
  private readonly held = new Set<string>()
  private timer: NodeJS.Timeout | null = null
  private stopped = false
  /** The round in progress (stop waits for it: a command after disconnect would reconnect). */
  private inFlight: Promise<void> = Promise.resolve()

  constructor(
    url: string,
    private readonly hubId: string,
    private readonly leaseMs: number,
    private readonly onChange: (jobId: string, held: boolean) => void,
    private readonly log: Logger,
  ) {
    this.redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, connectionName: 'dora-lease' })
    this.redis.on('error', (err: Error) => this.log.warn({ err: err.message }, 'plan lease: redis error'))
  }

  holds(jobId: string): boolean {
    return this.held.has(jobId)
  }

  /** Starts competing for the jobs' leases (now, then every third of the lease). */
  async start(jobs: () => readonly string[]): Promise<void> {
    await this.redis.connect()
    const round = async () => {
      for (const jobId of jobs()) {
        if (this.stopped) return
        let ok = false
        try {
          ok = (await this.redis.eval(TAKE, 1, key(jobId), this.hubId, String(this.leaseMs))) === 1
        } catch (err) {
          this.log.warn({ jobId, err: (err as Error).message }, 'plan lease: renewing failed')
        }
        if (ok !== this.held.has(jobId)) {
          if (ok) this.held.add(jobId)
          else this.held.delete(jobId)
          this.log.info({ jobId, hubId: this.hubId, held: ok }, ok ? 'plan lease taken: this hub plans the job' : 'plan lease lost: another hub plans the job')
          this.onChange(jobId, ok)
        }
      }
    }
    await round()
    this.timer = setInterval(() => {
      this.inFlight = this.inFlight.then(round).catch(() => undefined)
    }, Math.max(100, Math.floor(this.leaseMs / 3)))
  }

  /** Gives up the leases held (a clean stop: another hub takes over at once) and disconnects. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    this.stopped = true
    await this.inFlight
    for (const jobId of this.held) await this.redis.eval(RELEASE, 1, key(jobId), this.hubId).catch(() => undefined)
    this.held.clear()
    await this.redis.quit().catch(() => this.redis.disconnect())
  }
}

const key = (jobId: string) => `dora:lease:${jobId}`
