/**
 * Concrete inputs for running a model: symbolic dimensions bound (the first to the batch size,
 * others as the user names them, else 1), values from a seeded generator.
 */
import * as ort from 'onnxruntime-node'
import { toNumber, ortTypeName, type ValueInfoProto } from './onnx.js'
import { seededRandom } from '../shared/random.js'
import { ModelError } from './graph.js'

export interface DimBinding {
  batch: number
  /** Values for named symbolic dimensions (e.g. { seq: 128 }). */
  dims?: Readonly<Record<string, number>>
}

/** The concrete shape of a declared input; `unbound` collects dims that defaulted to 1. */
export function concreteShape(v: ValueInfoProto, bind: DimBinding, unbound: Set<string>): number[] {
  const dims = v.type?.tensorType?.shape?.dim
  if (!dims) throw new ModelError(`input ${v.name} declares no shape; give one in the model`)
  let first = true
  return dims.map((d) => {
    if (d.dimValue !== undefined && d.dimValue !== null && toNumber(d.dimValue) > 0) {
      first = false
      return toNumber(d.dimValue)
    }
    const param = d.dimParam || ''
    if (param && bind.dims?.[param] !== undefined) return bind.dims[param]!
    if (first) {
      first = false
      return bind.batch
    }
    unbound.add(param || '?')
    return 1
  })
}

/**
 * `count` random values of an element type (null for a type not generated): floats in [-1, 1);
 * integers small and non-negative (inputs of integer type are usually indices, e.g. token ids,
 * and small values are valid for any table); bytes and booleans uniform.
 */
export function randomValues(type: string, count: number, rand: () => number): ArrayBufferView | null {
  switch (type) {
    case 'float32': return Float32Array.from({ length: count }, () => rand() * 2 - 1)
    case 'float64': return Float64Array.from({ length: count }, () => rand() * 2 - 1)
    case 'int64': return BigInt64Array.from({ length: count }, () => BigInt(Math.floor(rand() * 100)))
    case 'int32': return Int32Array.from({ length: count }, () => Math.floor(rand() * 100))
    case 'uint8': return Uint8Array.from({ length: count }, () => Math.floor(rand() * 256))
    case 'int8': return Int8Array.from({ length: count }, () => Math.floor(rand() * 256) - 128)
    case 'bool': return Uint8Array.from({ length: count }, () => (rand() < 0.5 ? 1 : 0))
    default: return null
  }
}

export function randomInputs(inputs: readonly ValueInfoProto[], bind: DimBinding, seed = 1): { feeds: Record<string, ort.Tensor>; unbound: string[] } {
  const rand = seededRandom(seed)
  const unbound = new Set<string>()
  const feeds: Record<string, ort.Tensor> = {}
  for (const v of inputs) {
    const shape = concreteShape(v, bind, unbound)
    const n = shape.reduce((a, b) => a * b, 1)
    const type = ortTypeName(v.type?.tensorType?.elemType ?? 0)
    const name = v.name ?? ''
    const values = type ? randomValues(type, n, rand) : null
    if (!type || !values) throw new ModelError(`input ${name}: element type ${v.type?.tensorType?.elemType} is not supported for generated inputs`)
    feeds[name] = new ort.Tensor(type as 'float32', values as Float32Array, shape)
  }
  return { feeds, unbound: [...unbound] }
}
