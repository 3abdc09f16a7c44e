import { describe, expect, it } from 'vitest'
import { Reassembler, encodeCbor, encodeTensorChunks, decodeTensorChunk, type TensorMeta } from '../../src/protocol/index.js'
import { MAX_BATCH_CHUNKS, MAX_BATCH_MESSAGE_BYTES, decodeTensorMessage, encodeChunkBatch } from '../../src/protocol/chunk-batch.js'
import { ErrorCodes } from '../../src/errors.js'

const hop = { src: 'cam-1', plan: 'p0', stage: 1, route: ['cam-1', 'edge-box'], t0: 1_700_000_000_000 }
const meta = (req: string, n = 256): TensorMeta => ({ req, name: 'x', dtype: 'float32', shape: [n], epoch: 2, hop })
const tensorBytes = (seed: number, n = 256) => new Uint8Array(n * 4).map((_, i) => (i * 7 + seed) & 0xff)
const messagesOf = (req: string, bytes: Uint8Array, chunkBytes = 256 * 1024) => [...encodeTensorChunks(meta(req, bytes.byteLength / 4), bytes, chunkBytes)]

describe('tensor chunk batches (topics.md § Tensor chunks, batches)', () => {
  it('a batch decodes to the same chunks as its messages sent alone, for 1 to the most chunks', () => {
    // a batch message is at most 64 KiB (topics.md § Batches): the most chunks that fit are small ones (about 700)
    const tiny = (k: number) => [...encodeTensorChunks({ req: `r${k}`, name: 'x', dtype: 'uint8', shape: [1], epoch: null }, new Uint8Array([k & 0xff]))][0]!
    for (const n of [1, 2, 23, 24, 255, 256, 700]) {
      const msgs = Array.from({ length: n }, (_, k) => (n * 1100 <= MAX_BATCH_MESSAGE_BYTES ? messagesOf(`r${k}`, tensorBytes(k))[0]! : tiny(k)))
      expect(encodeChunkBatch(msgs).byteLength).toBeLessThanOrEqual(MAX_BATCH_MESSAGE_BYTES)
      const m = decodeTensorMessage(encodeChunkBatch(msgs))
      if (!m.ok) throw new Error(m.error)
      expect(m.chunks).toHaveLength(n)
      m.chunks.forEach((c, k) => {
        const alone = decodeTensorChunk(msgs[k]!)
        expect(c.ok && alone.ok).toBe(true)
        if (c.ok && alone.ok) expect({ ...c.chunk, data: [...c.chunk.data] }).toEqual({ ...alone.chunk, data: [...alone.chunk.data] })
      })
    }
  })

  it('a single chunk message still decodes as one chunk', () => {
    const m = decodeTensorMessage(messagesOf('r1', tensorBytes(1))[0]!)
    expect(m.ok && m.chunks.length === 1 && m.chunks[0]!.ok).toBe(true)
  })

  it('a corrupt item is rejected by its checksum alone; the others reassemble', () => {
    const msgs = Array.from({ length: 5 }, (_, k) => Buffer.from(messagesOf(`r${k}`, tensorBytes(k))[0]!))
    const bad = msgs[2]!
    bad[bad.length - 1]! ^= 0xff // last byte of its data
    const m = decodeTensorMessage(encodeChunkBatch(msgs))
    if (!m.ok) throw new Error(m.error)
    expect(m.chunks.map((c) => (c.ok ? 'ok' : c.code))).toEqual(['ok', 'ok', ErrorCodes.CHUNK_CHECKSUM, 'ok', 'ok'])
    const r = new Reassembler({ timeoutMs: 1000, maxTensorBytes: 1 << 20, maxPendingBytes: 1 << 20 })
    const done = m.chunks.filter((c) => c.ok && r.add(c.chunk, 0).status === 'complete')
    expect(done).toHaveLength(4)
  })

  it('a lost batch leaves its tensors incomplete; they expire after the timeout (the source then re-sends)', () => {
    const bytes = tensorBytes(3, 4096) // 16 KiB in 4 KiB chunks
    const msgs = messagesOf('r1', bytes, 4096)
    const r = new Reassembler({ timeoutMs: 1000, maxTensorBytes: 1 << 20, maxPendingBytes: 1 << 20 })
    const first = decodeTensorMessage(encodeChunkBatch(msgs.slice(0, 2)))
    if (!first.ok) throw new Error(first.error)
    for (const c of first.chunks) if (c.ok) expect(r.add(c.chunk, 0).status).toBe('partial')
    // the batch with chunks 2 and 3 is lost
    expect(r.expire(999)).toEqual([])
    expect(r.expire(1000)).toEqual([{ req: 'r1', name: 'x', received: 2, count: 4 }])
  })

  it('refuses malformed batches with a clear error, never a throw', () => {
    const one = messagesOf('r1', tensorBytes(1))[0]!
    expect(() => encodeChunkBatch([])).toThrow(RangeError)
    expect(() => encodeChunkBatch(Array.from({ length: MAX_BATCH_CHUNKS + 1 }, () => one))).toThrow(RangeError)
    const cases: Array<[unknown, RegExp]> = [
      [{ v: 1, batch: [] }, /1-1024 chunks/],
      [{ v: 1, batch: 'x' }, /1-1024 chunks/],
      [{ v: 1, batch: Array.from({ length: MAX_BATCH_CHUNKS + 1 }, () => 0) }, /1-1024 chunks/],
      [{ v: 2, batch: [0] }, /v must be 1/],
    ]
    for (const [value, error] of cases) {
      const m = decodeTensorMessage(encodeCbor(value))
      expect(m.ok).toBe(false)
      if (!m.ok) expect(m.error).toMatch(error)
    }
    const m = decodeTensorMessage(encodeCbor({ v: 1, batch: [{ v: 1, req: 'r' }] }))
    expect(m.ok && !m.chunks[0]!.ok).toBe(true)
    expect(decodeTensorMessage(Buffer.from([0xa2, 0x61])).ok).toBe(false)
  })
})
