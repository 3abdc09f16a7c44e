/**
 * Incoming tensor chunks for this device, per job: decoded, checked (a route and an epoch, and
 * addressed to a stage this device holds on that route), reassembled into whole tensors. Shared
 * by the inference and the training executors. One reassembler serves every job and epoch, so
 * its bounds (bytes, incomplete tensors, time) hold for the device as a whole, whatever job ids
 * and epochs senders make up. A message may carry one chunk or a batch.
 */
import { decodeTensorMessage } from '../src/protocol/chunk-batch.js'
import type { TensorChunk } from '../src/protocol/chunks.js'
import { Reassembler, type Tensor } from '../src/protocol/reassembly.js'
import { isLent } from '../src/mqtt/lent-payloads.js'

export interface IntakeOptions {
  readonly id: string
  readonly timeoutMs: number
  readonly maxTensorBytes: number
  readonly maxPendingBytes: number
  /** Told of tensors given up (their chunks stopped coming). */
  readonly onError: (message: string) => void
}

export type IntakeResult = { status: 'partial' } | { status: 'complete'; tensor: Tensor } | { status: 'rejected'; error: string }

export class TensorIntake {
  private readonly reassembler: Reassembler

  constructor(private readonly o: IntakeOptions) {
    // the agent takes tensor messages in lent buffers (agent.ts): a single-chunk tensor is then copied
    this.reassembler = new Reassembler({ timeoutMs: o.timeoutMs, maxTensorBytes: o.maxTensorBytes, maxPendingBytes: o.maxPendingBytes, transientInput: isLent })
  }

  /** Bytes held for incomplete tensors (of every job). */
  get heldBytes(): number {
    return this.reassembler.heldBytes
  }

  /** One message of a tensors topic (a chunk or a batch of chunks): a result per chunk. */
  add(jobId: string, payload: Uint8Array, nowMs: number): IntakeResult[] {
    const m = decodeTensorMessage(payload)
    if (!m.ok) return [{ status: 'rejected', error: m.error }]
    return m.chunks.map((r) => (r.ok ? this.addChunk(jobId, r.chunk, nowMs) : { status: 'rejected', error: r.error }))
  }

  private addChunk(jobId: string, c: TensorChunk, nowMs: number): IntakeResult {
    if (!c.hop || c.epoch === null) return { status: 'rejected', error: `tensor ${c.name} of ${c.req} carries no route or epoch` }
    if (c.hop.route[c.hop.stage] !== this.o.id) return { status: 'rejected', error: `tensor ${c.name} of ${c.req} is for stage ${c.hop.stage} on ${c.hop.route[c.hop.stage] ?? 'nobody'}, not this device` }
    const re = this.reassembler
    for (const x of re.expire(nowMs)) this.o.onError(`tensor ${x.name} of ${x.req} incomplete after ${this.o.timeoutMs} ms (${x.received}/${x.count} chunks); dropped`)
    const added = re.add(c, nowMs, jobId)
    if (added.status === 'rejected') return { status: 'rejected', error: added.error }
    if (added.status === 'complete') return { status: 'complete', tensor: added.tensor }
    return { status: 'partial' }
  }
}
