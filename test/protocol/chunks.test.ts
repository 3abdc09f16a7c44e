import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  Reassembler, bytesOf, decodeTensorChunk, encodeTensorChunks, encodeCbor, viewAs, decodeCbor, TENSOR_CHUNK_BUDGET,
  type TensorChunk, type TensorMeta,
} from '../../src/protocol/index.js'

/** A budget for the small values these tests decode. */
const SMALL = { what: 'test value', maxItems: 100, maxDepth: 4 }

const meta = (shape: number[], req = 'r1'): TensorMeta => ({ req, name: 'x', dtype: 'float32', shape, epoch: 3 })
const opts = { timeoutMs: 1000, maxTensorBytes: 256 * 1024 * 1024, maxPendingBytes: 512 * 1024 * 1024 }

function chunksOf(m: TensorMeta, bytes: Uint8Array, chunkBytes: number): TensorChunk[] {
  return [...encodeTensorChunks(m, bytes, chunkBytes)].map((msg) => {
    const r = decodeTensorChunk(msg)
    if (!r.ok) throw new Error(r.error)
    return r.chunk
  })
}

describe('CBOR codec', () => {
  it('round-trips maps, and byte strings decode as views over the message (no copy)', () => {
    const msg = encodeCbor({ a: 1, b: 'x', data: new Uint8Array([1, 2, 3]) })
    const r = decodeCbor(msg, SMALL)
    expect(r.ok).toBe(true)
    const v = (r as { value: { data: Uint8Array } }).value
    expect([...v.data]).toEqual([1, 2, 3])
    expect(v.data.buffer).toBe(msg.buffer)
  })

  it('rejects empty, truncated and trailing-garbage payloads with an error, never a throw', () => {
    expect(decodeCbor(new Uint8Array(), SMALL).ok).toBe(false)
    expect(decodeCbor(Buffer.from([0xa2, 0x01]), SMALL).ok).toBe(false)
    expect(decodeCbor(Buffer.concat([encodeCbor(1), encodeCbor(2)]), SMALL).ok).toBe(false)
    expect(decodeCbor(Buffer.from('{"json": true}'), SMALL).ok).toBe(false)
  })
})

describe('tensor chunks (topics.md § Tensor chunks)', () => {
  it('round-trips a 100 MB tensor in 256 KiB chunks', () => {
    const n = 25 * 1024 * 1024 // 25 Mi float32 = 100 MiB
    const src = new Float32Array(n)
    for (let i = 0; i < n; i += 4099) src[i] = i * 0.5
    src[n - 1] = -7
    const r = new Reassembler(opts)
    let done: ReturnType<Reassembler['add']> | undefined
    let count = 0
    for (const msg of encodeTensorChunks(meta([1, n]), bytesOf(src))) {
      const c = decodeTensorChunk(msg)
      if (!c.ok) throw new Error(c.error)
      expect(msg.byteLength).toBeLessThan(256 * 1024 + 512)
      done = r.add(c.chunk, 0)
      count++
    }
    expect(count).toBe(400)
    expect(done?.status).toBe('complete')
    if (done?.status !== 'complete') return
    const out = viewAs('float32', done.tensor.data)
    expect(out.length).toBe(n)
    expect(out[n - 1]).toBe(-7)
    expect(out[4099 * 100]).toBe(4099 * 100 * 0.5)
    expect(Buffer.from(done.tensor.data).equals(Buffer.from(bytesOf(src)))).toBe(true)
    expect(r.heldBytes).toBe(0)
  })

  it('refuses a tensor whose bytes do not match its shape', () => {
    expect(() => [...encodeTensorChunks(meta([2, 2]), new Uint8Array(15))]).toThrow(/needs 16 bytes/)
  })

  it('detects a corrupt chunk by its checksum', () => {
    const [msg] = [...encodeTensorChunks(meta([4]), bytesOf(new Float32Array([1, 2, 3, 4])))]
    const bad = Buffer.from(msg!)
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff
    const r = decodeTensorChunk(bad)
    expect(r.ok).toBe(false)
    expect(!r.ok && r.error).toMatch(/checksum/)
  })

  it('rejects chunks whose header contradicts the shape', () => {
    const r = decodeTensorChunk(encodeCbor({ v: 1, req: 'r', name: 'x', dtype: 'float32', shape: [4], epoch: null, idx: 0, count: 1, offset: 0, total: 8, crc: 0, data: new Uint8Array(8) }))
    expect(!r.ok && r.error).toMatch(/does not match shape/)
    const v = decodeTensorChunk(encodeCbor({ v: 1, req: 'r', name: 'x', dtype: 'complex', shape: [4] }))
    expect(!v.ok && v.error).toMatch(/dtype/)
  })

  it('property: any order with duplicates reassembles to the exact bytes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 1, max: 700 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.integer(),
        (elements, chunkBytes, dupPicks, seed) => {
          const src = new Float32Array(elements).map((_, i) => i * 1.25 - seed)
          const chunks = chunksOf(meta([elements]), bytesOf(src), chunkBytes * 4)
          const order = shuffle([...chunks, ...dupPicks.map((p) => chunks[p % chunks.length]!)], seed)
          const r = new Reassembler(opts)
          const completes = order.map((c) => r.add(c, 0)).filter((x) => x.status === 'complete')
          expect(completes).toHaveLength(1)
          const t = completes[0]!
          if (t.status !== 'complete') return
          expect(Array.from(viewAs('float32', t.tensor.data))).toEqual(Array.from(src))
          expect(r.pendingCount).toBe(0)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('property: an incomplete tensor never completes and expires after the timeout', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 30 }), fc.nat(), (count, drop) => {
        const src = new Uint8Array(count * 16).map((_, i) => i & 0xff)
        const chunks = [...encodeTensorChunks({ req: 'q', name: 'y', dtype: 'uint8', shape: [src.length], epoch: null }, src, 16)].map((m) => (decodeTensorChunk(m) as { chunk: TensorChunk }).chunk)
        const missing = drop % count
        const r = new Reassembler(opts)
        const statuses = chunks.filter((_, i) => i !== missing).map((c) => r.add(c, 10).status)
        expect(statuses).not.toContain('complete')
        expect(r.expire(500)).toEqual([])
        const expired = r.expire(1010)
        expect(expired).toEqual([{ req: 'q', name: 'y', received: count - 1, count }])
        expect(r.pendingCount).toBe(0)
        expect(r.heldBytes).toBe(0)
      }),
    )
  })

  it('rejects conflicting and overlapping chunks without corrupting the tensor', () => {
    const src = bytesOf(new Float32Array(8).map((_, i) => i))
    const chunks = chunksOf(meta([8]), src, 8)
    const r = new Reassembler(opts)
    r.add(chunks[0]!, 0)
    const conflicting = { ...chunks[1]!, shape: [2, 4] }
    expect(r.add(conflicting, 0).status).toBe('rejected')
    const shifted = { ...chunks[1]!, offset: 4 }
    expect(r.add(shifted, 0)).toMatchObject({ status: 'rejected' })
    const results = chunks.slice(1).map((c) => r.add(c, 0))
    const last = results.at(-1)!
    expect(last.status).toBe('complete')
    if (last.status === 'complete') expect(Array.from(viewAs('float32', last.tensor.data))).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
  })

  it('reuses a released tensor buffer for the next tensor of that size, with the new bytes', () => {
    const r = new Reassembler(opts)
    const size = 128 * 1024
    const first = chunksOf({ ...meta([size / 4]), req: 'a' }, new Uint8Array(size).fill(1), 64 * 1024)
    const a = first.map((c) => r.add(c, 0)).at(-1)!
    if (a.status !== 'complete') throw new Error('a incomplete')
    r.release(a.tensor)
    r.release(a.tensor) // twice is harmless
    const second = chunksOf({ ...meta([size / 4]), req: 'b' }, new Uint8Array(size).fill(2), 64 * 1024)
    const b = second.map((c) => r.add(c, 0)).at(-1)!
    if (b.status !== 'complete') throw new Error('b incomplete')
    expect(b.tensor.data).toBe(a.tensor.data)
    expect(b.tensor.data.every((x) => x === 2)).toBe(true)
    const third = chunksOf({ ...meta([size / 4]), req: 'c' }, new Uint8Array(size).fill(3), 64 * 1024)
    const c = third.map((x) => r.add(x, 0)).at(-1)!
    if (c.status !== 'complete') throw new Error('c incomplete')
    expect(c.tensor.data).not.toBe(b.tensor.data) // b was not released
  })

  it('bounds the bytes held for incomplete tensors', () => {
    const r = new Reassembler({ timeoutMs: 1000, maxTensorBytes: 64, maxPendingBytes: 100 })
    const a = chunksOf({ ...meta([16]), req: 'a' }, new Uint8Array(64), 32)
    const b = chunksOf({ ...meta([16]), req: 'b' }, new Uint8Array(64), 32)
    expect(r.add(a[0]!, 0).status).toBe('partial')
    expect(r.add(b[0]!, 0)).toMatchObject({ status: 'rejected', error: expect.stringMatching(/no room/) })
    const big = chunksOf({ ...meta([32]), req: 'c' }, new Uint8Array(128), 64)
    expect(r.add(big[0]!, 0)).toMatchObject({ status: 'rejected', error: expect.stringMatching(/exceeds the limit/) })
  })

  it('bounds the number of incomplete tensors and of remembered completions, per scope alike (issue 16)', () => {
    const r = new Reassembler({ timeoutMs: 1000, maxTensorBytes: 1024, maxPendingBytes: 1 << 20, maxPendingTensors: 3, maxRemembered: 2 })
    for (const req of ['a', 'b', 'c']) expect(r.add(chunksOf({ ...meta([4]), req }, new Uint8Array(16), 8)[0]!, 0, 'job1').status).toBe('partial')
    expect(r.add(chunksOf({ ...meta([4]), req: 'd' }, new Uint8Array(16), 8)[0]!, 0, 'job2')).toMatchObject({ status: 'rejected', error: expect.stringMatching(/3 incomplete tensors already held/) })
    // the same request id in another scope is another tensor
    const one = chunksOf({ ...meta([1]), req: 'x' }, new Uint8Array(4), 8)[0]!
    expect(r.add(one, 0, 'job1').status).toBe('complete')
    expect(r.add(one, 0, 'job2').status).toBe('complete')
    expect(r.add(one, 0, 'job1').status).toBe('duplicate')
    // a third completion pushes the oldest out of memory
    expect(r.add(chunksOf({ ...meta([1]), req: 'y' }, new Uint8Array(4), 8)[0]!, 0, 'job1').status).toBe('complete')
    expect(r.add(one, 0, 'job1').status).toBe('complete')
  })

  it('refuses size fields no tensor needs before anything is allocated: a count beyond the bytes, a total beyond 2 GiB (issue 16)', () => {
    const [msg] = [...encodeTensorChunks(meta([1]), new Uint8Array(4), 8)]
    const v = (decodeCbor(msg!, TENSOR_CHUNK_BUDGET) as { value: Record<string, unknown> }).value
    for (const patch of [{ count: 5 }, { count: 5e9 }, { shape: [2 ** 30], total: 2 ** 32 }]) {
      const r = decodeTensorChunk(encodeCbor({ ...v, ...patch }))
      expect(r.ok).toBe(false)
    }
    expect((decodeTensorChunk(encodeCbor({ ...v, count: 5 })) as { error: string }).error).toMatch(/count 5 exceeds the tensor's 4 bytes/)
    // an empty tensor travels as one empty chunk
    const [empty] = [...encodeTensorChunks(meta([0]), new Uint8Array(0), 8)]
    expect(decodeTensorChunk(empty!).ok).toBe(true)
  })
})

function shuffle<T>(items: T[], seed: number): T[] {
  let s = seed >>> 0 || 1
  for (let i = items.length - 1; i > 0; i--) {
    s = (s * 1664525 + 1013904223) >>> 0
    const j = s % (i + 1)
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

describe('chunk writer', () => {
  it('writes the same CBOR map a general encoder does (decoded by cbor-x and checked field by field)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: null }),
        fc.uint8Array({ maxLength: 300 }),
        (req, epoch, data) => {
          const meta: TensorMeta = { req, name: 'tensor/é', dtype: 'uint8', shape: [data.length], epoch }
          const [msg] = [...encodeTensorChunks(meta, data, 1 << 20)]
          const generic = decodeCbor(msg!, TENSOR_CHUNK_BUDGET)
          expect(generic.ok).toBe(true)
          const v = (generic as { value: Record<string, unknown> }).value
          expect(v).toMatchObject({ v: 1, req, name: 'tensor/é', dtype: 'uint8', shape: [data.length], epoch, idx: 0, count: 1, offset: 0, total: data.length })
          expect(Buffer.from(v.data as Uint8Array).equals(Buffer.from(data))).toBe(true)
        },
      ),
    )
  })
})
