/**
 * Tensor chunks (topics.md § Tensor chunks): a tensor is sent as one or more CBOR messages, each
 * at most `chunkBytes` of tensor data plus a small header, so every message stays below the
 * smallest broker packet limit in use (EMQX defaults to 1 MB; AWS IoT allows 128 KB).
 *
 * Encoding copies each slice of the tensor's bytes once, straight into its message buffer, or
 * not at all (encodeTensorChunkParts: header and data sent one after the other); decoding returns the chunk's data as a view over the received message (no copy).
 */
import { z } from 'zod'
import { decodeCbor } from './codec.js'
import { writeChunkParts } from './chunk-writer.js'
import type { SplitPayload } from '../shared/split-payload.js'
import { crc32 } from './crc32.js'
import { DTYPE_NAMES, byteLengthOf, type Dtype } from './dtypes.js'
import { PROTOCOL_VERSION } from './topics.js'
import { formatIssues } from './payloads.js'
import { ErrorCodes, type ErrorCode } from '../errors.js'

/** Default tensor bytes per chunk: 256 KiB keeps header overhead under 0.1% and fits EMQX's 1 MB. */
export const DEFAULT_CHUNK_BYTES = 256 * 1024
/** The chunk sizes a hub's config and a device's --chunk-bytes take. */
export const MIN_CHUNK_BYTES = 1024
export const MAX_CHUNK_BYTES = 64 * 1024 * 1024
/** Room left for the CBOR header when sizing chunks against a broker packet limit. */
export const CHUNK_HEADER_ALLOWANCE = 1024
/**
 * Largest tensor the wire accepts (2 GiB): `total` beyond it is refused before any size
 * arithmetic or allocation; receivers set their own, lower limit (reassembly.ts).
 */
export const MAX_WIRE_TENSOR_BYTES = 2 ** 31

export interface TensorMeta {
  /** Request id (unique per job). */
  req: string
  /** Tensor name, as in the ONNX graph. */
  name: string
  dtype: Dtype
  shape: number[]
  /** Plan epoch the sender ran; null outside a plan (tests, tools). */
  epoch: number | null
  /** Where the request goes (absent outside a running job: tests, tools). */
  hop?: Hop
  /**
   * A compressed float32 activation (activation-codec.ts): `dtype` is float16 or int8 on the wire
   * and the receiver restores float32 values as x = q x scale.
   */
  scale?: number
}

/**
 * A request's way through a plan, carried by every chunk of its tensors: the source, the plan
 * of the epoch's mix, the stage the tensor is for (the stage count for results), the device of
 * every stage, and the source's send time.
 */
export interface Hop {
  /** The request's source: a device id, or `hub`. */
  src: string
  plan: string
  stage: number
  route: string[]
  /** Source clock when the request was sent, whole ms since the Unix epoch. */
  t0: number
}

export interface TensorChunk extends TensorMeta {
  v: typeof PROTOCOL_VERSION
  idx: number
  count: number
  /** Byte offset of `data` in the whole tensor. */
  offset: number
  /** Byte length of the whole tensor. */
  total: number
  /** CRC-32 (IEEE) of `data`. */
  crc: number
  data: Uint8Array
}

const chunkSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  req: z.string().min(1).max(128),
  name: z.string().min(1).max(256),
  dtype: z.enum(DTYPE_NAMES),
  shape: z.array(z.number().int().nonnegative()).max(16),
  epoch: z.number().int().nonnegative().nullable(),
  idx: z.number().int().nonnegative(),
  count: z.number().int().positive().max(MAX_WIRE_TENSOR_BYTES),
  offset: z.number().int().nonnegative().max(MAX_WIRE_TENSOR_BYTES),
  total: z.number().int().nonnegative().max(MAX_WIRE_TENSOR_BYTES),
  crc: z.number().int().nonnegative().max(0xffffffff),
  data: z.instanceof(Uint8Array),
  src: z.string().min(1).max(64).optional(),
  plan: z.string().min(1).max(128).optional(),
  stage: z.number().int().nonnegative().max(64).optional(),
  route: z.array(z.string().min(1).max(64)).min(1).max(64).optional(),
  t0: z.number().int().nonnegative().optional(),
  scale: z.number().positive().finite().optional(),
}).refine((c) => c.scale === undefined || c.dtype === 'float16' || c.dtype === 'int8', { message: 'scale goes only with a float16 or int8 tensor (a compressed activation)', path: ['scale'] })

/** Largest chunk data size that keeps each message under a broker's packet limit. */
export function chunkBytesFor(maxPacketBytes: number, topicLength = 128): number {
  const room = maxPacketBytes - CHUNK_HEADER_ALLOWANCE - topicLength - 5
  if (room < 1024) throw new RangeError(`packet limit ${maxPacketBytes} bytes is too small for tensor chunks`)
  return Math.min(DEFAULT_CHUNK_BYTES * 4, room)
}

/**
 * Encodes a tensor as chunk messages. `bytes` is the tensor's raw little-endian data
 * (see dtypes.bytesOf for a typed array). Yields lazily so a sender can pace or bound them.
 */
export function* encodeTensorChunks(
  meta: TensorMeta,
  bytes: Uint8Array,
  chunkBytes = DEFAULT_CHUNK_BYTES,
): Generator<Buffer, void, undefined> {
  for (const parts of encodeTensorChunkParts(meta, bytes, chunkBytes)) yield parts.join()
}

/**
 * As encodeTensorChunks, each message as its header and a view of its slice of `bytes` (no
 * copy; see SplitPayload): `bytes` must not change until the messages are acknowledged.
 */
export function* encodeTensorChunkParts(
  meta: TensorMeta,
  bytes: Uint8Array,
  chunkBytes = DEFAULT_CHUNK_BYTES,
): Generator<SplitPayload, void, undefined> {
  if (!Number.isInteger(chunkBytes) || chunkBytes <= 0) throw new RangeError(`chunkBytes must be a positive integer`)
  const expected = byteLengthOf(meta.dtype, meta.shape)
  if (expected !== bytes.byteLength) {
    throw new RangeError(
      `tensor ${meta.name}: shape [${meta.shape.join(', ')}] of ${meta.dtype} needs ${expected} bytes, got ${bytes.byteLength}`,
    )
  }
  const count = Math.max(1, Math.ceil(bytes.byteLength / chunkBytes))
  for (let idx = 0; idx < count; idx++) {
    const offset = idx * chunkBytes
    const data = bytes.subarray(offset, Math.min(offset + chunkBytes, bytes.byteLength))
    const chunk: TensorChunk = {
      v: PROTOCOL_VERSION,
      req: meta.req,
      name: meta.name,
      dtype: meta.dtype,
      shape: meta.shape,
      epoch: meta.epoch,
      idx,
      count,
      offset,
      total: bytes.byteLength,
      crc: crc32(data),
      data,
      ...(meta.hop ? { hop: meta.hop } : {}),
      ...(meta.scale !== undefined ? { scale: meta.scale } : {}),
    }
    yield writeChunkParts(chunk)
  }
}

/** Most CBOR items one chunk map has: its keys and scalar values, a shape of at most 16 dimensions and a route of at most 64 devices: 117 today, room left for keys to come (topics.md § Tensor chunks). */
export const MAX_CHUNK_ITEMS = 256

/** One chunk map: at most MAX_CHUNK_ITEMS items, its shape and route nested in it (codec.ts decodeCbor). */
export const TENSOR_CHUNK_BUDGET = { what: 'tensor chunk', maxItems: MAX_CHUNK_ITEMS, maxDepth: 4 } as const

export type ChunkDecodeResult = { ok: true; chunk: TensorChunk } | { ok: false; code: ErrorCode; error: string }

/**
 * Decodes and checks one chunk message: schema, bounds and checksum. Every size field is bounded
 * here, before a receiver allocates anything for it: `total` by MAX_WIRE_TENSOR_BYTES and its
 * shape, `count` by `total` (each chunk carries at least one byte; a lone chunk may be empty).
 */
export function decodeTensorChunk(message: Uint8Array): ChunkDecodeResult {
  const decoded = decodeCbor(message, TENSOR_CHUNK_BUDGET)
  if (!decoded.ok) return decoded
  return checkTensorChunk(decoded.value)
}

/** Checks one decoded chunk map (alone, or an item of a batch): schema, bounds and checksum. */
export function checkTensorChunk(value: unknown): ChunkDecodeResult {
  const parsed = chunkSchema.safeParse(value)
  if (!parsed.success) return { ok: false, code: ErrorCodes.CHUNK_INVALID, error: `tensor chunk: ${formatIssues(parsed.error)}` }
  const { src, plan, stage, route, t0, scale, ...rest } = parsed.data
  const hopFields = [src, plan, stage, route, t0].filter((x) => x !== undefined).length
  if (hopFields !== 0 && hopFields !== 5) return { ok: false, code: ErrorCodes.CHUNK_INVALID, error: 'tensor chunk: src, plan, stage, route and t0 go together' }
  const chunk = rest as TensorChunk
  if (scale !== undefined) chunk.scale = scale
  if (hopFields === 5) {
    if (stage! > route!.length) return { ok: false, code: ErrorCodes.CHUNK_INVALID, error: `tensor chunk: stage ${stage} is beyond its route of ${route!.length}` }
    chunk.hop = { src: src!, plan: plan!, stage: stage!, route: route!, t0: t0! }
  }
  let expected: number
  try {
    expected = byteLengthOf(chunk.dtype, chunk.shape)
  } catch (err) {
    return { ok: false, code: ErrorCodes.CHUNK_INVALID, error: `tensor chunk: ${(err as Error).message}` }
  }
  if (expected !== chunk.total) {
    return { ok: false, code: ErrorCodes.CHUNK_INVALID, error: `tensor chunk: total ${chunk.total} does not match shape [${chunk.shape.join(', ')}] of ${chunk.dtype} (${expected} bytes)` }
  }
  if (chunk.count > Math.max(1, chunk.total)) {
    return { ok: false, code: ErrorCodes.CHUNK_INVALID, error: `tensor chunk: count ${chunk.count} exceeds the tensor's ${chunk.total} bytes (every chunk carries at least one)` }
  }
  if (chunk.idx >= chunk.count) {
    return { ok: false, code: ErrorCodes.CHUNK_INVALID, error: `tensor chunk: index ${chunk.idx} out of range for count ${chunk.count}` }
  }
  if (chunk.offset + chunk.data.byteLength > chunk.total) {
    return { ok: false, code: ErrorCodes.CHUNK_INVALID, error: `tensor chunk: bytes ${chunk.offset}..${chunk.offset + chunk.data.byteLength} exceed total ${chunk.total}` }
  }
  if (crc32(chunk.data) !== chunk.crc) {
    return { ok: false, code: ErrorCodes.CHUNK_CHECKSUM, error: `tensor chunk ${chunk.idx}/${chunk.count} of ${chunk.name}: checksum mismatch` }
  }
  return { ok: true, chunk }
}
