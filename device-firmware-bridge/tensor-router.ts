/**
 * Routes a job's tensor messages to the executor that runs the job: training (training.ts) or
 * inference (executor.ts). A device may hear of a job first through its tensors: a source sends
 * on a new epoch the moment it activates, before a device that just joined has read the job's
 * plan or its assignment. Such messages are held until the job's kind is known (a copy each: the
 * client lends tensor payloads only for the call), then routed in the order they came. The hold
 * is bounded in messages, bytes and time; what passes a bound is dropped with an error.
 *
 * Before, a message of a job not known yet went to the inference executor, and a training
 * micro-batch was lost without a word: its step stalled on the all-reduce for 60 s (the first
 * step of the joining device, about one run in five of test/device/training-handover.test.ts).
 */
import { HoldLimit } from './hold-limit.js'

export type JobKind = 'training' | 'inference'

export interface TensorRouterDeps {
  /** The job's kind from its plans or this device's assignment; null while neither is here. */
  readonly kindOf: (jobId: string) => JobKind | null
  readonly training: (jobId: string, payload: Uint8Array) => void
  readonly inference: (jobId: string, payload: Uint8Array) => void
  /** A held message is dropped this long after it came. */
  readonly timeoutMs: number
  readonly clock: () => number
  readonly onError: (message: string) => void
  /** Most messages and bytes held at once over every job (default 4,096 and 128 MiB). */
  readonly maxMessages?: number
  readonly maxBytes?: number
}

interface Held {
  readonly jobId: string
  readonly payload: Uint8Array
  readonly atMs: number
}

export class TensorRouter {
  private readonly held: Held[] = []
  private readonly room: HoldLimit

  constructor(private readonly d: TensorRouterDeps) {
    this.room = new HoldLimit(d.maxMessages ?? 4096, d.maxBytes ?? 128 * 1024 * 1024)
  }

  /** Messages held for jobs whose kind is not known yet. */
  get heldMessages(): number {
    return this.held.length
  }

  /** One message of a job's tensors topic addressed to this device. */
  onMessage(jobId: string, payload: Uint8Array): void {
    this.sweep()
    const kind = this.d.kindOf(jobId)
    if (kind) return this.route(kind, jobId, payload)
    const full = this.room.admit(payload.byteLength)
    if (full) return this.d.onError(`job ${jobId}: a tensor message came before the job's plan and was dropped: ${full}`)
    this.held.push({ jobId, payload: new Uint8Array(payload), atMs: this.d.clock() })
  }

  /** A plan or an assignment came: messages held for jobs now known go to their executor, in order. */
  release(): void {
    this.sweep()
    const waiting = this.held.splice(0)
    for (const h of waiting) {
      const kind = this.d.kindOf(h.jobId)
      if (!kind) {
        this.held.push(h)
        continue
      }
      this.room.release(h.payload.byteLength)
      this.route(kind, h.jobId, h.payload)
    }
  }

  /** Drops messages held past the timeout (called on every message and release, and on the device's heartbeat). */
  sweep(): void {
    const now = this.d.clock()
    const dropped = new Map<string, number>()
    // held in the order they came: the oldest first
    while (this.held.length && now - this.held[0]!.atMs >= this.d.timeoutMs) {
      const h = this.held.shift()!
      this.room.release(h.payload.byteLength)
      dropped.set(h.jobId, (dropped.get(h.jobId) ?? 0) + 1)
    }
    for (const [jobId, n] of dropped) this.d.onError(`job ${jobId}: ${n} tensor message(s) came and no plan or assignment of the job followed within ${this.d.timeoutMs} ms; dropped`)
  }

  private route(kind: JobKind, jobId: string, payload: Uint8Array): void {
    if (kind === 'training') this.d.training(jobId, payload)
    else this.d.inference(jobId, payload)
  }
}
