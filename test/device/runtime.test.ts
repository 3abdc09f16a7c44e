/**
 * The device runtime both executors run on (device-firmware-bridge/runtime.ts): the time it
 * dilates a run to is the time the planner predicts for it (inference: one request; training: a
 * micro-batch's forward, and its backward at twice the work), publish and receive keep the energy
 * account, and dilation waits, counts overruns and never waits for a run whose FLOPs are unknown.
 */
import { describe, expect, it } from 'vitest'
import { DeviceRuntime } from '../../device-firmware-bridge/runtime.js'
import { TensorIntake } from '../../device-firmware-bridge/intake.js'
import { stageComputeMs, stageFlops } from '../../src/planner/cost.js'
import { trainingStageMs } from '../../src/planner/training.js'
import type { Job, ModelProfile } from '../../src/planner/types.js'
import { encodeTensorChunks } from '../../src/protocol/chunks.js'
import type { Tensor } from '../../src/protocol/reassembly.js'
import { smallBoard } from '../helpers/devices.js'

const layers = [
  { flops: { conv: 3e8, matmul: 0, elementwise: 2e6 }, paramBytes: 1e6, peakActivationBytes: 1e5 },
  { flops: { conv: 0, matmul: 5e7, elementwise: 1e6 }, paramBytes: 1e6, peakActivationBytes: 1e5 },
  { flops: { conv: 1e8, matmul: 1e7, elementwise: 4e6 }, paramBytes: 1e6, peakActivationBytes: 1e5 },
]
const model: ModelProfile = { name: 'three', layers, boundaryBytes: [1e5, 1e5, 1e5, 1e5] }
const job = (training: boolean): Job => ({
  id: 'j', model, rateRps: 1, qoe: {}, goal: 'latency', sourceDevice: null, ...(training ? { training: { microBatchesPerStep: 4, optimizerStateFactor: 2 } } : {}),
})

function runtime(over: { dilate?: boolean; timeScale?: number } = {}) {
  const sent: Array<{ topic: string; bytes: number }> = []
  const errors: string[] = []
  const rt = new DeviceRuntime({
    id: 'b1', profile: smallBoard('b1', { stageOverheadMs: 3 }), dilate: over.dilate ?? true, timeScale: over.timeScale ?? 1, chunkBytes: 1000,
    send: async (topic, payload) => void sent.push({ topic, bytes: payload.byteLength }),
    onError: (m) => errors.push(m),
  })
  return { rt, sent, errors }
}

describe('device runtime: dilation is the planner\'s promise', () => {
  it('an inference request takes what the planner costs the stage for one sample', () => {
    const { rt } = runtime()
    for (const span of [[0, 1], [1, 3], [0, 3]] as const) {
      expect(rt.profileRunMs(stageFlops(job(false), span))).toBeCloseTo(stageComputeMs(job(false), rt.profile, span, 1), 9)
    }
  })

  it('a training micro-batch\'s forward plus backward takes what the planner costs it, for any micro-batch size', () => {
    const { rt } = runtime()
    for (const b of [1, 2, 8]) {
      const f = stageFlops(job(true), [0, 2])
      const forward = rt.profileRunMs(f, b, 1)!
      expect(forward).toBeCloseTo(stageComputeMs(job(true), rt.profile, [0, 2], b), 9)
      expect(forward + rt.profileRunMs(f, b, 2)!).toBeCloseTo(trainingStageMs(job(true), rt.profile, [0, 2], b), 9)
    }
  })

  it('the emulation clock stretches the profile time by timeScale', () => {
    const f = stageFlops(job(false), [0, 3])
    expect(runtime({ timeScale: 4 }).rt.profileRunMs(f)).toBeCloseTo(4 * runtime().rt.profileRunMs(f)!, 9)
    expect(runtime().rt.profileRunMs(undefined)).toBeNull()
  })
})

describe('device runtime: dilateRun', () => {
  it('waits a fast run out to its target and reports it in profile time, counted busy', async () => {
    const { rt } = runtime({ timeScale: 2 })
    const start = rt.clock()
    const r = await rt.dilateRun(start, 60)
    expect(rt.clock() - start).toBeGreaterThanOrEqual(58)
    expect(r.slower).toBe(false)
    expect(r.lateMs).toBe(0)
    expect(r.tookMs).toBeGreaterThanOrEqual(29)
    expect(rt.energy.busyTotalMs).toBeCloseTo(r.tookMs, 9)
  })

  it('a run slower than its target is counted, its overrun reported, and not waited for', async () => {
    const { rt } = runtime()
    const start = rt.clock() - 50
    const before = rt.clock()
    const r = await rt.dilateRun(start, 20)
    expect(r.slower).toBe(true)
    expect(r.lateMs).toBeGreaterThanOrEqual(30)
    expect(rt.clock() - before).toBeLessThan(20)
  })

  it('a run whose FLOPs are unknown is not waited for and not counted slower (was counted on every training run)', async () => {
    const { rt } = runtime()
    const start = rt.clock() - 10
    const r = await rt.dilateRun(start, rt.profileRunMs(undefined, 4, 2))
    expect(r.slower).toBe(false)
    expect(r.lateMs).toBe(0)
    expect(r.tookMs).toBeGreaterThanOrEqual(10)
  })

  it('without dilation nothing waits', async () => {
    const { rt } = runtime({ dilate: false })
    const start = rt.clock()
    const r = await rt.dilateRun(start, 500)
    expect(rt.clock() - start).toBeLessThan(100)
    expect(r).toMatchObject({ slower: false, lateMs: 0 })
  })
})

describe('device runtime: publish and receive', () => {
  it('counts every byte it sends, chunking tensors at chunkBytes', async () => {
    const { rt, sent } = runtime()
    await rt.publish('a/b', Buffer.alloc(10))
    await rt.sendTensor('t/x', { name: 'x', dtype: 'float32', shape: [1000], data: new Uint8Array(4000) }, { req: 'r', epoch: 1 })
    expect(sent.length).toBeGreaterThanOrEqual(5)
    const bytes = sent.reduce((a, s) => a + s.bytes, 0)
    expect(rt.energy.workJoules()).toBeCloseTo(bytes * rt.profile.txJPerByte, 15)
  })

  it('receives chunks through an intake: whole tensors accepted, bad ones refused, every byte counted', () => {
    const { rt } = runtime()
    const intake = new TensorIntake({ id: 'b1', timeoutMs: 1000, maxTensorBytes: 1e6, maxPendingBytes: 1e6, onError: () => undefined })
    const got: Tensor[] = []
    const refused: string[] = []
    const sink = { accept: (_: string, t: Tensor) => void got.push(t), reject: (_: string, why: string) => void refused.push(why) }
    const hop = { src: 'cam', plan: 'p', stage: 0, route: ['b1'], t0: 0 }
    const msgs = [...encodeTensorChunks({ req: 'r', name: 'x', dtype: 'float32', shape: [100], epoch: 1, hop }, new Uint8Array(400), 128)]
    for (const m of msgs) rt.receive(intake, 'j', m, sink)
    rt.receive(intake, 'j', new Uint8Array([1, 2, 3]), sink)
    expect(got.map((t) => t.name)).toEqual(['x'])
    expect(refused).toHaveLength(1)
    const bytes = msgs.reduce((a, m) => a + m.byteLength, 0) + 3
    expect(rt.energy.workJoules()).toBeCloseTo(bytes * rt.profile.rxJPerByte, 15)
  })
})
