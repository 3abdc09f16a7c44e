/**
 * What the hub reports about itself (JSON, retained): its state on `dora/v1/hub/state` (devices,
 * broker, status; at most every `stateMinIntervalMs`, four times that for measurement-only
 * changes) and the energy summary on `dora/v1/hub/energy` (per job, the energy its plans
 * predicted since the last summary; predicted figures, labelled so).
 */
import type { DoraClient } from '../mqtt/client.js'
import type { Logger } from '../log.js'
import type { DeviceRecord } from '../registry/registry.js'
import { AVAILABILITY, PROTOCOL_VERSION, topics } from '../protocol/topics.js'
import { buildHubState } from './state.js'

export interface HubReportDeps {
  readonly hubId: string
  readonly stateMinIntervalMs: number
  readonly client: () => DoraClient | null
  readonly devices: () => DeviceRecord[]
  readonly takeEnergy: (nowMs: number) => Array<{ jobId: string; predictedJ: number; epochs: number; fromMs: number }>
  readonly clock: () => number
  readonly log: Logger
}

export class HubReports {
  private stateTimer: NodeJS.Timeout | null = null
  private lastStateMs = 0
  private stopped = false
  startedMs = 0
  broker = { embedded: true, url: '' }

  constructor(private readonly d: HubReportDeps) {}

  /**
   * The hub is stopping: its state `offline` and its availability `offline`, retained; a broker
   * that takes the connection but answers nothing does not hold the stop (1.5 s at most).
   */
  async publishOffline(client: DoraClient): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        (async () => {
          await this.publishState('offline')
          await client.publish(topics.hubAvailability, AVAILABILITY.offline, { qos: 1, retain: true })
        })(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the broker did not acknowledge within 1.5 s')), 1500))),
      ])
    } catch (err) {
      this.d.log.warn({ err: (err as Error).message }, 'could not publish offline state while stopping')
    } finally {
      clearTimeout(timer)
    }
  }

  /** Publishes the state now if it has been long enough, else once the interval has passed. */
  scheduleState(important = false): void {
    if (this.stateTimer || this.stopped) return
    const wait = Math.max(0, this.lastStateMs + this.d.stateMinIntervalMs * (important ? 1 : 4) - this.d.clock())
    this.stateTimer = setTimeout(() => {
      this.stateTimer = null
      this.publishState().catch((err: Error) => this.d.log.warn({ err: err.message }, 'could not publish hub state'))
    }, wait)
  }

  async publishState(status: 'online' | 'offline' = 'online'): Promise<void> {
    const client = this.d.client()
    if (!client) return
    this.lastStateMs = this.d.clock()
    const state = buildHubState({ hubId: this.d.hubId, status, startedMs: this.startedMs, nowMs: this.lastStateMs, broker: this.broker, devices: this.d.devices() })
    await client.publish(topics.hubState, JSON.stringify(state), { qos: 1, retain: true })
  }

  /** The energy summary (default daily): per job, the energy its plans predicted since the last summary. */
  async publishEnergy(): Promise<void> {
    const client = this.d.client()
    if (!client) return
    const now = this.d.clock()
    const jobs = this.d.takeEnergy(now)
    if (!jobs.length) return
    const body = { v: PROTOCOL_VERSION, hubId: this.d.hubId, toMs: now, predicted: true, jobs }
    this.d.log.info({ jobs: jobs.map((j) => ({ jobId: j.jobId, predictedJ: Math.round(j.predictedJ) })) }, 'energy summary (predicted)')
    await client.publish(topics.hubEnergy, JSON.stringify(body), { qos: 1, retain: true })
  }

  /** No more state publications are scheduled. */
  stop(): void {
    this.stopped = true
    if (this.stateTimer) clearTimeout(this.stateTimer)
    this.stateTimer = null
  }
}

/** A broker URL as reports show it: any password masked. */
export function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return url
  }
}
