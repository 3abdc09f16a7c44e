/**
 * Training transfers go with the codec the plan prices (issue 15: activation compression chosen
 * by the planner per cut): with the job's compression bound, the planner prices the cut's
 * activations and their gradients compressed (planner/training.ts cutBytes); the devices send
 * both with the codec the plan names for that cut, so the tensor bytes an observer sees on the
 * wire per micro-batch equal the planner's, each way, and the dtype on the wire is the codec's.
 * The losses stay within the tolerance measured in BENCHMARKS.md (bench/training-compression.ts)
 * of the same steps in float32 in one process. Real hub and Aedes broker on loopback, real
 * onnxruntime stages.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { connect, DEVICE_PASSWORD, deviceUrl, startHub, until } from '../helpers/hub.js'
import type { Hub } from '../../src/hub/hub.js'
import { smallBoard } from '../helpers/devices.js'
import { referenceLosses, stopTrainingFleet } from '../helpers/training.js'
import { decodeTensorMessage } from '../../src/protocol/chunk-batch.js'
import { parseTopic } from '../../src/protocol/topics.js'
import { cutBytes } from '../../src/planner/compression.js'

let hub: Hub | null = null
let observer: MqttClient | null = null
const agents: DeviceAgent[] = []

afterEach(async () => {
  await observer?.endAsync()
  observer = null
  await stopTrainingFleet(agents, hub)
  hub = null
})

const M = 4
const STEPS = 3
/** The loss tolerance against float32 (relative; BENCHMARKS.md "Training transfers compressed"). */
const LOSS_TOLERANCE = 1e-3

/** Tensor data bytes per receiver and kind (activation or gradient) seen on the job's tensors topics, and their dtypes. */
interface Seen { bytes: Map<string, number>; dtypes: Set<string> }

async function watch(h: Hub, seen: Seen): Promise<MqttClient> {
  const c = await connect(deviceUrl(h), { username: 'dash', password: 'dash-secret' })
  c.on('message', (topic, payload) => {
    const t = parseTopic(topic)
    if (t?.scope !== 'tensors') return
    const m = decodeTensorMessage(payload)
    if (!m.ok) return
    for (const r of m.chunks) {
      if (!r.ok || !r.chunk.hop || r.chunk.name.startsWith('allreduce:')) continue
      // the source's own micro-batch inputs (boundary 0) are not a cut
      if (!r.chunk.name.startsWith('grad:') && r.chunk.hop.stage === 0) continue
      const key = `${t.toDeviceId}/${r.chunk.name.startsWith('grad:') ? 'grad' : 'act'}`
      seen.bytes.set(key, (seen.bytes.get(key) ?? 0) + r.chunk.data.byteLength)
      seen.dtypes.add(r.chunk.dtype)
    }
  })
  await c.subscribeAsync('dora/v1/jobs/ft/tensors/#', { qos: 1 })
  return c
}

describe('training transfers with the plan\'s codec', () => {
  it('a compressed cut: activations forward and gradients back go as the plan prices them (bytes on the wire equal), the loss within tolerance of float32', async () => {
    const errors: string[] = []
    const ids = ['dev-a', 'dev-b']
    hub = await startHub({
      auth: { devices: ids.map((id) => ({ id, password: DEVICE_PASSWORD })), observers: [{ username: 'dash', password: 'dash-secret' }] },
      jobs: [{ id: 'ft', model: 'bert-tiny', rateRps: 10, goal: 'throughput', source: 'dev-a', planner: 'equal-split', compression: { maxOutputError: 0.05 }, training: { microBatchesPerStep: M, optimizerStateFactor: 2, checkpointEverySteps: 0 }, qoe: { throughputRps: 0.1 }, recostCron: '0 0 * * * *' }],
    })
    const seen: Seen = { bytes: new Map(), dtypes: new Set() }
    observer = await watch(hub, seen)
    for (const id of ids) {
      const a = new DeviceAgent({ url: deviceUrl(hub), id, password: DEVICE_PASSWORD, profile: smallBoard(id, { memoryBytes: 2e9, flopsPerSec: { conv: 1e12, matmul: 1e12, elementwise: 1e12 } }), heartbeatMs: 200, cacheDir: mkdtempSync(join(tmpdir(), 'dora-models-')), onError: (m) => errors.push(`${id}: ${m}`) })
      agents.push(a)
      await a.start()
    }
    await until(() => agents.every((a) => a.assignments.get('ft')?.stages.length) || null, 20_000, 'assignments')
    const [a, b] = agents
    const source = await a!.startTraining('ft')
    await until(() => source.records.length >= STEPS || null, 60_000, 'three steps')
    await a!.stopTraining()
    expect(source.records.every((r) => r.ok), JSON.stringify(errors)).toBe(true)
    const plan = source.planOf(source.records[0]!.epoch)!
    const part = plan.parts[0]!
    expect(part.stages.map((s) => s.devices)).toEqual([['dev-a'], ['dev-b']])
    // the planner compresses the cut: the plan names its codec
    const codec = part.stages[0]!.codec
    expect(codec).toBeDefined()
    // what the planner priced per micro-batch and direction (the cost model's cutBytes)
    const svc = hub.jobs.find((j) => j.id === 'ft')!
    const planned = svc.epoch!.parts.find((p) => p.plan.id === part.planId)!.plan
    const priced = planned.microBatch * cutBytes(svc.plannerJob!.model, planned, planned.stages[1]!.layers[0])
    // (stopTraining returns once the step in progress is done: every step recorded ran whole)
    const steps = source.records.length
    expect(b!.training.counts.backwards).toBe(steps * M)
    await until(() => (seen.bytes.get('dev-a/grad') ?? 0) >= steps * M * priced || null, 10_000, `gradients seen (${JSON.stringify([...seen.bytes])}, priced ${priced})`)
    expect(seen.bytes.get('dev-b/act')! / (steps * M)).toBe(priced)
    expect(seen.bytes.get('dev-a/grad')! / (steps * M)).toBe(priced)
    expect(seen.dtypes).toEqual(new Set([codec === 'fp16' ? 'float16' : 'int8']))
    // the devices' own count of what they sent agrees
    expect(a!.training.sentBytes + b!.training.sentBytes).toBe(2 * steps * M * priced)
    const want = await referenceLosses(agents, a!, 'ft', plan, STEPS, M)
    source.records.slice(0, STEPS).forEach((r, i) => expect(Math.abs(r.loss! - want[i]!) / want[i]!).toBeLessThan(LOSS_TOLERANCE))
    expect(errors).toEqual([])
  }, 120_000)
})
