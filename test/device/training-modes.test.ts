/**
 * Training transfers go in the plan's transfer mode (issue 15, "Slots that pay": training
 * transfers are scheduled too): with grants, every activation and gradient a device sends waits
 * for the hub's grant (the desk sees asks from both training devices), and so do a data-parallel
 * job's micro-batches and all-reduce pieces, and the stages' checkpoints; with slots, each goes in
 * the device's slots toward its receiver. The losses equal the same steps in one process. Real
 * hub and Aedes broker on loopback, device agents running the stages in onnxruntime.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { DEVICE_PASSWORD, deviceUrl, startHub, until } from '../helpers/hub.js'
import type { Hub } from '../../src/hub/hub.js'
import { smallBoard } from '../helpers/devices.js'
import { referenceLosses, stopTrainingFleet } from '../helpers/training.js'

let hub: Hub | null = null
const agents: DeviceAgent[] = []

afterEach(async () => {
  await stopTrainingFleet(agents, hub)
  hub = null
})

const M = 4

async function pipeline(transfers: 'slots' | 'grants', errors: string[], ids = ['dev-a', 'dev-b'], planner = 'equal-split', checkpointEverySteps = 10): Promise<DeviceAgent[]> {
  hub = await startHub({
    auth: { devices: ids.map((id) => ({ id, password: DEVICE_PASSWORD })) },
    jobs: [{ id: 'ft', model: 'bert-tiny', rateRps: 10, goal: 'throughput', source: 'dev-a', planner, transfers, training: { microBatchesPerStep: M, optimizerStateFactor: 2, checkpointEverySteps }, qoe: { throughputRps: 0.1 }, recostCron: '0 0 * * * *' }],
  })
  for (const id of ids) {
    const a = new DeviceAgent({ url: deviceUrl(hub), id, password: DEVICE_PASSWORD, profile: smallBoard(id, { memoryBytes: 2e9, flopsPerSec: { conv: 1e12, matmul: 1e12, elementwise: 1e12 } }), heartbeatMs: 200, cacheDir: mkdtempSync(join(tmpdir(), 'dora-models-')), onError: (m) => errors.push(`${id}: ${m}`) })
    agents.push(a)
    await a.start()
  }
  await until(() => agents.every((a) => a.assignments.get('ft')?.stages.length) || null, 20_000, 'assignments')
  return agents
}

async function trainThree(a: DeviceAgent, errors: string[]): Promise<{ losses: number[]; want: number[]; transfers: string | undefined }> {
  const source = await a.startTraining('ft')
  await until(() => source.records.length >= 3 || null, 60_000, 'three steps')
  await a.stopTraining()
  expect(source.records.every((r) => r.ok), JSON.stringify(errors)).toBe(true)
  const plan = source.planOf(source.records[0]!.epoch)!
  expect(plan.parts[0]!.stages.map((s) => s.devices)).toEqual([['dev-a'], ['dev-b']])
  const want = await referenceLosses(agents, a, 'ft', plan, 3, M)
  return { losses: source.records.slice(0, 3).map((r) => r.loss!), want, transfers: plan.parts[0]!.transfers }
}

describe('training transfers in the plan\'s transfer mode', () => {
  it('with grants: every activation (dev-a) and gradient (dev-b) waits for the hub\'s grant; the losses are unchanged', async () => {
    const errors: string[] = []
    const [a, b] = await pipeline('grants', errors)
    const r = await trainThree(a!, errors)
    expect(r.transfers).toBe('grants')
    r.losses.forEach((l, i) => expect(Math.abs(l - r.want[i]!) / r.want[i]!).toBeLessThan(1e-5))
    // dev-a sends activations forward, dev-b gradients back: one transfer per micro-batch each, all granted
    for (const d of [a!, b!]) {
      expect(d.transfers.counts.grants).toBeGreaterThanOrEqual(3 * M)
      expect(d.transfers.counts['at-once']).toBe(0)
      expect(d.air.stats.granted).toBe(d.transfers.counts.grants)
      expect(d.air.stats.timedOut).toBe(0)
    }
    expect(errors).toEqual([])
  }, 120_000)

  it('with grants, checkpoints too: each device\'s stage state goes to the hub as one transfer under one grant (it holds the air, as the planner counts it)', async () => {
    const errors: string[] = []
    const [a, b] = await pipeline('grants', errors, ['dev-a', 'dev-b'], 'equal-split', 1)
    const r = await trainThree(a!, errors)
    expect(r.transfers).toBe('grants')
    r.losses.forEach((l, i) => expect(Math.abs(l - r.want[i]!) / r.want[i]!).toBeLessThan(1e-5))
    // a checkpoint after every step (a newer one supersedes one not yet begun)
    await until(() => [a!, b!].every((d) => d.training.state.counts.checkpoints >= 1) || null, 30_000, 'a checkpoint each')
    // (the last one may still wait for its grant)
    await until(() => [a!, b!].every((d) => d.air.stats.granted === d.transfers.counts.grants) || null, 30_000, 'every ask granted')
    for (const d of [a!, b!]) {
      const params = d.assignments.get('ft')!.stages[0]!.params!.length
      const c = d.training.state.counts
      // every checkpoint whole: all the stage's parameters, one grant for them all
      expect(params).toBeGreaterThan(1)
      expect(c.sent).toBe(c.checkpoints * params)
      expect(d.transfers.counts.grants).toBeGreaterThanOrEqual(3 * M + c.checkpoints)
      expect(d.transfers.counts['at-once']).toBe(0)
      expect(d.air.stats.timedOut).toBe(0)
    }
    const sent = a!.training.state.counts.sent + b!.training.state.counts.sent
    await until(() => (hub!.checkpoints!.counts.stored >= sent) || null, 30_000, `the hub stores all ${sent} checkpoint tensors`)
    expect(hub!.checkpoints!.counts.refused).toBe(0)
    expect(errors).toEqual([])
  }, 120_000)

  it('with grants, data-parallel: the source\'s micro-batches and the ring all-reduce\'s pieces wait for the hub\'s grant too', async () => {
    const errors: string[] = []
    const devices = await pipeline('grants', errors, ['dev-a', 'dev-b', 'dev-c'], 'data-parallel')
    const a = devices[0]!
    const source = await a.startTraining('ft')
    await until(() => source.records.length >= 2 || null, 60_000, 'two steps')
    await a.stopTraining()
    expect(source.records.every((r) => r.ok && r.replicasAgree), JSON.stringify(errors)).toBe(true)
    const plan = source.planOf(source.records[0]!.epoch)!
    expect(plan.parts[0]!.transfers).toBe('grants')
    expect(plan.parts[0]!.stages[0]!.devices).toHaveLength(3)
    const want = await referenceLosses(agents, a, 'ft', plan, 2, M)
    source.records.slice(0, 2).forEach((r, i) => expect(Math.abs(r.loss! - want[i]!) / want[i]!).toBeLessThan(1e-4))
    // every replica sends its all-reduce pieces (2 x (replicas - 1) per step) by grant; dev-a also its micro-batches to the others
    for (const d of devices) {
      expect(d.transfers.counts.grants).toBeGreaterThanOrEqual(2 * 2 * 2)
      expect(d.transfers.counts['at-once']).toBe(0)
      expect(d.air.stats.granted).toBe(d.transfers.counts.grants)
    }
    expect(errors).toEqual([])
  }, 120_000)

  it('data-parallel, checkpoints: one replica sends the replicated stage\'s checkpoint, one copy per step (the cost model and the simulator count one)', async () => {
    const errors: string[] = []
    const devices = await pipeline('grants', errors, ['dev-a', 'dev-b', 'dev-c'], 'data-parallel', 1)
    const a = devices[0]!
    const source = await a.startTraining('ft')
    await until(() => source.records.length >= 2 || null, 120_000, 'two steps')
    await a.stopTraining()
    expect(source.records.every((r) => r.ok && r.replicasAgree), JSON.stringify(errors)).toBe(true)
    const replicas = source.planOf(source.records[0]!.epoch)!.parts[0]!.stages[0]!.devices
    expect(replicas).toHaveLength(3)
    const ids = ['dev-a', 'dev-b', 'dev-c']
    const sender = devices[ids.indexOf(replicas[0]!)]!
    const params = sender.assignments.get('ft')!.stages[0]!.params!.length
    // the hub holds a whole checkpoint of a step (a newer one supersedes one not yet begun)
    const whole = () => [1, 2].some((step) => hub!.checkpoints!.takenAt('ft', step).get(replicas[0]!) === params)
    await until(() => whole() || null, 60_000, 'a whole checkpoint at the hub')
    // the stage's first replica sent it, and only it: one copy per step, every parameter once
    devices.forEach((d, i) => expect(d.training.state.counts.checkpoints > 0, ids[i]).toBe(ids[i] === replicas[0]))
    for (const step of [1, 2]) {
      const taken = [...hub!.checkpoints!.takenAt('ft', step)]
      if (taken.length) expect(taken).toEqual([[replicas[0], params]])
    }
    expect(hub!.checkpoints!.counts.refused).toBe(0)
    expect(errors).toEqual([])
  }, 240_000)

  it('with slots: activations and gradients go in each device\'s slots toward its receiver; the losses are unchanged', async () => {
    const errors: string[] = []
    const [a, b] = await pipeline('slots', errors)
    // the assignments carry each device's slots toward the other stage's device
    expect(a!.assignments.get('ft')!.slots.some((s) => s.to === 'dev-b')).toBe(true)
    expect(b!.assignments.get('ft')!.slots.some((s) => s.to === 'dev-a')).toBe(true)
    const r = await trainThree(a!, errors)
    expect(r.transfers).toBe('slots')
    r.losses.forEach((l, i) => expect(Math.abs(l - r.want[i]!) / r.want[i]!).toBeLessThan(1e-5))
    for (const d of [a!, b!]) {
      expect(d.transfers.counts.slots).toBeGreaterThanOrEqual(3 * M)
      expect(d.transfers.counts['at-once'] + d.transfers.counts.grants).toBe(0)
    }
    expect(errors).toEqual([])
  }, 120_000)
})
