/**
 * The shape check before a message is decoded (src/protocol/cbor-scan.ts, run by codec.ts
 * decodeCbor; here chunk-batch.ts decodeTensorMessage's budgets): every message our senders make passes, with the largest
 * chunk header the schema takes; packet-sized messages of tiny items are refused before a decoder
 * builds them.
 */
import { describe, expect, it } from 'vitest'
import { cborShapeProblem } from '../../src/protocol/cbor-scan.js'
import { encodeCbor } from '../../src/protocol/codec.js'
import { MAX_BATCH_CHUNKS, decodeTensorMessage, encodeChunkBatch } from '../../src/protocol/chunk-batch.js'
import { encodeTensorChunks, type TensorMeta } from '../../src/protocol/chunks.js'
import { seededRandom } from '../../src/shared/random.js'

const widest: TensorMeta = {
  req: 'r'.repeat(128), name: 'n'.repeat(256), dtype: 'int8', shape: [...Array(15).fill(1), 1 << 20], epoch: 2 ** 40, scale: 0.123456789,
  hop: { src: 's'.repeat(64), plan: 'p'.repeat(128), stage: 64, route: Array(64).fill('d'.repeat(64)), t0: 2 ** 50 },
}

/** A random JSON-like value of a few levels, as our payloads are. */
function randomValue(rand: () => number, depth: number): unknown {
  const k = Math.floor(rand() * (depth > 3 ? 5 : 8))
  if (k === 0) return Math.floor(rand() * 2 ** 40)
  if (k === 1) return rand() * 1e9 - 5e8
  if (k === 2) return 'x'.repeat(Math.floor(rand() * 300))
  if (k === 3) return rand() < 0.5 ? null : true
  if (k === 4) return Buffer.alloc(Math.floor(rand() * 70_000))
  if (k === 5) return Array.from({ length: Math.floor(rand() * 6) }, () => randomValue(rand, depth + 1))
  return Object.fromEntries(Array.from({ length: Math.floor(rand() * 6) }, (_, i) => [`k${i}`, randomValue(rand, depth + 1)]))
}

/** Items as a decoder sees them: one per value, key and array element. */
function countItems(v: unknown): number {
  if (Array.isArray(v)) return 1 + v.reduce((a: number, x) => a + countItems(x), 0)
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) return 1 + Object.values(v).reduce((a: number, x) => a + 1 + countItems(x), 0)
  return 1
}

describe('cborShapeProblem', () => {
  it('counts the items of 2,000 random encoded values exactly as a decoder would build them', () => {
    const rand = seededRandom(7)
    for (let i = 0; i < 2000; i++) {
      const v = randomValue(rand, 0)
      const bytes = encodeCbor(v)
      const n = countItems(v)
      expect(cborShapeProblem(bytes, n, 16)).toBeNull()
      expect(cborShapeProblem(bytes, n - 1, 16)).toMatch(/more than/)
    }
  })

  it('refuses truncated, trailing, indefinite-length and over-deep messages', () => {
    const ok = encodeCbor({ a: [1, 2, { b: Buffer.alloc(10) }] })
    expect(cborShapeProblem(ok.subarray(0, ok.length - 3), 100, 8)).toMatch(/ends inside|runs past|claims more/)
    expect(cborShapeProblem(Buffer.concat([ok, Buffer.from([0x01])]), 100, 8)).toMatch(/bytes after/)
    expect(cborShapeProblem(Buffer.from([0x9f, 0x01, 0xff]), 100, 8)).toMatch(/indefinite/)
    expect(cborShapeProblem(Buffer.from([0x81, 0x81, 0x81, 0x01]), 100, 2)).toMatch(/nested more than 2/)
    // a head claiming 2^32 elements in a 9-byte message
    expect(cborShapeProblem(Buffer.from([0x9b, 0, 0, 0, 1, 0, 0, 0, 0]), 1e12, 8)).toMatch(/claims more items/)
  })
})

describe('decodeTensorMessage shape check', () => {
  it('passes the widest chunk the schema takes, whole 1 MiB chunks and a full batch of small ones', () => {
    const data = new Uint8Array(1 << 20)
    for (const m of encodeTensorChunks(widest, data, 1 << 20)) {
      const r = decodeTensorMessage(m)
      expect(r.ok && r.chunks.every((c) => c.ok)).toBe(true)
    }
    const small = [...encodeTensorChunks({ req: 'r1', name: 'x', dtype: 'uint8', shape: [1024], epoch: 1 }, new Uint8Array(1024), 1)]
    expect(small).toHaveLength(1024)
    const batch = decodeTensorMessage(encodeChunkBatch(small.slice(0, 512)))
    expect(batch.ok && batch.chunks.length === 512 && batch.chunks.every((c) => c.ok)).toBe(true)
  })

  it('refuses a packet-sized message of tiny items before decoding it', () => {
    const heavy = Buffer.concat([Buffer.from([0x9a, 0x00, 0x0f, 0x42, 0x40]), Buffer.alloc(1_000_000, 0xa0)])
    const r = decodeTensorMessage(heavy)
    expect(r).toMatchObject({ ok: false, code: 'DORA_PAYLOAD_TOO_LARGE' })
    expect(r.ok ? '' : r.error).toMatch(/^tensor chunk over its budget: more than 256 CBOR items \(refused unread\)/)
    // within a batch's size, the same shape is decoded and refused by the schema as before
    const r2 = decodeTensorMessage(Buffer.concat([Buffer.from([0x99, 0x10, 0x00]), Buffer.alloc(4096, 0xa0)]))
    expect(r2.ok && r2.chunks.every((c) => c.ok)).toBe(false)
  })

  it('refuses a batch larger than a sender makes (64 KiB), whatever it holds', () => {
    const msgs = Array.from({ length: MAX_BATCH_CHUNKS }, (_, k) => [...encodeTensorChunks({ req: `r${k}`, name: 'x', dtype: 'uint8', shape: [1], epoch: null }, new Uint8Array([1]))][0]!)
    const r = decodeTensorMessage(encodeChunkBatch(msgs))
    expect(r).toMatchObject({ ok: false, code: 'DORA_PAYLOAD_TOO_LARGE' })
  })
})
