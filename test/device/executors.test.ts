/**
 * The two executors on their own (device-firmware-bridge/executor.ts and training.ts), with real
 * onnxruntime-node and stage models cut from the zoo's MLP by the hub's model store, no broker:
 * what they publish is captured and reassembled as a receiving device would. Inference: a
 * request's stage runs on the whole input, its output goes to the next stage's device, equal to
 * onnxruntime running the stage directly, after the profile's dilated time; a request held for
 * its epoch runs when the plan comes; a stage the device does not hold is refused. Training: one
 * optimizer step of two micro-batches on one device ends in a `done` whose loss and parameter
 * digest equal the same step run in this process. Both compute their next request or micro-batch while the last
 * one's outputs are still being sent (the send does not hold the device's compute).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as ort from 'onnxruntime-node'
import { StageExecutor } from '../../device-firmware-bridge/executor.js'
import { TrainingExecutor } from '../../device-firmware-bridge/training.js'
import { DeviceRuntime, type TensorSink } from '../../device-firmware-bridge/runtime.js'
import { TensorIntake } from '../../device-firmware-bridge/intake.js'
import { ModelStore, type StageModelRef } from '../../src/hub/model-store.js'
import { loadJobModel } from '../../src/scenario/load.js'
import { decodeCbor } from '../../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../../src/protocol/cbor-budgets.js'
import { encodeTensorChunks, type Hop } from '../../src/protocol/chunks.js'
import { modelChunkSchema, trainingStepSchema, type AssignmentPayload, type PlanEpochPayload, type TensorSpec } from '../../src/protocol/payloads.js'
import type { Tensor } from '../../src/protocol/reassembly.js'
import { PROTOCOL_VERSION, topics } from '../../src/protocol/topics.js'
import { randomWireInputs } from '../../src/runtime/inputs.js'
import { fromOrt, toOrt } from '../../src/runtime/tensors.js'
import { StageTrainer } from '../../src/runtime/trainer.js'
import { joined, type SplitPayload } from '../../src/shared/split-payload.js'
import { chainStep } from '../helpers/training.js'
import { smallBoard } from '../helpers/devices.js'

let store: ModelStore
let io: { inputs: TensorSpec[]; outputs: string[] }
let bounds: readonly number[]
const sessions: ort.InferenceSession[] = []

beforeAll(async () => {
  const { model, onnx } = await loadJobModel('mlp', process.cwd(), 1)
  store = new ModelStore(onnx, 1 << 30)
  io = store.io()
  bounds = model.nodeBounds!
})

afterAll(async () => {
  for (const s of sessions.splice(0)) await s.release()
})

/** A model's bytes as a device gets them (the store's chunks, joined). */
async function bytesOf(ref: StageModelRef): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  await store.publishRef(ref, async (_topic, payload) => {
    const d = decodeCbor(payload, CBOR_BUDGETS.modelChunk)
    if (!d.ok) throw new Error(d.error)
    parts.push(modelChunkSchema.parse(d.value).data)
  })
  return Buffer.concat(parts)
}

/** A runtime whose publishes are captured (topic, joined payload). */
function device(id: string, over: { dilate?: boolean; timeScale?: number; air?: Promise<void> } = {}) {
  const sent: Array<{ topic: string; payload: Buffer }> = []
  const errors: string[] = []
  const runtime = new DeviceRuntime({
    id, profile: smallBoard(id, { stageOverheadMs: 3 }), dilate: over.dilate ?? false, timeScale: over.timeScale ?? 1, chunkBytes: 4096,
    // `air`: every publish waits for it (the air busy: the send does not complete until it resolves)
    send: async (topic, payload: Buffer | SplitPayload) => {
      await over.air
      sent.push({ topic, payload: joined(payload) })
    },
    onError: (m) => errors.push(m),
  })
  // the agent reassembles every job's chunks in one intake and hands whole tensors on (tensor-router.ts)
  const intake = new TensorIntake({ id, timeoutMs: 10_000, maxTensorBytes: 1 << 26, maxPendingBytes: 1 << 27, onError: (m) => errors.push(m) })
  return { runtime, sent, errors, intake }
}

/** One chunk message from the network for `ex` on device `d`, as the agent takes it. */
function feed(d: ReturnType<typeof device>, ex: TensorSink, payload: Uint8Array): void {
  d.runtime.receive(d.intake, 'j', payload, ex)
}

/** The tensors `to` would reassemble from the captured messages on its tensors topic. */
function received(sent: ReadonlyArray<{ topic: string; payload: Buffer }>, jobId: string, to: string): Tensor[] {
  const intake = new TensorIntake({ id: to, timeoutMs: 10_000, maxTensorBytes: 1 << 26, maxPendingBytes: 1 << 27, onError: () => undefined })
  const out: Tensor[] = []
  for (const m of sent.filter((x) => x.topic === topics.tensors(jobId, to))) {
    for (const r of intake.add(jobId, m.payload, Date.now())) if (r.status === 'complete') out.push(r.tensor)
  }
  return out
}

function chunks(req: string, hop: Hop, t: { name: string; dtype: Tensor['dtype']; shape: readonly number[]; data: Uint8Array }): Buffer[] {
  return [...encodeTensorChunks({ req, name: t.name, dtype: t.dtype, shape: [...t.shape], epoch: 1, hop }, t.data, 1024)]
}


/** A training executor of job 'ft', epoch 1, holding stage 0 (`nodes`, trainer files `t`) of `plan`. */
function stageZeroExecutor(runtime: ConstructorParameters<typeof TrainingExecutor>[0]['runtime'], plan: PlanEpochPayload, nodes: [number, number], t: { forward: StageModelRef; backward: StageModelRef; params: readonly string[] }, fwd: Uint8Array, bwd: Uint8Array) {
  const assignment: AssignmentPayload = {
    v: PROTOCOL_VERSION, jobId: 'ft', epoch: 1, activateAtMs: 0, slots: [],
    stages: [{ planId: 'p', stage: 0, layers: [0, 1], nodes, weight: 1, model: t.forward, backward: t.backward, params: [...t.params], flops: { conv: 0, matmul: 1e6, elementwise: 0 } }],
  }
  const trainer = StageTrainer.create(fwd, bwd, t.params, { intraOpNumThreads: 1, interOpNumThreads: 1 })
  const ex = new TrainingExecutor({
    runtime, reassemblyTimeoutMs: 10_000, trainer: () => trainer,
    assignment: (jobId, epoch) => (jobId === 'ft' && epoch === 1 ? assignment : undefined),
    plan: (jobId, epoch) => (jobId === 'ft' && epoch === 1 ? plan : undefined),
  })
  return { trainer, ex }
}

describe('inference executor', () => {
  // two stages of the MLP: stage 0 on d1 (the executor under test), stage 1 on d2
  const setup = (d: ReturnType<typeof device>, known: { plan: boolean }) => {
    const cut = bounds[Math.floor(bounds.length / 2)]!
    const s0 = store.stage([bounds[0]!, cut])
    const s1 = store.stage([cut, bounds[bounds.length - 1]!])
    // 5e7 matmul FLOPs at 4 GFLOP/s: 12.5 ms, plus the 3 ms overhead
    const flops = { conv: 0, matmul: 5e7, elementwise: 0 }
    const plan: PlanEpochPayload = {
      v: PROTOCOL_VERSION, jobId: 'j', epoch: 1, activateAtMs: 0, reason: 'test', emulated: true,
      parts: [{ planId: 'p', weight: 1, microBatch: 1, schedule: null, stages: [
        { layers: [0, 1], nodes: [bounds[0]!, cut], devices: ['d1'], inputs: [...s0.inputs], outputs: [...s0.outputs] },
        { layers: [1, 2], nodes: [cut, bounds[bounds.length - 1]!], devices: ['d2'], inputs: [...s1.inputs], outputs: [...s1.outputs] },
      ] }],
      predicted: { latencyMs: 10, energyJPerRequest: 1 }, inputs: io.inputs, outputs: io.outputs,
    }
    const assignment: AssignmentPayload = {
      v: PROTOCOL_VERSION, jobId: 'j', epoch: 1, activateAtMs: 0, slots: [],
      stages: [{ planId: 'p', stage: 0, layers: [0, 1], nodes: [bounds[0]!, cut], weight: 1, model: s0.ref, flops }],
    }
    const traces: Array<{ req: string; phase: string; atMs: number }> = []
    let session: Promise<ort.InferenceSession> | undefined
    const ex = new StageExecutor({
      runtime: d.runtime, coordination: 'none', reassemblyTimeoutMs: 10_000,
      // one session per stage model, as the agent keeps it (stage-models.ts)
      session: () => (session ??= ort.InferenceSession.create(s0.bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 }).then((s) => (sessions.push(s), s))),
      assignment: (jobId, epoch) => (jobId === 'j' && epoch === 1 ? assignment : undefined),
      plan: (jobId, epoch) => (jobId === 'j' && epoch === 1 && known.plan ? plan : undefined),
      trace: (e) => traces.push(e),
    })
    return { ex, s0, traces }
  }
  const hop = (route: string[], stage = 0): Hop => ({ src: 'cam', plan: 'p', stage, route, t0: 0 })

  it('runs a request\'s stage as onnxruntime does, sends its output to the next stage\'s device, and waits out the profile\'s time', async () => {
    const d = device('d1', { dilate: true, timeScale: 4 })
    const { ex, s0, traces } = setup(d, { plan: true })
    const inputs = randomWireInputs(io.inputs, 3)
    for (const req of ['cam.0.0', 'cam.1.0']) for (const t of inputs) for (const c of chunks(req, hop(['d1', 'd2']), t)) feed(d, ex, c)
    await waitFor(() => received(d.sent, 'j', 'd2').length >= 2 * s0.outputs.length)
    expect(d.errors).toEqual([])
    expect(ex.counts).toMatchObject({ runs: 2, rejected: 0, failed: 0 })
    // the same stage model run directly on the same inputs
    const direct = await ort.InferenceSession.create(s0.bytes)
    sessions.push(direct)
    const want = await direct.run(Object.fromEntries(inputs.map((t) => [t.name, toOrt(t)])))
    const got = received(d.sent, 'j', 'd2').filter((t) => t.req === 'cam.1.0')
    expect(got.map((t) => t.name).sort()).toEqual([...s0.outputs].sort())
    for (const t of got) {
      expect(t.hop).toMatchObject({ stage: 1, src: 'cam', route: ['d1', 'd2'] })
      expect(Buffer.from(t.data)).toEqual(Buffer.from(fromOrt(t.name, want[t.name]!).data))
    }
    // dilation: each run takes overhead + FLOPs' time (15.5 ms) x 4 on the host clock, reported in profile time
    const profileMs = 3 + 1000 * 5e7 / 4e9
    const ran = (req: string) => traces.find((e) => e.req === req && e.phase === 'ran')!.atMs - traces.find((e) => e.req === req && e.phase === 'inputs')!.atMs
    expect(ran('cam.1.0')).toBeGreaterThanOrEqual(4 * profileMs - 2)
    const timings = d.runtime.timings.take()
    // the session's first run is onnxruntime's set-up, not reported
    expect(timings).toHaveLength(1)
    expect(timings[0]).toMatchObject({ jobId: 'j', stage: 0, count: 1 })
    expect(timings[0]!.meanMs).toBeGreaterThanOrEqual(profileMs - 0.5)
    expect(d.runtime.energy.busyTotalMs).toBeGreaterThanOrEqual(2 * profileMs - 1)
  })

  it('computes the next request while the last one\'s output is still on the air (the run does not wait for the send)', async () => {
    let free!: () => void
    const d = device('d1', { dilate: true, air: new Promise<void>((r) => (free = r)) })
    const { ex, s0 } = setup(d, { plan: true })
    const inputs = randomWireInputs(io.inputs, 4)
    for (const req of ['cam.0.0', 'cam.1.0', 'cam.2.0']) for (const t of inputs) for (const c of chunks(req, hop(['d1', 'd2']), t)) feed(d, ex, c)
    // all three ran (each its dilated profile time) while not one byte of the first output has left
    await waitFor(() => ex.counts.runs >= 3)
    expect(d.sent).toEqual([])
    free()
    await waitFor(() => received(d.sent, 'j', 'd2').length >= 3 * s0.outputs.length)
    expect(d.errors).toEqual([])
  })

  it('holds a request whose epoch\'s plan has not come, and runs it when it comes', async () => {
    const d = device('d1')
    const known = { plan: false }
    const { ex, s0 } = setup(d, known)
    for (const t of randomWireInputs(io.inputs, 1)) for (const c of chunks('cam.0.0', hop(['d1', 'd2']), t)) feed(d, ex, c)
    await new Promise((r) => setTimeout(r, 100))
    expect(ex.counts.runs).toBe(0)
    expect(ex.held.tensors).toBe(io.inputs.length)
    known.plan = true
    ex.refresh()
    await waitFor(() => received(d.sent, 'j', 'd2').length >= s0.outputs.length)
    expect(ex.counts.runs).toBe(1)
    expect(ex.held.tensors).toBe(0)
  })

  it('refuses a request for a stage it does not hold, and chunks for another device', async () => {
    const d = device('d1')
    const { ex } = setup(d, { plan: true })
    const t = randomWireInputs(io.inputs, 2)[0]!
    for (const c of chunks('cam.0.0', hop(['d2', 'd1'], 1), { ...t, name: 'whatever' })) feed(d, ex, c)
    await waitFor(() => ex.counts.failed >= 1 || d.errors.length >= 1)
    expect(d.errors.join(' ')).toMatch(/asks for stage 1 of p in epoch 1, which this device does not hold/)
    for (const c of chunks('cam.1.0', hop(['d2', 'd3']), t)) feed(d, ex, c)
    expect(ex.counts.rejected).toBeGreaterThanOrEqual(1)
    expect(d.sent).toEqual([])
  })
})

describe('training executor', () => {
  it('one optimizer step of two micro-batches: a done whose loss and parameters equal the same step run here', async () => {
    const d = device('d1')
    const nodes: [number, number] = [bounds[0]!, bounds[bounds.length - 1]!]
    const t = store.trainingStage(nodes)
    const [fwd, bwd] = [await bytesOf(t.forward), await bytesOf(t.backward)]
    const plan: PlanEpochPayload = {
      v: PROTOCOL_VERSION, jobId: 'ft', epoch: 1, activateAtMs: 0, reason: 'test', emulated: true, training: { microBatchesPerStep: 2 },
      parts: [{ planId: 'p', weight: 1, microBatch: 1, schedule: null, stages: [{ layers: [0, 1], nodes, devices: ['d1'], inputs: io.inputs.map((i) => i.name), outputs: [] }] }],
      predicted: { latencyMs: 10, energyJPerRequest: 1 }, inputs: io.inputs, outputs: io.outputs,
    }
    const { trainer, ex } = stageZeroExecutor(d.runtime, plan, nodes, t, fwd, bwd)
    ex.onStep('ft', { v: PROTOCOL_VERSION, kind: 'start', epoch: 1, planId: 'p', step: 0, routes: [['d1'], ['d1']], startedAtMs: 0 })
    const batches = [0, 1].map((i) => randomWireInputs(io.inputs, i))
    batches.forEach((inputs, i) => {
      for (const x of inputs) ex.accept('ft', { req: `0.${i}`, name: x.name, dtype: x.dtype, shape: [...x.shape], epoch: 1, hop: { src: 'd1', plan: 'p', stage: 0, route: ['d1'], t0: 0 }, data: x.data })
    })
    await waitFor(() => d.sent.some((m) => m.topic === topics.job('ft', 'steps')))
    expect(d.errors).toEqual([])
    const m = d.sent.find((x) => x.topic === topics.job('ft', 'steps'))!
    const decoded = decodeCbor(m.payload, CBOR_BUDGETS.trainingStep)
    if (!decoded.ok) throw new Error(decoded.error)
    const done = trainingStepSchema.parse(decoded.value)
    expect(done).toMatchObject({ kind: 'done', epoch: 1, planId: 'p', step: 0, stage: 0, device: 'd1', microBatches: 2 })
    expect(ex.counts).toMatchObject({ forwards: 2, backwards: 2, steps: 1, failed: 0 })
    // the same step in this process
    const ref = await StageTrainer.create(fwd, bwd, t.params)
    let loss = 0
    for (const inputs of batches) loss += await chainStep([ref], new Map(inputs.map((x) => [x.name, toOrt(x)])))
    ref.apply(2)
    if (done.kind !== 'done') throw new Error('not a done')
    expect(Math.abs(done.loss! - loss) / Math.abs(loss)).toBeLessThan(1e-5)
    expect(done.paramsSha256).toBe(ref.digest())
    await ref.release()
    await (await trainer).release()
  })
})

describe('training executor, overlap', () => {
  it('runs the next micro-batch\'s forward while the last one\'s activations are still on the air', async () => {
    let free!: () => void
    const d = device('d1', { air: new Promise<void>((r) => (free = r)) })
    const cut = bounds[Math.floor(bounds.length / 2)]!
    const nodes: [number, number] = [bounds[0]!, cut]
    const s0 = store.stage(nodes)
    const t = store.trainingStage(nodes)
    const [fwd, bwd] = [await bytesOf(t.forward), await bytesOf(t.backward)]
    const plan: PlanEpochPayload = {
      v: PROTOCOL_VERSION, jobId: 'ft', epoch: 1, activateAtMs: 0, reason: 'test', emulated: true, training: { microBatchesPerStep: 2 },
      parts: [{ planId: 'p', weight: 1, microBatch: 1, schedule: null, stages: [
        { layers: [0, 1], nodes, devices: ['d1'], inputs: [...s0.inputs], outputs: [...s0.outputs] },
        { layers: [1, 2], nodes: [cut, bounds[bounds.length - 1]!], devices: ['d2'], inputs: [...s0.outputs], outputs: [] },
      ] }],
      predicted: { latencyMs: 10, energyJPerRequest: 1 }, inputs: io.inputs, outputs: io.outputs,
    }
    const { trainer, ex } = stageZeroExecutor(d.runtime, plan, nodes, t, fwd, bwd)
    ex.onStep('ft', { v: PROTOCOL_VERSION, kind: 'start', epoch: 1, planId: 'p', step: 0, routes: [['d1', 'd2'], ['d1', 'd2']], startedAtMs: 0 })
    ;[0, 1].forEach((i) => {
      for (const x of randomWireInputs(io.inputs, i)) ex.accept('ft', { req: `0.${i}`, name: x.name, dtype: x.dtype, shape: [...x.shape], epoch: 1, hop: { src: 'd1', plan: 'p', stage: 0, route: ['d1', 'd2'], t0: 0 }, data: x.data })
    })
    // both forwards ran (1F1B lets stage 0 of 2 have two in flight) while the first's activations have not left
    await waitFor(() => ex.counts.forwards >= 2)
    expect(d.sent).toEqual([])
    free()
    await waitFor(() => received(d.sent, 'ft', 'd2').length >= 2 * s0.outputs.length)
    expect(d.errors).toEqual([])
    await (await trainer).release()
  })
})

async function waitFor(check: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}
