/**
 * Reassembly of tensor chunks into whole tensors (topics.md § Tensor chunks). Pure: the caller
 * passes the clock (`nowMs`) and calls `expire` on its own schedule.
 *
 * Tolerates duplicates and any order; rejects chunks that disagree with the tensor's first chunk
 * (dtype, shape, count, layout); gives up on a tensor that stays incomplete past `timeoutMs`, and
 * bounds what it holds whatever the senders do: the bytes and the number of incomplete tensors
 * (their buffers and chunk maps), and the number of completions it remembers to spot late
 * duplicates. One reassembler may serve several jobs or epochs: `scope` keeps their tensors apart
 * under the same bounds.
 */
import { ErrorCodes, type ErrorCode } from '../errors.js'
import { DTYPES, bytesOf, type Dtype } from './dtypes.js'
import { restore } from './activation-codec.js'
import type { Hop, TensorChunk } from './chunks.js'

export interface Tensor {
  req: string
  name: string
  dtype: Dtype
  shape: number[]
  epoch: number | null
  /** The request's way (from its first chunk), when it travels in a job. */
  hop?: Hop
  /** The whole tensor's bytes; aligned for its dtype (see dtypes.viewAs). */
  data: Uint8Array
}

export interface ReassemblerOptions {
  /** An incomplete tensor is dropped this long after its first chunk. */
  timeoutMs: number
  /** Largest single tensor accepted, bytes. */
  maxTensorBytes: number
  /** Most bytes held at once across incomplete tensors (their data and their chunk maps). */
  maxPendingBytes: number
  /** Most incomplete tensors held at once (default 1024). */
  maxPendingTensors?: number
  /** Most completed tensors remembered for spotting late duplicates (default 16384; oldest forgotten first). */
  maxRemembered?: number
  /**
   * Whether a chunk's data is valid only during `add` (a received payload the MQTT client lent,
   * src/mqtt/lent-payloads.ts `isLent`): a single-chunk tensor is then copied rather than
   * returned as a view of it. Default: never.
   */
  transientInput?: (data: Uint8Array) => boolean
}

export type AddResult =
  | { status: 'partial'; received: number; count: number }
  | { status: 'complete'; tensor: Tensor }
  | { status: 'duplicate' }
  | { status: 'rejected'; code: ErrorCode; error: string }

export interface Expired {
  req: string
  name: string
  received: number
  count: number
}

interface Pending {
  first: TensorChunk
  /** Bytes charged against maxPendingBytes: the tensor's data and its chunk map. */
  heldBytes: number
  buffer: Uint8Array
  seen: Uint8Array
  received: number
  stride: number | null
  startedMs: number
}

const NO_DATA = new Uint8Array(0)

const key = (scope: string, req: string, name: string) => `${scope}\u0000${req}\u0000${name}`

export class Reassembler {
  private readonly pending = new Map<string, Pending>()
  /** Recently completed tensors, so late duplicates are recognised instead of restarting. */
  private readonly completed = new Map<string, number>()
  private pendingBytes = 0
  /** Released tensor buffers by size, reused for the next tensor of that size (fresh large buffers cost a page fault per 4 KiB on first touch, and garbage-collector work). */
  private readonly spare = new Map<number, Uint8Array[]>()
  private spareBytes = 0

  constructor(private readonly options: ReassemblerOptions) {}

  get pendingCount(): number {
    return this.pending.size
  }

  get heldBytes(): number {
    return this.pendingBytes
  }

  add(chunk: TensorChunk, nowMs: number, scope = ''): AddResult {
    const k = key(scope, chunk.req, chunk.name)
    if (this.completed.has(k)) return { status: 'duplicate' }
    if (chunk.total > this.options.maxTensorBytes) {
      return reject(ErrorCodes.PAYLOAD_TOO_LARGE, `tensor ${chunk.name} of ${chunk.total} bytes exceeds the limit of ${this.options.maxTensorBytes}`)
    }
    if (chunk.count === 1) {
      if (chunk.offset !== 0 || chunk.data.byteLength !== chunk.total) {
        return reject(ErrorCodes.CHUNK_INVALID, `single-chunk tensor ${chunk.name} must carry all ${chunk.total} bytes at offset 0`)
      }
      this.remember(k, nowMs)
      const data = this.options.transientInput?.(chunk.data) ? new Uint8Array(chunk.data) : alignedCopyIfNeeded(chunk.data, chunk.dtype)
      return { status: 'complete', tensor: toTensor(chunk, data) }
    }
    let entry = this.pending.get(k)
    if (!entry) {
      const heldBytes = chunk.total + chunk.count
      if (this.pendingBytes + heldBytes > this.options.maxPendingBytes) {
        return reject(ErrorCodes.PAYLOAD_TOO_LARGE, `no room for tensor ${chunk.name} (${chunk.total} bytes): ${this.pendingBytes} bytes already held for incomplete tensors`)
      }
      const maxTensors = this.options.maxPendingTensors ?? 1024
      if (this.pending.size >= maxTensors) {
        return reject(ErrorCodes.PAYLOAD_TOO_LARGE, `no room for tensor ${chunk.name}: ${this.pending.size} incomplete tensors already held (the limit)`)
      }
      entry = {
        // the first chunk's fields, without its data: holding the data would hold the whole
        // received message until the tensor completes, long enough for the garbage collector to
        // move it to the old generation, where only full collections free it (BENCHMARKS.md, issue 18)
        first: { ...chunk, data: NO_DATA },
        heldBytes,
        buffer: this.allocate(chunk.total),
        seen: new Uint8Array(chunk.count),
        received: 0,
        stride: null,
        startedMs: nowMs,
      }
      this.pending.set(k, entry)
      this.pendingBytes += heldBytes
    } else {
      const mismatch = disagreement(entry.first, chunk)
      if (mismatch) return reject(ErrorCodes.CHUNK_CONFLICT, `chunk ${chunk.idx} of ${chunk.name} disagrees with earlier chunks: ${mismatch}`)
    }
    if (entry.seen[chunk.idx]) return { status: 'duplicate' }
    const layout = checkLayout(chunk, entry.stride)
    if (typeof layout === 'string') {
      if (entry.received === 0) this.drop(k, entry)
      return reject(ErrorCodes.CHUNK_CONFLICT, `chunk ${chunk.idx} of ${chunk.name}: ${layout}`)
    }
    entry.stride = layout
    entry.buffer.set(chunk.data, chunk.offset)
    entry.seen[chunk.idx] = 1
    entry.received++
    if (entry.received < chunk.count) return { status: 'partial', received: entry.received, count: chunk.count }
    this.drop(k, entry)
    this.remember(k, nowMs)
    return { status: 'complete', tensor: toTensor(entry.first, entry.buffer) }
  }

  /**
   * Hands a completed tensor's buffer back for reuse once the caller is done with it (it must not
   * be read afterwards). Optional: without it buffers are simply garbage-collected.
   */
  release(tensor: Tensor): void {
    const buf = tensor.data
    if (buf.byteOffset !== 0 || buf.byteLength !== buf.buffer.byteLength || buf.byteLength < 64 * 1024) return
    if (this.spareBytes + buf.byteLength > this.options.maxPendingBytes) return
    const list = this.spare.get(buf.byteLength) ?? []
    if (list.includes(buf)) return
    list.push(buf)
    this.spare.set(buf.byteLength, list)
    this.spareBytes += buf.byteLength
  }

  private allocate(bytes: number): Uint8Array {
    const reused = this.spare.get(bytes)?.pop()
    if (reused) {
      this.spareBytes -= bytes
      return reused
    }
    return new Uint8Array(bytes)
  }

  /** Drops incomplete tensors older than the timeout and forgets old completions. */
  expire(nowMs: number): Expired[] {
    const expired: Expired[] = []
    for (const [k, entry] of this.pending) {
      if (nowMs - entry.startedMs >= this.options.timeoutMs) {
        this.drop(k, entry)
        expired.push({ req: entry.first.req, name: entry.first.name, received: entry.received, count: entry.first.count })
      }
    }
    for (const [k, doneMs] of this.completed) {
      if (nowMs - doneMs >= this.options.timeoutMs) this.completed.delete(k)
    }
    return expired
  }

  private drop(k: string, entry: Pending): void {
    this.pending.delete(k)
    this.pendingBytes -= entry.heldBytes
  }

  private remember(k: string, nowMs: number): void {
    this.completed.set(k, nowMs)
    // a Map iterates in insertion order: the first key is the oldest completion
    if (this.completed.size > (this.options.maxRemembered ?? 16384)) this.completed.delete(this.completed.keys().next().value!)
  }
}

function reject(code: ErrorCode, error: string): AddResult {
  return { status: 'rejected', code, error }
}

function disagreement(a: TensorChunk, b: TensorChunk): string | null {
  if (a.dtype !== b.dtype) return `dtype ${b.dtype} vs ${a.dtype}`
  if (a.scale !== b.scale) return `scale ${b.scale} vs ${a.scale}`
  if (a.count !== b.count) return `count ${b.count} vs ${a.count}`
  if (a.total !== b.total) return `total ${b.total} vs ${a.total}`
  if (a.epoch !== b.epoch) return `epoch ${b.epoch} vs ${a.epoch}`
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    return `shape [${b.shape.join(', ')}] vs [${a.shape.join(', ')}]`
  }
  return null
}

/**
 * Chunks must tile the tensor: every chunk but the last has the same length (the stride) and
 * starts at idx x stride; the last ends at the total. Returns the stride, or what is wrong.
 */
function checkLayout(chunk: TensorChunk, stride: number | null): number | string {
  const last = chunk.idx === chunk.count - 1
  const len = chunk.data.byteLength
  const implied = last ? chunk.offset / (chunk.count - 1) : len
  if (!Number.isInteger(implied) || implied <= 0) return `offset ${chunk.offset} does not fit ${chunk.count} chunks`
  if (stride !== null && implied !== stride) return `chunk stride ${implied} differs from ${stride}`
  if (!last && chunk.offset !== chunk.idx * len) return `offset ${chunk.offset} is not ${chunk.idx} x ${len}`
  if (last && chunk.offset + len !== chunk.total) return `last chunk ends at ${chunk.offset + len}, not at ${chunk.total}`
  if (implied * (chunk.count - 1) >= chunk.total) return `${chunk.count} chunks of ${implied} bytes overrun ${chunk.total}`
  return implied
}

/** The whole tensor; a compressed activation (a `scale`) restored to float32. */
function toTensor(meta: TensorChunk, data: Uint8Array): Tensor {
  const restored = meta.scale !== undefined && (meta.dtype === 'float16' || meta.dtype === 'int8')
  return {
    req: meta.req, name: meta.name, dtype: restored ? 'float32' : meta.dtype, shape: meta.shape, epoch: meta.epoch, ...(meta.hop ? { hop: meta.hop } : {}),
    data: restored ? bytesOf(restore(meta.dtype as 'float16' | 'int8', alignedCopyIfNeeded(data, meta.dtype), meta.scale!)) : data,
  }
}

/** A single-chunk tensor is a view over the message when aligned (no copy), else one copy. */
function alignedCopyIfNeeded(data: Uint8Array, dtype: Dtype): Uint8Array {
  return data.byteOffset % DTYPES[dtype].bytes === 0 ? data : new Uint8Array(data)
}
