/**
 * Training jobs run for real (issue 6): a real hub and Aedes broker on loopback, device agents
 * running forward and backward stage models in onnxruntime, activations and gradients in CBOR
 * chunks over MQTT, a ring all-reduce among replicas, Adam on every device. The losses of every
 * step must equal the same training run in one process on the same micro-batches.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { DEVICE_PASSWORD, deviceUrl, startHub, until } from '../helpers/hub.js'
import type { Hub } from '../../src/hub/hub.js'
import type { PlanEpochPayload } from '../../src/protocol/payloads.js'
import { smallBoard } from '../helpers/devices.js'
import { referenceLosses, stopTrainingFleet } from '../helpers/training.js'

let hub: Hub | null = null
const agents: DeviceAgent[] = []

afterEach(async () => {
  await stopTrainingFleet(agents, hub)
  hub = null
})

const M = 4

async function fleet(ids: string[], planner: string, errors: string[]): Promise<DeviceAgent[]> {
  hub = await startHub({
    auth: { devices: ids.map((id) => ({ id, password: DEVICE_PASSWORD })) },
    jobs: [{ id: 'ft', model: 'bert-tiny', rateRps: 10, goal: 'throughput', source: ids[0], planner, training: { microBatchesPerStep: M, optimizerStateFactor: 2 }, qoe: { throughputRps: 0.1 }, recostCron: '0 0 * * * *' }],
  })
  const out: DeviceAgent[] = []
  for (const id of ids) {
    // fast boards: the test checks the numbers, not the emulated timing
    const a = new DeviceAgent({ url: deviceUrl(hub), id, password: DEVICE_PASSWORD, profile: smallBoard(id, { memoryBytes: 2e9, flopsPerSec: { conv: 1e12, matmul: 1e12, elementwise: 1e12 } }), heartbeatMs: 200, cacheDir: mkdtempSync(join(tmpdir(), 'dora-models-')), onError: (m) => errors.push(`${id}: ${m}`) })
    agents.push(a)
    await a.start()
    out.push(a)
  }
  await until(() => out.every((a) => a.assignments.get('ft')) && out.some((a) => a.assignments.get('ft')!.stages.length) || null, 20_000, 'assignments')
  return out
}

/** The same steps in one process, from the same stage model files: each step's mean loss. */
const reference = (a: DeviceAgent, plan: PlanEpochPayload, steps: number) => referenceLosses(agents, a, 'ft', plan, steps, M)

describe('training over MQTT', () => {
  it('a pipeline of two devices trains step by step as one process would (1F1B, gradients back over MQTT)', async () => {
    const errors: string[] = []
    const [a, b] = await fleet(['dev-a', 'dev-b'], 'equal-split', errors)
    const source = await a!.startTraining('ft')
    await until(() => source.records.length >= 3 || null, 60_000, 'three steps')
    await a!.stopTraining()
    const plan = source.planOf(source.records[0]!.epoch)!
    expect(plan.parts[0]!.stages.map((s) => s.devices)).toEqual([['dev-a'], ['dev-b']])
    expect(source.records.every((r) => r.ok), JSON.stringify(errors)).toBe(true)
    const want = await reference(a!, plan, 3)
    source.records.slice(0, 3).forEach((r, i) => expect(Math.abs(r.loss! - want[i]!) / want[i]!).toBeLessThan(1e-5))
    // the parameters moved: later steps' losses differ from the first
    expect(want[2]).not.toBe(want[0])
    for (const d of [a!, b!]) expect(d.training.counts.forwards).toBeGreaterThanOrEqual(3 * M)
    expect(b!.training.counts.backwards).toBeGreaterThanOrEqual(3 * M)
    expect(errors).toEqual([])
  }, 120_000)

  it('a device killed mid-training: the step it held is given up, the next steps run on the new plan', async () => {
    const errors: string[] = []
    const [a, , c] = await fleet(['dev-a', 'dev-b', 'dev-c'], 'equal-split', errors)
    const source = await a!.startTraining('ft', { minStepTimeoutMs: 10_000 })
    await until(() => source.records.length >= 1 || null, 60_000, 'a first step')
    const first = source.records[0]!
    expect(source.planOf(first.epoch)!.parts[0]!.stages.flatMap((s) => s.devices)).toContain('dev-c')
    c!.crash()
    await until(() => source.records.some((r) => r.ok && r.epoch > first.epoch) || null, 60_000, `a step on a later epoch (${JSON.stringify(source.records)}; ${errors.slice(-3).join(' | ')})`)
    await a!.stopTraining()
    const later = source.records.filter((r) => r.epoch > first.epoch)
    expect(source.planOf(later[0]!.epoch)!.parts[0]!.stages.flatMap((s) => s.devices)).not.toContain('dev-c')
    // any step that failed failed for the departure, not by silence
    for (const r of source.records.filter((x) => !x.ok)) expect(r.epoch, `${JSON.stringify(source.records)} ${errors.slice(-6).join(" | ")}`).toBe(first.epoch)
    expect(errors.filter((e) => /did not finish within/.test(e))).toEqual([])
  }, 120_000)

  it('replicas all-reduce their gradients in a ring: equal parameters on every replica, the whole batch\'s mean gradient', async () => {
    const errors: string[] = []
    const [a, b, c] = await fleet(['dev-a', 'dev-b', 'dev-c'], 'data-parallel', errors)
    const source = await a!.startTraining('ft')
    await until(() => source.records.length >= 2 || null, 60_000, 'two steps')
    await a!.stopTraining()
    const plan = source.planOf(source.records[0]!.epoch)!
    expect(plan.parts[0]!.stages).toHaveLength(1)
    expect(plan.parts[0]!.stages[0]!.devices.length).toBe(3)
    expect(source.records.every((r) => r.ok && r.replicasAgree), JSON.stringify(errors)).toBe(true)
    // every replica ran micro-batches
    for (const d of [a!, b!, c!]) expect(d.training.counts.forwards).toBeGreaterThan(0)
    const want = await reference(a!, plan, 2)
    source.records.slice(0, 2).forEach((r, i) => expect(Math.abs(r.loss! - want[i]!) / want[i]!).toBeLessThan(1e-4))
    expect(errors).toEqual([])
  }, 120_000)
})
