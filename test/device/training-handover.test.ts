/**
 * A replicated training stage hands its state over from ONE replica (issue 15): data parallelism
 * on dev-a and dev-b, then dev-c joins and the hub re-plans (the stage on three replicas; dev-c
 * restores the state from the hub). At the new epoch's first step only the stage's handover
 * sender (protocol/checkpoint.ts handoverSender: its first replica) sends its state; the other
 * replica, which holds the same state after the all-reduce, sends none (before, both did: twice
 * the bytes on the air). The hub waits for that one handover, reports its bytes, and dev-c's
 * restore comes from it; the replicas still agree. Real hub, Aedes, device agents, onnxruntime.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { DEVICE_PASSWORD, deviceUrl, startHub, until } from '../helpers/hub.js'
import type { Hub } from '../../src/hub/hub.js'
import { smallBoard } from '../helpers/devices.js'
import { stopTrainingFleet } from '../helpers/training.js'

let hub: Hub | null = null
const agents: DeviceAgent[] = []

afterEach(async () => {
  await stopTrainingFleet(agents, hub)
  hub = null
})

const M = 4

async function device(id: string, errors: string[]): Promise<DeviceAgent> {
  const a = new DeviceAgent({ url: deviceUrl(hub!), id, password: DEVICE_PASSWORD, profile: smallBoard(id, { memoryBytes: 2e9, flopsPerSec: { conv: 1e12, matmul: 1e12, elementwise: 1e12 } }), heartbeatMs: 200, cacheDir: mkdtempSync(join(tmpdir(), 'dora-models-')), onError: (m) => errors.push(`${id}: ${m}`) })
  agents.push(a)
  await a.start()
  return a
}

describe('a replicated stage hands its state over once', () => {
  it('a new epoch: one replica sends the stage\'s state, the other none; the new replica restores it from the hub', async () => {
    const errors: string[] = []
    hub = await startHub({
      auth: { devices: ['dev-a', 'dev-b', 'dev-c'].map((id) => ({ id, password: DEVICE_PASSWORD })) },
      // no periodic checkpoints: every checkpoint sent is a handover
      jobs: [{ id: 'ft', model: 'bert-tiny', rateRps: 10, goal: 'throughput', source: 'dev-a', planner: 'data-parallel', training: { microBatchesPerStep: M, optimizerStateFactor: 2, checkpointEverySteps: 0 }, qoe: { throughputRps: 0.1 }, recostCron: '0 0 * * * *' }],
    })
    const [a, b] = [await device('dev-a', errors), await device('dev-b', errors)]
    await until(() => [a, b].every((x) => x.assignments.get('ft')?.stages.length) || null, 20_000, 'assignments')
    const source = await a.startTraining('ft')
    await until(() => source.records.length >= 2 || null, 60_000, 'two steps')
    const first = source.records[0]!
    const replicas = source.planOf(first.epoch)!.parts[0]!.stages[0]!.devices
    expect([...replicas].sort()).toEqual(['dev-a', 'dev-b'])
    const c = await device('dev-c', errors)
    await until(() => source.records.filter((r) => r.ok && source.planOf(r.epoch)?.parts[0]!.stages[0]!.devices.includes('dev-c')).length >= 2 || null, 90_000, `two steps with dev-c (${errors.slice(-3).join(' | ')})`)
    await a.stopTraining()
    // every step succeeds with its replicas in agreement, the first with dev-c too (its micro-batches
    // once came before its plan and went to the inference executor: test/device/tensor-router.test.ts)
    expect(source.records.filter((r) => !(r.ok && r.replicasAgree)), JSON.stringify(errors)).toEqual([])
    const byId = new Map([['dev-a', a], ['dev-b', b], ['dev-c', c]])
    const sender = byId.get(replicas[0]!)!
    const other = byId.get(replicas[1]!)!
    // the handover to the epoch with dev-c: one checkpoint from the first replica, none from the other
    expect(sender.training.state.counts.checkpoints).toBeGreaterThanOrEqual(1)
    expect(other.training.state.counts.handoversLeft).toBeGreaterThanOrEqual(1)
    // (dev-c never leads the replicas here; the other old replica never sends)
    const epochs = [...new Set(source.records.map((r) => r.epoch))]
    const firsts = new Set(epochs.map((e) => source.planOf(e)!.parts[0]!.stages[0]!.devices[0]))
    if (!firsts.has(replicas[1]!)) expect(other.training.state.counts.checkpoints).toBe(0)
    // the hub waited for the sender's handover alone, and reports its bytes: half what both replicas sending would put on the air
    const svc = hub.jobs.find((j) => j.id === 'ft')!
    const h = svc.handover.last!
    expect(h.senders).toEqual([replicas[0]])
    expect(h.allReplicasBytes).toBe(2 * h.toHubBytes)
    expect(h.toHubBytes).toBeGreaterThan(0)
    expect(hub.checkpoints!.counts.handovers).toBeGreaterThanOrEqual(1)
    // dev-c took the stage's state from the hub (the sender's handover), as of the step it started at
    const withC = source.records.find((r) => source.planOf(r.epoch)!.parts[0]!.stages[0]!.devices.includes('dev-c'))!
    expect(c.training.state.restores.some((r) => r.step === withC.step && r.params > 0 && r.oldest === withC.step), JSON.stringify(c.training.state.restores)).toBe(true)
    expect(errors).toEqual([])
  }, 240_000)
})
