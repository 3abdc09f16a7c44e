/**
 * Generated request inputs (emulated sources: a camera's frame stands in as seeded noise).
 * Deterministic in the request number, so a test can run the whole model on the same inputs.
 */
import { seededRandom } from '../model/zoo/builder.js'
import { bytesOf, elementCount } from '../protocol/dtypes.js'
import type { TensorSpec } from '../protocol/payloads.js'
import type { WireTensor } from './tensors.js'

export function randomWireInputs(specs: readonly TensorSpec[], n: number): WireTensor[] {
  const rand = seededRandom(1000 + n)
  return specs.map((s) => {
    const count = elementCount(s.shape)
    let data: ArrayBufferView
    switch (s.dtype) {
      case 'float32': data = Float32Array.from({ length: count }, () => rand() * 2 - 1); break
      case 'float64': data = Float64Array.from({ length: count }, () => rand() * 2 - 1); break
      // integer inputs are usually indices (token ids): small non-negative values suit any table
      case 'int64': data = BigInt64Array.from({ length: count }, () => BigInt(Math.floor(rand() * 100))); break
      case 'int32': data = Int32Array.from({ length: count }, () => Math.floor(rand() * 100)); break
      case 'uint8': case 'bool': data = Uint8Array.from({ length: count }, () => Math.floor(rand() * (s.dtype === 'bool' ? 2 : 256))); break
      default: throw new TypeError(`input ${s.name}: cannot generate ${s.dtype} values`)
    }
    return { name: s.name, dtype: s.dtype, shape: [...s.shape], data: bytesOf(data) }
  })
}
