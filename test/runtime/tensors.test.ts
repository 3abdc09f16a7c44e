/** Wire tensors (runtime/tensors.ts, runtime/send-tensor.ts): to and from onnxruntime, and sent in chunks that reassemble to the same tensor. */
import { describe, expect, it } from 'vitest'
import * as ort from 'onnxruntime-node'
import { fromOrt, toOrt } from '../../src/runtime/tensors.js'
import { sendTensor, type WireTensor } from '../../src/runtime/send-tensor.js'
import { decodeTensorChunk } from '../../src/protocol/chunks.js'
import { Reassembler } from '../../src/protocol/reassembly.js'

const hop = { src: 'cam', plan: 'p1', stage: 1, route: ['a', 'b'], t0: 1 }

describe('wire tensors', () => {
  it('round-trip through onnxruntime tensors with dtype, shape and bytes intact', () => {
    const values = Float32Array.from({ length: 24 }, (_, i) => i * 0.5 - 3)
    const w = fromOrt('x', new ort.Tensor('float32', values, [2, 3, 4]))
    expect(w.dtype).toBe('float32')
    expect(w.shape).toEqual([2, 3, 4])
    const back = toOrt(w)
    expect([...back.dims]).toEqual([2, 3, 4])
    expect([...(back.data as Float32Array)]).toEqual([...values])
  })

  it('refuses a dtype onnxruntime cannot take, with its name', () => {
    expect(() => toOrt({ name: 'h', dtype: 'float16' as WireTensor['dtype'], shape: [1], data: new Uint8Array(2) })).toThrow(/tensor h/)
  })

  it('go out in chunks of at most the chunk size, on one topic, and reassemble to the same bytes', async () => {
    const data = new Uint8Array(10_000).map((_, i) => (i * 7) & 255)
    const sent: Array<{ topic: string; payload: Buffer }> = []
    await sendTensor(async (topic, payload) => void sent.push({ topic, payload: payload.join() }), 'dora/v1/jobs/j/tensors/b', { name: 'act', dtype: 'uint8', shape: [100, 100], data }, { req: 'r1', epoch: 3, hop }, 1024)
    expect(sent.length).toBeGreaterThan(9)
    expect(new Set(sent.map((m) => m.topic))).toEqual(new Set(['dora/v1/jobs/j/tensors/b']))
    const r = new Reassembler({ timeoutMs: 10_000, maxTensorBytes: 1e6, maxPendingBytes: 1e7 })
    let whole = null
    for (const m of [...sent].reverse()) {
      const d = decodeTensorChunk(m.payload)
      if (!d.ok) throw new Error(d.error)
      const a = r.add(d.chunk, 0)
      if (a.status === 'complete') whole = a.tensor
    }
    expect(whole).not.toBeNull()
    expect(whole!.req).toBe('r1')
    expect(whole!.epoch).toBe(3)
    expect(whole!.hop).toEqual(hop)
    expect(Buffer.from(whole!.data).equals(Buffer.from(data))).toBe(true)
  })
})
