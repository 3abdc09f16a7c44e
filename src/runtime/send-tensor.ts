/** A tensor as it travels (dtype, shape, raw bytes), and sending one in chunks through a publish function. */
import { viewAs, type Dtype } from '../protocol/dtypes.js'
import { encodeTensorChunkParts, type Hop } from '../protocol/chunks.js'
import type { SplitPayload } from '../shared/split-payload.js'
import { compress, type ActivationCodec } from '../protocol/activation-codec.js'

/** What a tensor sender publishes: a small message in one buffer, or a chunk's header and data unjoined. */
export type Payload = Buffer | SplitPayload

export interface WireTensor {
  readonly name: string
  readonly dtype: Dtype
  readonly shape: readonly number[]
  readonly data: Uint8Array
}

/**
 * Publishes a tensor's chunks (QoS 1, in order, without waiting for each acknowledgement before
 * the next: the client keeps them in flight); resolves when the broker has them all. Each chunk
 * goes as its header and a view of `t.data` (no copy), so `t.data` must not change until then. With a
 * `codec`, a float32 tensor goes compressed (the receiver's reassembler restores float32).
 */
export async function sendTensor(
  publish: (topic: string, payload: SplitPayload) => Promise<void>,
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
  for (const msg of encodeTensorChunkParts({ req: meta.req, name: t.name, dtype: wire.dtype, shape: [...t.shape], epoch: meta.epoch, ...(meta.hop ? { hop: meta.hop } : {}), ...(c ? { scale: c.scale } : {}) }, wire.data, chunkBytes)) {
    acks.push(publish(topic, msg))
  }
  await Promise.all(acks)
}
