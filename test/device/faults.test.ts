/**
 * Faults on the data plane (issue 6), with a real hub, broker and device agents: duplicated and
 * reordered chunks, a corrupt chunk, a stage model that does not load, and stale or unknown epochs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import type { MqttClient } from 'mqtt'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { DEVICE_PASSWORD, connect, deviceUrl, startHub, until } from '../helpers/hub.js'
import { loadModelBytes } from '../../src/model/load.js'
import { randomWireInputs } from '../../src/runtime/inputs.js'
import { toOrt } from '../../src/runtime/tensors.js'
import { Router } from '../../src/runtime/route.js'
import { encodeTensorChunks, decodeTensorChunk } from '../../src/protocol/chunks.js'
import { Reassembler, type Tensor } from '../../src/protocol/reassembly.js'
import { viewAs } from '../../src/protocol/dtypes.js'
import { decodeCbor, encodeCbor } from '../../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../../src/protocol/cbor-budgets.js'
import { planEpochSchema, type PlanEpochPayload } from '../../src/protocol/payloads.js'
import { topics } from '../../src/protocol/topics.js'
import type { Hub } from '../../src/hub/hub.js'
import { smallBoard } from '../helpers/devices.js'

let hub: Hub
let tester: MqttClient
const agents: DeviceAgent[] = []
const errors: string[] = []
let plan: PlanEpochPayload
const results = new Map<string, Tensor>()
const reassembler = new Reassembler({ timeoutMs: 60_000, maxTensorBytes: 1e8, maxPendingBytes: 1e9 })

const small = (id: string) => smallBoard(id)

beforeAll(async () => {
  hub = await startHub({ broker: { embedded: { allowAnonymous: true } }, jobs: [{ id: 'cls', model: 'resnet18', rateRps: 1, goal: 'latency', qoe: { latencyMs: 5000 }, recostCron: '0 0 * * * *' }] })
  for (const id of ['dev-a', 'dev-b']) {
    const a = new DeviceAgent({ url: deviceUrl(hub), id, password: DEVICE_PASSWORD, profile: small(id), heartbeatMs: 200, reassemblyTimeoutMs: 1500, cacheDir: mkdtempSync(join(tmpdir(), 'dora-models-')), onError: (m) => errors.push(`${id}: ${m}`) })
    agents.push(a)
    await a.start()
  }
  tester = await connect(deviceUrl(hub), { clientId: 'fault-tester' })
  tester.on('message', (topic, payload) => {
    if (topic === topics.job('cls', 'plan')) {
      const d = decodeCbor(payload, CBOR_BUDGETS.plan)
      if (d.ok) plan = planEpochSchema.parse(d.value)
      return
    }
    const r = decodeTensorChunk(payload)
    if (!r.ok || r.chunk.hop?.src !== 'tester') return
    const added = reassembler.add(r.chunk, Date.now())
    if (added.status === 'complete') results.set(added.tensor.req, added.tensor)
  })
  // the job's results go to its consumer, the hub (the plan says no other), where this tester listens
  await tester.subscribeAsync([topics.job('cls', 'plan'), topics.results('cls', 'hub')], { qos: 1 })
  await until(() => plan && agents.every((a) => a.assignments.get('cls')?.epoch === plan.epoch), 10_000, 'the plan on both devices')
  // both stage models open before the first request
  await until(() => agents.every((a) => a.sessions.size > 0), 20_000, 'stage sessions')
}, 60_000)

afterAll(async () => {
  await tester?.endAsync()
  for (const a of agents) await a.stop()
  await hub?.stop()
})

/** The chunk messages of request `req`'s input, routed by the current plan, in chunks of 64 KiB. */
function requestChunks(req: string, n: number): { messages: Buffer[]; to: string } {
  const route = new Router('tester').route(plan)
  const [input] = randomWireInputs(plan.inputs!, n)
  const hop = { src: 'tester', plan: route.planId, stage: 0, route: route.devices, t0: Date.now() }
  const messages = [...encodeTensorChunks({ req, name: input!.name, dtype: input!.dtype, shape: [...input!.shape], epoch: plan.epoch, hop }, input!.data, 64 * 1024)]
  return { messages, to: route.devices[0]! }
}

async function expectModelOutput(req: string, n: number): Promise<void> {
  const got = await until(() => results.get(req), 20_000, `the result of ${req}`)
  const session = await ort.InferenceSession.create((await loadModelBytes('resnet18')).bytes)
  const feeds = Object.fromEntries(randomWireInputs(plan.inputs!, n).map((t) => [t.name, toOrt(t)]))
  const want = (await session.run(feeds))[session.outputNames[0]!]!.data as Float32Array
  const a = viewAs('float32', got.data)
  let worst = 0
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(a[i]! - want[i]!))
  expect(worst).toBeLessThan(1e-4)
}

describe('data-plane faults', () => {
  it('takes duplicated and reordered chunks and still returns the model\'s output, once', async () => {
    const { messages, to } = requestChunks('tester.1.0', 1)
    expect(messages.length).toBeGreaterThan(5)
    const shuffled = [...messages, ...messages.slice(0, 3)].reverse()
    for (const m of shuffled) await tester.publishAsync(topics.tensors('cls', to), m, { qos: 1 })
    await expectModelOutput('tester.1.0', 1)
    const runs = agents.map((a) => a.executor.counts.runs)
    await new Promise((r) => setTimeout(r, 300))
    expect(agents.map((a) => a.executor.counts.runs)).toEqual(runs)
  }, 60_000)

  it('rejects a corrupt chunk (checksum) without touching the tensor; the good chunk completes it', async () => {
    const { messages, to } = requestChunks('tester.2.0', 2)
    const bad = Buffer.from(messages[2]!)
    bad[bad.length - 10] = bad[bad.length - 10]! ^ 0xff // a data byte: the CRC no longer matches
    const before = agents.find((a) => a.executor.counts.rejected >= 0)!.executor.counts.rejected
    const errorsBefore = errors.length
    await tester.publishAsync(topics.tensors('cls', to), bad, { qos: 1 })
    await until(() => errors.slice(errorsBefore).find((e) => /checksum mismatch/.test(e)), 5000, 'the checksum rejection')
    expect(agents.reduce((s, a) => s + a.executor.counts.rejected, 0)).toBeGreaterThan(before)
    for (const m of messages) await tester.publishAsync(topics.tensors('cls', to), m, { qos: 1 })
    await expectModelOutput('tester.2.0', 2)
  }, 60_000)

  it('holds a request of an unknown epoch, then drops it with a reason; a stale assignment is ignored', async () => {
    const { to } = requestChunks('x', 3)
    const route = new Router('tester').route(plan)
    const [input] = randomWireInputs(plan.inputs!, 3)
    const errorsBefore = errors.length
    for (const m of encodeTensorChunks({ req: 'tester.3.0', name: input!.name, dtype: input!.dtype, shape: [...input!.shape], epoch: plan.epoch + 50, hop: { src: 'tester', plan: route.planId, stage: 0, route: route.devices, t0: Date.now() } }, input!.data, 64 * 1024)) {
      await tester.publishAsync(topics.tensors('cls', to), m, { qos: 1 })
    }
    // held (the epoch's plan may still come), then dropped once the reassembly timeout passes and something arrives
    await new Promise((r) => setTimeout(r, 1700))
    const { messages } = requestChunks('tester.4.0', 4)
    for (const m of messages) await tester.publishAsync(topics.tensors('cls', to), m, { qos: 1 })
    await expectModelOutput('tester.4.0', 4)
    const dev = agents.find((a) => a.assignments.get('cls')!.stages.some((s) => s.stage === 0))!
    dev.executor.refresh()
    expect(errors.slice(errorsBefore).some((e) => /request tester\.3\.0 stage 0 was held for epoch \d+, whose plan or assignment never came; dropped/.test(e))).toBe(true)
    // a retained assignment of an older epoch (a reconnect, a reordered delivery) changes nothing
    const current = dev.assignments.get('cls')!
    const stale = { ...current, epoch: Math.max(1, current.epoch - 1), stages: [] }
    if (stale.epoch < current.epoch) {
      await tester.publishAsync(topics.device(to, 'assignment'), encodeCbor(stale), { qos: 1 })
      await new Promise((r) => setTimeout(r, 300))
      expect(dev.assignments.get('cls')!.epoch).toBe(current.epoch)
    }
    expect(results.has('tester.3.0')).toBe(false)
  }, 60_000)

  it('reports a stage model that does not load, stays ready for its last good epoch, and keeps serving it', async () => {
    const dev = agents[0]!
    const current = dev.assignments.get('cls')!
    const garbage = Buffer.from('this is not an ONNX model at all, just bytes')
    const sha256 = createHash('sha256').update(garbage).digest('hex')
    await tester.publishAsync(topics.modelChunk(sha256, 0), encodeCbor({ v: 1, sha256, index: 0, count: 1, totalBytes: garbage.length, data: new Uint8Array(garbage) }), { qos: 1, retain: true })
    const errorsBefore = errors.length
    const broken = { ...current, epoch: current.epoch + 1, stages: current.stages.map((s) => ({ ...s, model: { sha256, bytes: garbage.length, chunks: 1 } })) }
    await tester.publishAsync(topics.device('dev-a', 'assignment'), encodeCbor(broken), { qos: 1 })
    const e = await until(() => errors.slice(errorsBefore).find((x) => /does not load in onnxruntime/.test(x)), 10_000, 'the load error')
    expect(e).toMatch(/dev-a: job cls epoch \d+: stage model [0-9a-f]{64} does not load/)
    // the device's heartbeat still names the last epoch it is ready for
    await new Promise((r) => setTimeout(r, 400))
    expect(hub.registry.snapshot().find((d) => d.id === 'dev-a')!.lastHeartbeat!.epoch).toBe(current.epoch)
    // and requests of that epoch still run
    const { messages, to } = requestChunks('tester.5.0', 5)
    for (const m of messages) await tester.publishAsync(topics.tensors('cls', to), m, { qos: 1 })
    await expectModelOutput('tester.5.0', 5)
  }, 60_000)
})
