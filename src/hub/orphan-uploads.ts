/**
 * Upload chunks no spec names (`dora/v1/uploads/{sha256}/{i}`, retained): an operator may publish
 * a model's chunks and never submit the spec naming it (or the spec never comes: a crashed
 * `dora job submit`). The hub watches every upload's chunks and clears those of an upload that no
 * spec has named `hub.uploads.orphanTtlMs` after its first chunk was seen (default 10 minutes; a
 * named upload is cleared by the spec's handling once the hub has the file or gives up). On an
 * external broker, whose retained chunks outlive a hub, a restarted hub sees them again and they
 * wait the same time from then. At most MAX_TRACKED uploads are watched; beyond, the longest
 * waiting is cleared first.
 */
import type { DoraClient } from '../mqtt/client.js'
import type { Logger } from '../log.js'
import { filters } from '../protocol/topics.js'
import { clearUpload } from './uploads.js'

const MAX_TRACKED = 10_000
const UPLOAD_TOPIC = /^dora\/v1\/uploads\/([0-9a-f]{64})\/\d{1,9}$/

export interface OrphanUploadsOptions {
  readonly client: DoraClient
  /** Chunks of an upload no spec names are cleared this long after the first was seen. */
  readonly ttlMs: number
  readonly clock: () => number
  readonly log: Logger
}

export class OrphanUploads {
  /** Uploads with chunks on the broker that no spec names yet: when their first chunk was seen. */
  private readonly waiting = new Map<string, number>()
  /** Uploads a spec names (fetched and cleared by the spec's handling). */
  private readonly named = new Set<string>()
  private timer: NodeJS.Timeout | null = null
  private sweeping: Promise<void> = Promise.resolve()
  /** Uploads cleared as orphans (tests, logs). */
  cleared = 0

  constructor(private readonly o: OrphanUploadsOptions) {}

  async start(): Promise<void> {
    await this.o.client.subscribe(filters.allUploads, (topic, payload) => this.onChunk(topic, payload))
    const every = Math.max(250, Math.min(30_000, Math.floor(this.o.ttlMs / 4)))
    this.timer = setInterval(() => this.sweep(), every)
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.sweeping
  }

  /** A spec names the upload: its handling fetches and clears it. */
  claim(sha256: string): void {
    this.named.add(sha256)
    this.waiting.delete(sha256)
  }

  /** The spec's handling is done with the upload (it cleared the chunks). */
  release(sha256: string): void {
    this.named.delete(sha256)
    this.waiting.delete(sha256)
  }

  private onChunk(topic: string, payload: Buffer): void {
    const sha = UPLOAD_TOPIC.exec(topic)?.[1]
    // an empty payload is a chunk being cleared
    if (!sha || !payload.length || this.named.has(sha) || this.waiting.has(sha)) return
    if (this.waiting.size >= MAX_TRACKED) {
      const oldest = this.waiting.keys().next().value!
      this.waiting.set(oldest, -Infinity)
      this.sweep()
    }
    this.waiting.set(sha, this.o.clock())
  }

  /** Clears every upload that has waited its time unnamed (one sweep at a time). */
  private sweep(): void {
    this.sweeping = this.sweeping.then(async () => {
      const now = this.o.clock()
      for (const [sha, since] of [...this.waiting]) {
        if (now - since < this.o.ttlMs || this.named.has(sha)) continue
        this.waiting.delete(sha)
        try {
          const n = await clearUpload(this.o.client, sha)
          this.cleared++
          this.o.log.info({ sha256: sha, chunks: n, waitedMs: Number.isFinite(since) ? now - since : null }, 'upload no spec named cleared from the broker')
        } catch (err) {
          this.o.log.warn({ sha256: sha, err: (err as Error).message }, 'could not clear an upload no spec named')
        }
      }
    })
  }
}
