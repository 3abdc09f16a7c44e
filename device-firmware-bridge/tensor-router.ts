/**
 * Where a device's whole tensors go: to the executor of their job's kind, training (training.ts)
 * or inference (executor.ts). The device reassembles every job's chunks in one intake (intake.ts),
 * whatever the job, so a tensor is checked, bounded and put together the same way before anyone
 * knows which executor wants it. A device may hear of a job first through its tensors: a source
 * sends on a new epoch the moment it activates, before a device that just joined has read the
 * job's plan or its assignment. Whole tensors of a job not known yet are held, bounded in number,
 * bytes and time, then handed on in the order they came once a plan or an assignment says what
 * the job is; what passes a bound is dropped with an error.
 *
 * Before, each executor reassembled its own chunks and a job not known yet counted as inference:
 * a training micro-batch (or the first chunks of an all-reduce piece) went to the inference
 * executor and was lost without a word, and the step stalled on its all-reduce for 60 s (the
 * joining device's first step, about one run in five of test/device/training-handover.test.ts).
 */
import type { Tensor } from '../src/protocol/reassembly.js'
import type { TensorSink } from './runtime.js'
import { HoldLimit } from './hold-limit.js'

export type JobKind = 'training' | 'inference'

export interface TensorRouterDeps {
  /** The job's kind from its plans or this device's assignment; null while neither is here. */
  readonly kindOf: (jobId: string) => JobKind | null
  readonly training: TensorSink
  /** Also told of refusals of jobs not known yet. */
  readonly inference: TensorSink
  /** A held tensor is dropped this long after it came. */
  readonly timeoutMs: number
  readonly clock: () => number
  readonly onError: (message: string) => void
  /** Most tensors and bytes held at once over every job (default 1,024 and 1 GiB). */
  readonly maxTensors?: number
  readonly maxBytes?: number
}

interface Held {
  readonly jobId: string
  readonly t: Tensor
  readonly atMs: number
}

export class TensorRouter implements TensorSink {
  private readonly held: Held[] = []
  readonly room: HoldLimit

  constructor(private readonly d: TensorRouterDeps) {
    this.room = new HoldLimit(d.maxTensors ?? 1024, d.maxBytes ?? 1024 * 1024 * 1024)
  }

  /** A whole tensor of a job's tensors topic addressed to this device. */
  accept(jobId: string, t: Tensor): void {
    this.sweep()
    const kind = this.d.kindOf(jobId)
    if (kind) return this.sink(kind).accept(jobId, t)
    const full = this.room.admit(t.data.byteLength)
    if (full) return this.d.inference.reject(jobId, `tensor ${t.name} of ${t.req} dropped: ${full} (its job is not known here yet)`)
    this.held.push({ jobId, t, atMs: this.d.clock() })
  }

  /** A refused chunk: told to the executor of the job's kind (the inference executor's while the job is not known). */
  reject(jobId: string, why: string): void {
    this.sink(this.d.kindOf(jobId) ?? 'inference').reject(jobId, why)
  }

  /** A plan or an assignment came: tensors held for jobs now known go to their executor, in order. */
  release(): void {
    this.sweep()
    for (const h of this.held.splice(0)) {
      const kind = this.d.kindOf(h.jobId)
      if (!kind) {
        this.held.push(h)
        continue
      }
      this.room.release(h.t.data.byteLength)
      this.sink(kind).accept(h.jobId, h.t)
    }
  }

  /** Drops tensors held past the timeout (on every tensor and release, and on the device's heartbeat). */
  sweep(): void {
    const now = this.d.clock()
    const dropped = new Map<string, number>()
    // held in the order they came: the oldest first
    while (this.held.length && now - this.held[0]!.atMs >= this.d.timeoutMs) {
      const h = this.held.shift()!
      this.room.release(h.t.data.byteLength)
      dropped.set(h.jobId, (dropped.get(h.jobId) ?? 0) + 1)
    }
    for (const [jobId, n] of dropped) this.d.onError(`job ${jobId}: ${n} tensor(s) came and no plan or assignment of the job followed within ${this.d.timeoutMs} ms; dropped`)
  }

  private sink(kind: JobKind): TensorSink {
    return kind === 'training' ? this.d.training : this.d.inference
  }
}
