/** Tensor element types on the wire, with their sizes and typed-array views. */

export const DTYPES = {
  float32: { bytes: 4, view: Float32Array },
  float64: { bytes: 8, view: Float64Array },
  float16: { bytes: 2, view: Uint16Array },
  int8: { bytes: 1, view: Int8Array },
  uint8: { bytes: 1, view: Uint8Array },
  int16: { bytes: 2, view: Int16Array },
  uint16: { bytes: 2, view: Uint16Array },
  int32: { bytes: 4, view: Int32Array },
  uint32: { bytes: 4, view: Uint32Array },
  int64: { bytes: 8, view: BigInt64Array },
  uint64: { bytes: 8, view: BigUint64Array },
  bool: { bytes: 1, view: Uint8Array },
} as const

export type Dtype = keyof typeof DTYPES
export const DTYPE_NAMES = Object.keys(DTYPES) as [Dtype, ...Dtype[]]

export type TypedArrayOf<D extends Dtype> = InstanceType<(typeof DTYPES)[D]['view']>

/** Number of elements of a shape; throws on a negative or fractional dimension. */
export function elementCount(shape: readonly number[]): number {
  let n = 1
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`invalid dimension ${d} in shape [${shape.join(', ')}]`)
    n *= d
  }
  return n
}

export function byteLengthOf(dtype: Dtype, shape: readonly number[]): number {
  return elementCount(shape) * DTYPES[dtype].bytes
}

/**
 * A typed-array view of `bytes` for `dtype`, without copying when the bytes are aligned for the
 * element size (they always are for buffers the reassembler allocates); copies otherwise.
 */
export function viewAs<D extends Dtype>(dtype: D, bytes: Uint8Array): TypedArrayOf<D> {
  const { bytes: size, view } = DTYPES[dtype]
  if (bytes.byteLength % size !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`)
  }
  const aligned = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes)
  return new view(aligned.buffer as ArrayBuffer, aligned.byteOffset, aligned.byteLength / size) as TypedArrayOf<D>
}

/** The bytes of a typed array, as a view (no copy). */
export function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength)
}
