/**
 * Incoming checkpoint tensors (protocol/checkpoint.ts), on the hub and on devices: each chunk is
 * checked against what the receiver expects BEFORE anything is held or allocated: a parameter it
 * knows, float32, shape [3, ...its own dims], exactly 12 bytes per element, a `ckpt:{step}:{t}`
 * request id, an epoch and a sender. Then bounded reassembly (bytes, count, time), as tensors.
 */
import { decodeTensorMessage } from '../protocol/chunk-batch.js'
import type { TensorChunk } from '../protocol/chunks.js'
import { parseCheckpointReq } from '../protocol/checkpoint.js'
import { viewAs } from '../protocol/dtypes.js'
import { Reassembler } from '../protocol/reassembly.js'

/** One parameter's state as it came (see ParamState in trainer.ts), with where it came from. */
export interface CheckpointState {
  readonly name: string
  readonly dims: readonly number[]
  readonly t: number
  /** Values, first moment, second moment. */
  readonly data: Float32Array
  /** The optimizer step this is the state before. */
  readonly step: number
  readonly epoch: number
  /** The sender: a device id, or `hub`. */
  readonly from: string
}

export type CheckpointResult = { ok: true; state: CheckpointState } | { ok: false; error: string }

export interface CheckpointIntakeOptions {
  readonly timeoutMs: number
  /** Most bytes held for incomplete checkpoint tensors at once. */
  readonly maxPendingBytes: number
  readonly onError: (message: string) => void
}

export class CheckpointIntake {
  private readonly reassembler: Reassembler

  constructor(private readonly o: CheckpointIntakeOptions) {
    this.reassembler = new Reassembler({ timeoutMs: o.timeoutMs, maxTensorBytes: o.maxPendingBytes, maxPendingBytes: o.maxPendingBytes, maxPendingTensors: 4096 })
  }

  /**
   * One message on a checkpoint topic. `expect(name)` is the element shape the receiver accepts
   * for a parameter (undefined: it wants no such parameter). `scope` keeps senders apart.
   */
  add(scope: string, payload: Uint8Array, nowMs: number, expect: (name: string) => readonly number[] | undefined): CheckpointResult[] {
    const m = decodeTensorMessage(payload)
    if (!m.ok) return [{ ok: false, error: m.error }]
    for (const x of this.reassembler.expire(nowMs)) this.o.onError(`checkpoint of ${x.name} (${x.req}) incomplete after ${this.o.timeoutMs} ms (${x.received}/${x.count} chunks); dropped`)
    const out: CheckpointResult[] = []
    for (const r of m.chunks) {
      if (!r.ok) {
        out.push({ ok: false, error: r.error })
        continue
      }
      const why = refuse(r.chunk, expect(r.chunk.name))
      if (why) {
        out.push({ ok: false, error: `checkpoint of ${r.chunk.name.slice(0, 256)}: ${why}` })
        continue
      }
      const added = this.reassembler.add(r.chunk, nowMs, `${scope}\u0000${r.chunk.hop!.src}\u0000${r.chunk.epoch}`)
      if (added.status === 'rejected') out.push({ ok: false, error: added.error })
      else if (added.status === 'complete') {
        const t = added.tensor
        const { step, t: adamT } = parseCheckpointReq(t.req)!
        out.push({ ok: true, state: { name: t.name, dims: t.shape.slice(1), t: adamT, data: viewAs('float32', t.data).slice(), step, epoch: t.epoch!, from: r.chunk.hop!.src } })
      }
    }
    return out
  }
}

function refuse(c: TensorChunk, dims: readonly number[] | undefined): string | null {
  if (!dims) return 'not a parameter this receiver wants'
  if (c.dtype !== 'float32' || c.scale !== undefined) return `dtype ${c.dtype}, want float32`
  if (c.shape.length !== dims.length + 1 || c.shape[0] !== 3 || dims.some((d, i) => c.shape[i + 1] !== d)) return `shape [${c.shape.join(', ')}], want [3, ${dims.join(', ')}]`
  const bytes = 12 * dims.reduce((a, b) => a * b, 1)
  if (c.total !== bytes) return `${c.total} bytes, want ${bytes}`
  if (!parseCheckpointReq(c.req)) return `request id ${JSON.stringify(c.req.slice(0, 64))} is not ckpt:{step}:{t}`
  if (c.epoch === null || !c.hop) return 'no epoch or sender'
  return null
}
