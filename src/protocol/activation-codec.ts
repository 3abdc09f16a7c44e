/**
 * Compressed activations on the wire (topics.md § Tensor chunks, `scale`): a float32 tensor
 * between two stages may travel as float16 (half the bytes) or as int8 with one scale per tensor
 * (a quarter: q = round(x / scale), scale = max |x| / 127). A chunk that carries `scale` is such a
 * tensor: the receiver restores float32 (x = q x scale; float16 values times scale, a power of
 * two that put the tensor at the top of float16's range: halfScale).
 * Pure; Node 20 has no Float16Array, so the conversions are written out (round to nearest even).
 */

export type ActivationCodec = 'fp16' | 'int8'
export const ACTIVATION_CODECS: readonly ActivationCodec[] = ['fp16', 'int8']

/** Bytes per element on the wire. */
export const CODEC_BYTES: Readonly<Record<ActivationCodec, number>> = { fp16: 2, int8: 1 }

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** float32 -> IEEE half bits, rounding to nearest even; overflow to infinity, NaN kept. */
export function toHalfBits(x: number): number {
  f32[0] = x
  const b = u32[0]!
  const sign = (b >>> 16) & 0x8000
  const exp = (b >>> 23) & 0xff
  let mant = b & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0)
  let e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    let h = mant >>> shift
    const rest = mant & ((1 << shift) - 1)
    const half = 1 << (shift - 1)
    if (rest > half || (rest === half && (h & 1))) h++
    return sign | h
  }
  let h = (e << 10) | (mant >>> 13)
  const rest = mant & 0x1fff
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++
  return sign | h
}

let halfTable: Float32Array | null = null

/** Every half value as float32 (built once: 65,536 entries). */
function halves(): Float32Array {
  if (halfTable) return halfTable
  const t = new Float32Array(65536)
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1
    const exp = (h >>> 10) & 0x1f
    const mant = h & 0x3ff
    t[h] = exp === 0 ? sign * mant * 2 ** -24 : exp === 0x1f ? (mant ? NaN : sign * Infinity) : sign * (1 + mant / 1024) * 2 ** (exp - 15)
  }
  return (halfTable = t)
}

export interface Compressed {
  readonly dtype: 'float16' | 'int8'
  readonly data: Uint8Array
  readonly scale: number
}

/** The largest finite |x| of a tensor (0: none). */
function maxAbs(x: Float32Array): number {
  let max = 0
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!)
    if (a > max && a !== Infinity) max = a
  }
  return max
}

/**
 * The float16 scale of a tensor whose largest magnitude is `max`: a power of two that brings it
 * into [2^14, 2^15) (so dividing by it is exact and only float16's rounding remains). Float16
 * alone keeps 11 bits only for |x| >= 6.1e-5 and overflows above 65504: the gradients a training
 * cut sends back are often far smaller (bert-tiny's at its cut lost ~10% of their Adam update in
 * plain float16, BENCHMARKS.md), so every float16 tensor goes scaled to the top of the range.
 */
function halfScale(max: number): number {
  return max > 0 ? 2 ** (Math.floor(Math.log2(max)) - 14) : 1
}

export function compress(x: Float32Array, codec: ActivationCodec): Compressed {
  if (codec === 'fp16') {
    const scale = halfScale(maxAbs(x))
    const out = new Uint16Array(x.length)
    for (let i = 0; i < x.length; i++) out[i] = toHalfBits(x[i]! / scale)
    return { dtype: 'float16', data: new Uint8Array(out.buffer), scale }
  }
  const max = maxAbs(x)
  const scale = max > 0 && Number.isFinite(max) ? max / 127 : 1
  const out = new Int8Array(x.length)
  for (let i = 0; i < x.length; i++) out[i] = Math.max(-127, Math.min(127, Math.round(x[i]! / scale)))
  return { dtype: 'int8', data: new Uint8Array(out.buffer), scale }
}

/** The float32 values of a compressed tensor (`data` aligned for its dtype). */
export function restore(dtype: 'float16' | 'int8', data: Uint8Array, scale: number): Float32Array {
  if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`scale must be a positive finite number, not ${scale}`)
  if (dtype === 'float16') {
    const h = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
    const t = halves()
    const out = new Float32Array(h.length)
    for (let i = 0; i < h.length; i++) out[i] = t[h[i]!]! * scale
    return out
  }
  const q = new Int8Array(data.buffer, data.byteOffset, data.byteLength)
  const out = new Float32Array(q.length)
  for (let i = 0; i < q.length; i++) out[i] = q[i]! * scale
  return out
}
