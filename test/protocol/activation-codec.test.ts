/** Compressed activations: float16 and int8 with a per-tensor scale, and back to float32. */
import { describe, expect, it } from 'vitest'
import { compress, restore, toHalfBits } from '../../src/protocol/activation-codec.js'

const values = Float32Array.from({ length: 10_000 }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)) * 3.1)

describe('activation codec', () => {
  it('float16 halves the bytes and keeps about 3 significant digits', () => {
    const c = compress(values, 'fp16')
    expect(c.dtype).toBe('float16')
    expect(c.data.byteLength).toBe(values.length * 2)
    const back = restore('float16', c.data, c.scale)
    for (let i = 0; i < values.length; i++) expect(Math.abs(back[i]! - values[i]!)).toBeLessThanOrEqual(Math.abs(values[i]!) * 2 ** -11 + 1e-7)
  })

  it('float16 keeps its 11 bits for tensors far below or above its normal range (a training cut\'s tiny gradients; large activations): a power-of-two scale per tensor', () => {
    for (const k of [1e-9, 1e-6, 1e3, 1e6]) {
      const x = values.map((v) => v * k)
      const c = compress(x, 'fp16')
      // exact powers of two: only float16's rounding of each value remains
      expect(Number.isInteger(Math.log2(c.scale))).toBe(true)
      const back = restore('float16', c.data, c.scale)
      let worst = 0
      for (let i = 0; i < x.length; i++) if (x[i] !== 0) worst = Math.max(worst, Math.abs(back[i]! - x[i]!) / Math.abs(x[i]!))
      // (an element 2^24 below the tensor's largest would be a float16 subnormal; these are within 2^7)
      expect(worst).toBeLessThanOrEqual(2 ** -11)
    }
  })

  it('rounds to the nearest half as IEEE 754 does, with subnormals, overflow and NaN', () => {
    expect(toHalfBits(1)).toBe(0x3c00)
    expect(toHalfBits(-2)).toBe(0xc000)
    expect(toHalfBits(65504)).toBe(0x7bff)
    expect(toHalfBits(1e6)).toBe(0x7c00)
    expect(toHalfBits(2 ** -24)).toBe(0x0001)
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00) // a tie goes to the even mantissa
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02)
    expect(toHalfBits(NaN) & 0x7c00).toBe(0x7c00)
  })

  it('int8 quarters the bytes with one scale per tensor; the error is at most half a step', () => {
    const c = compress(values, 'int8')
    expect(c.dtype).toBe('int8')
    expect(c.data.byteLength).toBe(values.length)
    const max = Math.max(...Array.from(values, Math.abs))
    expect(c.scale).toBeCloseTo(max / 127, 6)
    const back = restore('int8', c.data, c.scale)
    for (let i = 0; i < values.length; i++) expect(Math.abs(back[i]! - values[i]!)).toBeLessThanOrEqual(c.scale / 2 + 1e-6)
  })

  it('refuses a scale that is not a positive finite number', () => {
    expect(() => restore('int8', new Uint8Array(4), 0)).toThrow(/scale/)
    expect(() => restore('int8', new Uint8Array(4), Infinity)).toThrow(/scale/)
  })
})

describe('compressed activations on the wire', () => {
  it('a float32 tensor sent as int8 with its scale comes out of the reassembler as float32 within half a step', async () => {
    const { encodeTensorChunks, decodeTensorChunk } = await import('../../src/protocol/chunks.js')
    const { Reassembler } = await import('../../src/protocol/reassembly.js')
    const c = compress(values, 'int8')
    const r = new Reassembler({ timeoutMs: 1000, maxTensorBytes: 1 << 20, maxPendingBytes: 1 << 20 })
    let done: { dtype: string; data: Uint8Array } | null = null
    for (const msg of encodeTensorChunks({ req: 'r1', name: 'act', dtype: c.dtype, shape: [values.length], epoch: 1, scale: c.scale }, c.data, 4096)) {
      const d = decodeTensorChunk(msg)
      if (!d.ok) throw new Error(d.error)
      expect(d.chunk.scale).toBe(c.scale)
      const got = r.add(d.chunk, 0)
      if (got.status === 'complete') done = got.tensor
    }
    expect(done!.dtype).toBe('float32')
    const back = new Float32Array(done!.data.buffer, done!.data.byteOffset, values.length)
    for (let i = 0; i < values.length; i += 97) expect(Math.abs(back[i]! - values[i]!)).toBeLessThanOrEqual(c.scale / 2 + 1e-6)
  })

  it('refuses a scale on a tensor that is not float16 or int8', async () => {
    const { encodeTensorChunks, decodeTensorChunk } = await import('../../src/protocol/chunks.js')
    const [msg] = [...encodeTensorChunks({ req: 'r1', name: 'x', dtype: 'float32', shape: [2], epoch: 1, scale: 0.5 }, new Uint8Array(8))]
    const d = decodeTensorChunk(msg!)
    expect(d.ok).toBe(false)
    if (!d.ok) expect(d.error).toMatch(/scale goes only with a float16 or int8/)
  })
})
