/**
 * Writes a tensor-chunk message as CBOR directly: the header is a handful of small items, the
 * data is not copied: header and data go out one after the other (or are joined once, into a
 * buffer allocated at its final size). (A general CBOR encoder grows its buffer as it
 * goes and copies large byte strings more than once.) The output is plain
 * RFC 8949 CBOR, the same map any CBOR library decodes; keys in the order of topics.md.
 */
import type { TensorChunk } from './chunks.js'
import { SplitPayload } from '../shared/split-payload.js'

function headSize(value: number): number {
  return value < 24 ? 1 : value < 0x100 ? 2 : value < 0x10000 ? 3 : value < 0x100000000 ? 5 : 9
}

/** Writes a CBOR head (major type + argument) at `at`; returns the next offset. */
function writeHead(buf: Buffer, at: number, major: number, value: number): number {
  const m = major << 5
  if (value < 24) {
    buf[at] = m | value
    return at + 1
  }
  if (value < 0x100) {
    buf[at] = m | 24
    buf[at + 1] = value
    return at + 2
  }
  if (value < 0x10000) {
    buf[at] = m | 25
    buf.writeUInt16BE(value, at + 1)
    return at + 3
  }
  if (value < 0x100000000) {
    buf[at] = m | 26
    buf.writeUInt32BE(value, at + 1)
    return at + 5
  }
  buf[at] = m | 27
  buf.writeBigUInt64BE(BigInt(value), at + 1)
  return at + 9
}

type Item = number | string | null | number[] | string[]

/** A number that is not a non-negative safe integer goes as a CBOR float64 (a compressed tensor's scale). */
const isUint = (v: number) => Number.isSafeInteger(v) && v >= 0

function itemSize(v: Item): number {
  if (v === null) return 1
  if (typeof v === 'number') return isUint(v) ? headSize(v) : 9
  if (typeof v === 'string') {
    const n = Buffer.byteLength(v)
    return headSize(n) + n
  }
  return headSize(v.length) + (v as Array<number | string>).reduce((s: number, d) => s + itemSize(d), 0)
}

function writeItem(buf: Buffer, at: number, v: Item): number {
  if (v === null) {
    buf[at] = 0xf6
    return at + 1
  }
  if (typeof v === 'number' && !isUint(v)) {
    buf[at] = 0xfb
    buf.writeDoubleBE(v, at + 1)
    return at + 9
  }
  if (typeof v === 'number') return writeHead(buf, at, 0, v)
  if (typeof v === 'string') {
    const n = Buffer.byteLength(v)
    at = writeHead(buf, at, 3, n)
    return at + buf.write(v, at, 'utf8')
  }
  at = writeHead(buf, at, 4, v.length)
  for (const d of v as Array<number | string>) at = writeItem(buf, at, d)
  return at
}

/**
 * Encodes one chunk as two parts: the CBOR header (every field, then the head of the `data` byte
 * string) and the data itself, a view of the caller's bytes (not copied); `join()` gives the
 * message in one buffer. Every numeric field but `scale` must be a non-negative safe integer
 * (chunks.ts checks).
 */
export function writeChunkParts(chunk: TensorChunk): SplitPayload {
  const fields: Array<[string, Item]> = [
    ['v', chunk.v], ['req', chunk.req], ['name', chunk.name], ['dtype', chunk.dtype], ['shape', chunk.shape],
    ['epoch', chunk.epoch], ['idx', chunk.idx], ['count', chunk.count], ['offset', chunk.offset],
    ['total', chunk.total], ['crc', chunk.crc],
  ]
  const hop = chunk.hop
  if (hop) fields.push(['src', hop.src], ['plan', hop.plan], ['stage', hop.stage], ['route', [...hop.route]], ['t0', hop.t0])
  if (chunk.scale !== undefined) fields.push(['scale', chunk.scale])
  const dataLen = chunk.data.byteLength
  let size = 1 + itemSize('data') + headSize(dataLen)
  for (const [k, v] of fields) size += itemSize(k) + itemSize(v)
  const head = Buffer.allocUnsafe(size)
  let at = writeHead(head, 0, 5, fields.length + 1)
  for (const [k, v] of fields) {
    at = writeItem(head, at, k)
    at = writeItem(head, at, v)
  }
  at = writeItem(head, at, 'data')
  writeHead(head, at, 2, dataLen)
  return new SplitPayload(head, chunk.data)
}
