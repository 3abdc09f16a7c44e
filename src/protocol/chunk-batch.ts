/**
 * Tensor-chunk batches (topics.md § Tensor chunks, batches; wire revision 2): several small
 * chunk messages to one topic travel as one MQTT message, a CBOR map `{v: 1, batch: [chunk,
 * ...]}` whose items are the chunk maps exactly as sent alone. A QoS 1 publish costs the same
 * broker and client work whatever its size, so 1 KiB tensors one per message stop at a few
 * thousand a second (BENCHMARKS.md, issue 18); batched, the per-message work is shared.
 *
 * Receivers take either form through `decodeTensorMessage`; each item is checked as a chunk
 * on its own (schema, bounds, CRC), so one bad item rejects only itself.
 */
import { decodeCbor } from './codec.js'
import { MAX_CHUNK_ITEMS, TENSOR_CHUNK_BUDGET, checkTensorChunk, type ChunkDecodeResult } from './chunks.js'
import { PROTOCOL_VERSION } from './topics.js'
import { ErrorCodes } from '../errors.js'

/** Most chunks in one batch message. */
export const MAX_BATCH_CHUNKS = 1024
/** Largest batch message a sender makes (runtime/chunk-batcher.ts: 64 KiB of chunk messages) and its head. */
export const MAX_BATCH_MESSAGE_BYTES = 64 * 1024 + 16
/** The budget of a message a batch can be (at most MAX_BATCH_MESSAGE_BYTES): a batch map of at most MAX_BATCH_CHUNKS chunk maps. */
const BATCH_BUDGET = { what: 'tensor chunk batch', maxItems: MAX_BATCH_CHUNKS * MAX_CHUNK_ITEMS, maxDepth: 4 } as const

// {"v": 1, "batch": [ ... ]}: map(2), "v", 1, "batch", then the array head
const BATCH_PREFIX = Buffer.from([0xa2, 0x61, 0x76, PROTOCOL_VERSION, 0x65, 0x62, 0x61, 0x74, 0x63, 0x68])

function arrayHead(n: number): Buffer {
  if (n < 24) return Buffer.from([0x80 | n])
  if (n < 0x100) return Buffer.from([0x98, n])
  return Buffer.from([0x99, n >> 8, n & 0xff])
}

/** Joins already-encoded chunk messages into one batch message (one copy of their bytes). */
export function encodeChunkBatch(messages: readonly Uint8Array[]): Buffer {
  if (messages.length === 0 || messages.length > MAX_BATCH_CHUNKS) throw new RangeError(`a batch holds 1-${MAX_BATCH_CHUNKS} chunks, not ${messages.length}`)
  return Buffer.concat([BATCH_PREFIX, arrayHead(messages.length), ...messages])
}

export type MessageDecodeResult = { ok: true; chunks: ChunkDecodeResult[] } | Extract<ChunkDecodeResult, { ok: false }>

/**
 * Decodes a message of a tensor topic: one chunk, or a batch of them. The outer result fails
 * when the message is not CBOR or not a chunk or batch map; each item then has its own result.
 */
export function decodeTensorMessage(message: Uint8Array): MessageDecodeResult {
  // a message larger than any batch is one chunk: a map of scalars, its shape and its data
  const decoded = decodeCbor(message, message.byteLength <= MAX_BATCH_MESSAGE_BYTES ? BATCH_BUDGET : TENSOR_CHUNK_BUDGET)
  if (!decoded.ok) return decoded
  const v = decoded.value as { batch?: unknown; v?: unknown } | null
  if (v === null || typeof v !== 'object' || !('batch' in v)) return { ok: true, chunks: [checkTensorChunk(v)] }
  if (v.v !== PROTOCOL_VERSION) return { ok: false, code: ErrorCodes.CHUNK_INVALID, error: `tensor chunk batch: v must be ${PROTOCOL_VERSION}` }
  if (!Array.isArray(v.batch) || v.batch.length === 0 || v.batch.length > MAX_BATCH_CHUNKS) {
    return { ok: false, code: ErrorCodes.CHUNK_INVALID, error: `tensor chunk batch: batch must be an array of 1-${MAX_BATCH_CHUNKS} chunks` }
  }
  return { ok: true, chunks: v.batch.map((item) => checkTensorChunk(item)) }
}
