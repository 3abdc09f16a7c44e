/** Between wire tensors (dtype, shape, raw bytes) and onnxruntime tensors. */
import * as ort from 'onnxruntime-node'
import { bytesOf, viewAs, type Dtype } from '../protocol/dtypes.js'
import type { WireTensor } from './send-tensor.js'

const ORT_TYPES = new Set<string>(['float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool'])

export function toOrt(t: WireTensor): ort.Tensor {
  if (!ORT_TYPES.has(t.dtype)) throw new TypeError(`tensor ${t.name}: ${t.dtype} is not supported by this runtime`)
  const data = t.dtype === 'bool' ? new Uint8Array(t.data) : viewAs(t.dtype, t.data)
  return new ort.Tensor(t.dtype as 'float32', data as Float32Array, [...t.shape])
}

export function fromOrt(name: string, t: ort.Tensor): WireTensor {
  if (!ORT_TYPES.has(t.type)) throw new TypeError(`tensor ${name}: onnxruntime type ${t.type} cannot travel`)
  return { name, dtype: t.type as Dtype, shape: [...t.dims], data: bytesOf(t.data as ArrayBufferView) }
}
