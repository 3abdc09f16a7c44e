/**
 * Training checkpoints from hostile devices (issue 16): every field is checked against the job's
 * own parameters before anything is held; refusals are counted, never fatal; a well-formed
 * checkpoint is stored and answered. Real hub on the embedded broker, real mqtt.js clients; the
 * device side's checks on a real onnxruntime trainer.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import type { Hub } from '../../src/hub/hub.js'
import { filters, topics } from '../../src/protocol/topics.js'
import { encodeCbor, decodeCbor } from '../../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../../src/protocol/cbor-budgets.js'
import { encodeTensorChunks } from '../../src/protocol/chunks.js'
import { crc32 } from '../../src/protocol/crc32.js'
import { checkpointReq, restoreAnswerSchema } from '../../src/protocol/checkpoint.js'
import { CheckpointIntake } from '../../src/runtime/checkpoint-intake.js'
import { StageTrainer } from '../../src/runtime/trainer.js'
import { DoraError, ErrorCodes } from '../../src/errors.js'
import { onnx } from '../../src/model/onnx.js'
import { profileModel } from '../../src/model/load.js'
import { planStages } from '../../src/model/split.js'
import { buildTrainingStage } from '../../src/model/grad.js'
import { mlp } from '../../src/model/zoo/transformer.js'
import { DEVICE_PASSWORD, caps, collect, connect, deviceUrl, startHub, until, stopHubAndClients } from '../helpers/hub.js'

let hub: Hub | null = null
const clients: MqttClient[] = []
afterEach(async () => {
  await stopHubAndClients(hub, clients)
  hub = null
})

const hop = (src: string) => ({ src, plan: 'checkpoint', stage: 0, route: [src], t0: Date.now() })
const floats = (n: number, v = 0.5) => new Uint8Array(new Float32Array(n).fill(v).buffer)
const chunk = (name: string, shape: number[], step: number, src = 'dev-b', data = floats(shape.reduce((a, b) => a * b, 1))) =>
  [...encodeTensorChunks({ req: checkpointReq(step, step), name, dtype: 'float32', shape, epoch: 1, hop: hop(src) }, data, 64 * 1024)]

async function mlpTrainer(): Promise<StageTrainer> {
  const p = await profileModel(onnx.ModelProto.encode(mlp()).finish(), 'mlp', { batch: 1 })
  const t = buildTrainingStage(p.graph, p.shapes.values, planStages(p.graph, [])[0]!)
  return StageTrainer.create(onnx.ModelProto.encode(t.forward).finish(), onnx.ModelProto.encode(t.backward).finish(), t.params)
}

/** The stage's two smallest parameters (one chunk each: one message, one refusal). */
const smallest = (t: StageTrainer): [string, string] => {
  const size = (x: string) => t.dimsOf(x)!.reduce((a, b) => a * b, 1)
  const [a, b] = [...t.paramNames].sort((x, y) => size(x) - size(y))
  return [a!, b!]
}

describe('training checkpoints from hostile devices', () => {
  it('the hub refuses checkpoints and restore requests that do not fit the job, counts them, and still serves a good one', async () => {
    hub = await startHub({
      hub: { metrics: { host: '127.0.0.1', port: 0 } },
      jobs: [{ id: 'ft', model: 'mlp', rateRps: 1, goal: 'throughput', source: 'dev-b', planner: 'equal-split', training: { microBatchesPerStep: 2, optimizerStateFactor: 2 }, qoe: { throughputRps: 0.1 }, recostCron: '0 0 * * * *' }],
    })
    const dev = await connect(deviceUrl(hub), { username: 'dev-b', password: DEVICE_PASSWORD, clientId: 'dora-device-dev-b' })
    clients.push(dev)
    await dev.publishAsync(topics.device('dev-b', 'caps'), encodeCbor(caps('dev-b')), { qos: 1, retain: true })
    const job = hub.jobs.find((j) => j.id === 'ft')!
    await until(() => job.devices().has('dev-b'), 20_000, 'dev-b planned')
    const trainer = await mlpTrainer()
    const [name, other] = smallest(trainer)
    const dims = [...trainer.dimsOf(name)!]
    expect(job.paramDims(name)).toEqual(dims)
    const n = dims.reduce((a, b) => a * b, 1)
    // an observer reading all of dora/v1 gets no training state (parameters and optimizer state)
    const dash = await connect(deviceUrl(hub), { username: 'dash', password: 'dash-secret' })
    clients.push(dash)
    const dashSaw = await collect(dash, 'dora/v1/#')
    const ckpt = topics.trainingState('ft', 'checkpoint')
    const want = topics.trainingState('ft', 'restore')
    const hostile: Array<[string, Buffer]> = [
      [ckpt, Buffer.from([0xff])], [ckpt, encodeCbor({ v: 1, name })], [want, Buffer.from('{"v":1')],
      ...chunk('not-a-param', [3, 4], 1).map((m) => [ckpt, m] as [string, Buffer]),
      ...chunk(name, [3, 1], 1).map((m) => [ckpt, m] as [string, Buffer]),
      ...chunk(name, [3, ...dims].map((d, i) => (i === 1 ? d + 1 : d)), 1).map((m) => [ckpt, m] as [string, Buffer]),
      // a huge tensor claimed in one small chunk (valid CRC): refused before any allocation
      [ckpt, encodeCbor({ v: 1, req: checkpointReq(1, 1), name, dtype: 'float32', shape: [3, ...dims], epoch: 1, hop: hop('dev-b'), idx: 0, count: 1_000_000, offset: 0, total: 5e9, crc: crc32(floats(4)), data: floats(4) })],
      // not ckpt:{step}:{t}
      ...[...encodeTensorChunks({ req: 'r1', name, dtype: 'float32', shape: [3, ...dims], epoch: 1, hop: hop('dev-b') }, floats(3 * n), 64 * 1024)].map((m) => [ckpt, m] as [string, Buffer]),
      // from a device that takes no part in the job
      ...chunk(name, [3, ...dims], 7, 'dev-x').map((m) => [ckpt, m] as [string, Buffer]),
      [want, encodeCbor({ v: 1, kind: 'want', device: 'dev-x', epoch: 1, step: 1, params: [name] })],
      [want, encodeCbor({ v: 1, kind: 'want', device: 'dev-b', epoch: 1, step: 1, params: ['not-a-param'] })],
      [want, encodeCbor({ v: 1, kind: 'want', device: 'dev-b', epoch: 1, step: 1, params: Array.from({ length: 100_001 }, (_, i) => `p${i}`) })],
    ]
    for (const [topic, p] of hostile) await dev.publishAsync(topic, p, { qos: 1 })
    const bad = async () => {
      const text = await (await fetch(`http://127.0.0.1:${hub!.metricsPort}/metrics`)).text()
      return text.split('\n').filter((l) => l.startsWith('dora_hub_bad_messages_total{kind="checkpoint"')).reduce((a, l) => a + Number(l.split(' ').at(-1)), 0)
    }
    // every hostile message above is one refusal (each chunked one is one message here)
    for (let i = 0; i < 100 && (await bad()) < hostile.length; i++) await new Promise((r) => setTimeout(r, 100))
    expect(await bad()).toBe(hostile.length)
    expect(hub.checkpoints!.held('ft', name)).toBeUndefined()
    expect(hub.checkpoints!.held('ft', 'not-a-param')).toBeUndefined()

    // a well-formed checkpoint is kept, and a restore request answered with it
    for (const m of chunk(name, [3, ...dims], 3)) await dev.publishAsync(ckpt, m, { qos: 1 })
    await until(() => hub!.checkpoints!.held('ft', name)?.step === 3 || null, 5000, 'the checkpoint stored')
    const answers: unknown[] = []
    dev.on('message', (topic, payload) => {
      if (topic === topics.trainingState('ft', 'restore', 'dev-b')) answers.push(decodeCbor(payload, CBOR_BUDGETS.restoreAnswer))
    })
    await dev.subscribeAsync([filters.restoresToDevice('dev-b'), filters.checkpointsToDevice('dev-b')], { qos: 1 })
    await dev.publishAsync(want, encodeCbor({ v: 1, kind: 'want', device: 'dev-b', epoch: 1, step: 3, params: [name, other] }), { qos: 1 })
    const a = await until(() => answers[0] as { ok: true; value: unknown } | undefined, 15_000, 'the restore answer')
    expect(restoreAnswerSchema.parse(a.value).params).toEqual([{ name, from: { step: 3, t: 3 } }, { name: other, from: null }])
    expect(dashSaw.some((m) => m.topic === topics.hubState)).toBe(true)
    // a job that is gone takes its checkpoints with it
    hub.checkpoints!.keepJobs(new Map([['ft', job]]))
    expect(hub.checkpoints!.held('ft', name)).toBeDefined()
    hub.checkpoints!.keepJobs(new Map())
    expect(hub.checkpoints!.held('ft', name)).toBeUndefined()
    expect(dashSaw.filter((m) => m.topic.includes('/checkpoint') || m.topic.includes('/restore')).map((m) => m.topic)).toEqual([])
    await trainer.release()
  }, 60_000)

  it('a device takes a checkpoint only for its own parameters, shapes and sizes, with finite values', async () => {
    const trainer = await mlpTrainer()
    const [name, other] = smallest(trainer)
    const dims = [...trainer.dimsOf(name)!]
    const n = dims.reduce((a, b) => a * b, 1)
    const errors: string[] = []
    const intake = new CheckpointIntake({ timeoutMs: 1000, maxPendingBytes: 12 * trainer.size, onError: (m) => errors.push(m) })
    const expect1 = (x: string) => (x === name ? trainer.dimsOf(x) : undefined)
    const take = (msgs: Buffer[]) => msgs.flatMap((m) => intake.add('ft', m, Date.now(), expect1))
    expect(take(chunk(other, [3, ...trainer.dimsOf(other)!], 2)).every((r) => !r.ok)).toBe(true)
    // same size in another shape, one element more, a dtype it is not
    expect(take(chunk(name, [3, 1, n], 2)).every((r) => !r.ok)).toBe(true)
    expect(take(chunk(name, [3, n + 1], 2)).every((r) => !r.ok)).toBe(true)
    expect(take([...encodeTensorChunks({ req: checkpointReq(2, 2), name, dtype: 'int32', shape: [3, n], epoch: 1, hop: hop('hub') }, floats(3 * n))]).every((r) => !r.ok)).toBe(true)
    const good = take(chunk(name, [3, ...dims], 2)).filter((r) => r.ok)
    expect(good).toHaveLength(1)
    const before = trainer.param(name)
    const state = (good[0] as Extract<(typeof good)[number], { ok: true }>).state
    // NaN, a negative second moment, a wrong length or shape: refused, nothing changed
    const nan = Float32Array.from(state.data)
    nan[5] = Number.NaN
    const negative = Float32Array.from(state.data)
    negative[2 * n] = -1
    for (const s of [{ ...state, data: nan }, { ...state, data: negative }, { ...state, data: state.data.subarray(1) }, { ...state, dims: [1, n] }, { ...state, name: 'nope' }, { ...state, t: -1 }]) {
      expect(() => trainer.restore(s)).toThrow(/checkpoint of/)
      expect(codeOf(() => trainer.restore(s))).toBe(ErrorCodes.CHECKPOINT_INVALID)
      expect(trainer.param(name)).toEqual(before)
    }
    trainer.restore(state)
    expect(trainer.param(name)).toEqual(new Float32Array(n).fill(0.5))
    expect(trainer.state(name).t).toBe(2)
    await trainer.release()
  })

  it("a training stage's failures are typed errors, one code per kind", async () => {
    const trainer = await mlpTrainer()
    expect(codeOf(() => trainer.param('nope'))).toBe(ErrorCodes.PARAM_UNKNOWN)
    expect(codeOf(() => trainer.state('nope'))).toBe(ErrorCodes.PARAM_UNKNOWN)
    expect(codeOf(() => trainer.setParam(smallest(trainer)[0], new Float32Array(1e6)))).toBe(ErrorCodes.PARAM_UNKNOWN)
    // a summed gradient of another size than the stage's parameters (an all-reduce gone wrong)
    expect(codeOf(() => trainer.apply(1, new Float32Array(trainer.size + 1)))).toBe(ErrorCodes.ALLREDUCE)
    const before = trainer.digest()
    // a forward run without the stage's input, a backward run without its gradient
    const fwd = await trainer.forward(new Map()).catch((e: unknown) => e)
    expect(fwd).toBeInstanceOf(DoraError)
    expect(fwd).toMatchObject({ code: ErrorCodes.STAGE_INPUT_MISSING })
    const bwd = await trainer.backward(new Map(), new Map()).catch((e: unknown) => e)
    expect(bwd).toMatchObject({ code: ErrorCodes.STAGE_INPUT_MISSING })
    expect(trainer.digest()).toBe(before)
    await trainer.release()
  })
})

/** The code of the DoraError `f` throws (fails the test when it throws none, or another error). */
function codeOf(f: () => unknown): string {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(DoraError)
    return (e as DoraError).code
  }
  throw new Error('no error thrown')
}
