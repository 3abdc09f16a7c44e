/**
 * Concrete inputs for running a model: symbolic dimensions bound (the first to the batch size,
 * others as the user names them, else 1), values from a seeded generator.
 */
import * as ort from 'onnxruntime-node'
import { toNumber, ortTypeName, type ValueInfoProto } from './onnx.js'
import { seededRandom } from './zoo/builder.js'
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

export function randomInputs(inputs: readonly ValueInfoProto[], bind: DimBinding, seed = 1): { feeds: Record<string, ort.Tensor>; unbound: string[] } {
  const rand = seededRandom(seed)
  const unbound = new Set<string>()
  const feeds: Record<string, ort.Tensor> = {}
  for (const v of inputs) {
    const shape = concreteShape(v, bind, unbound)
    const n = shape.reduce((a, b) => a * b, 1)
    const type = ortTypeName(v.type?.tensorType?.elemType ?? 0)
    const name = v.name ?? ''
    switch (type) {
      case 'float32': feeds[name] = new ort.Tensor('float32', Float32Array.from({ length: n }, () => rand() * 2 - 1), shape); break
      case 'float64': feeds[name] = new ort.Tensor('float64', Float64Array.from({ length: n }, () => rand() * 2 - 1), shape); break
      // Integer inputs are usually indices (token ids): small non-negative values are valid for any table.
      case 'int64': feeds[name] = new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rand() * 100))), shape); break
      case 'int32': feeds[name] = new ort.Tensor('int32', Int32Array.from({ length: n }, () => Math.floor(rand() * 100)), shape); break
      case 'uint8': feeds[name] = new ort.Tensor('uint8', Uint8Array.from({ length: n }, () => Math.floor(rand() * 256)), shape); break
      case 'int8': feeds[name] = new ort.Tensor('int8', Int8Array.from({ length: n }, () => Math.floor(rand() * 256) - 128), shape); break
      case 'bool': feeds[name] = new ort.Tensor('bool', Uint8Array.from({ length: n }, () => (rand() < 0.5 ? 1 : 0)), shape); break
      default: throw new ModelError(`input ${name}: element type ${v.type?.tensorType?.elemType} is not supported for generated inputs`)
    }
  }
  return { feeds, unbound: [...unbound] }
}
