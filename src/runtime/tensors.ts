/** Between wire tensors (dtype, shape, raw bytes) and onnxruntime tensors; and sending one. */
import * as ort from 'onnxruntime-node'
import { bytesOf, viewAs, type Dtype } from '../protocol/dtypes.js'
import { encodeTensorChunks, type Hop } from '../protocol/chunks.js'
import { compress, type ActivationCodec } from '../protocol/activation-codec.js'

export interface WireTensor {
  readonly name: string
  readonly dtype: Dtype
  readonly shape: readonly number[]
  readonly data: Uint8Array
}

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

/**
 * Publishes a tensor's chunks (QoS 1, in order, without waiting for each acknowledgement before
 * the next: the client keeps them in flight); resolves when the broker has them all. With a
 * `codec`, a float32 tensor goes compressed (the receiver's reassembler restores float32).
 */
export async function sendTensor(
  publish: (topic: string, payload: Buffer) => Promise<void>,
  topic: string,
  t: WireTensor,
  meta: { req: string; epoch: number | null; hop?: Hop | undefined },
  chunkBytes: number,
  codec?: ActivationCodec,
): Promise<void> {
  const acks: Array<Promise<void>> = []
  // a float32 activation the plan compresses travels as float16 or int8 with its scale
  const c = codec && t.dtype === 'float32' ? compress(viewAs('float32', t.data) as Float32Array, codec) : null
  const wire = c ? { dtype: c.dtype, data: c.data, scale: c.scale } : { dtype: t.dtype, data: t.data }
  for (const msg of encodeTensorChunks({ req: meta.req, name: t.name, dtype: wire.dtype, shape: [...t.shape], epoch: meta.epoch, ...(meta.hop ? { hop: meta.hop } : {}), ...(c ? { scale: c.scale } : {}) }, wire.data, chunkBytes)) {
    acks.push(publish(topic, msg))
  }
  await Promise.all(acks)
}
