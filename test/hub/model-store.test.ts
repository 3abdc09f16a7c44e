/** The hub's stage model store (hub/model-store.ts): content-addressed stage models, chunked once, that onnxruntime runs. */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import * as ort from 'onnxruntime-node'
import { ModelStore } from '../../src/hub/model-store.js'
import { loadJobModel } from '../../src/scenario/load.js'
import { decodeCbor } from '../../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../../src/protocol/cbor-budgets.js'
import { modelChunkSchema } from '../../src/protocol/payloads.js'

async function store(chunkBytes: number): Promise<{ s: ModelStore; bounds: readonly number[] }> {
  const { model, onnx } = await loadJobModel('mlp', process.cwd(), 1)
  return { s: new ModelStore(onnx, chunkBytes), bounds: model.nodeBounds! }
}

describe('model store', () => {
  it('builds a stage once, names it by its sha256, and onnxruntime opens it with the cut tensors', async () => {
    const { s, bounds } = await store(4096)
    const n: [number, number] = [bounds[0]!, bounds[1]!]
    const a = s.stage(n)
    expect(s.stage(n)).toBe(a)
    expect(a.ref.sha256).toBe(createHash('sha256').update(a.bytes).digest('hex'))
    expect(a.ref.bytes).toBe(a.bytes.byteLength)
    expect(a.ref.chunks).toBe(Math.ceil(a.bytes.byteLength / 4096))
    const session = await ort.InferenceSession.create(a.bytes)
    expect([...session.inputNames]).toEqual([...a.inputs])
    expect([...session.outputNames]).toEqual([...a.outputs])
    await session.release()
    expect(s.io().inputs[0]!.shape[0]).toBe(1)
  })

  it('publishes a model in chunks that add up to it, and only once', async () => {
    const { s, bounds } = await store(1024)
    const n: [number, number] = [bounds[0]!, bounds[bounds.length - 1]!]
    const sent: Array<{ topic: string; payload: Buffer }> = []
    const send = async (topic: string, payload: Buffer) => void sent.push({ topic, payload })
    const ref = await s.publish(n, send)
    expect(sent).toHaveLength(ref.chunks)
    const parts = sent.map((m) => {
      const d = decodeCbor(m.payload, CBOR_BUDGETS.modelChunk)
      if (!d.ok) throw new Error(d.error)
      return modelChunkSchema.parse(d.value)
    })
    parts.forEach((c, i) => {
      expect(c.index).toBe(i)
      expect(sent[i]!.topic).toContain(ref.sha256)
    })
    const whole = Buffer.concat(parts.map((c) => Buffer.from(c.data)))
    expect(createHash('sha256').update(whole).digest('hex')).toBe(ref.sha256)
    await s.publish(n, send)
    expect(sent).toHaveLength(ref.chunks)
  })

  it('refuses to publish a model it never built', async () => {
    const { s } = await store(1024)
    await expect(s.publishRef({ sha256: 'f'.repeat(64), bytes: 1, chunks: 1 }, async () => undefined)).rejects.toThrow(/no model/)
  })
})
