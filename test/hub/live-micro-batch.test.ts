/**
 * A prediction is a promise: the device runtime runs each inference request as one sample (no
 * batching), so the hub plans live inference jobs with micro-batch 1, also for a throughput goal
 * (where `dora plan` would batch by 4), and its drift check compares a device's single-sample
 * stage time with a single-sample prediction.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import { startHub, until, stopHubAndClients } from '../helpers/hub.js'
import { jobDevice } from '../helpers/job-device.js'
import type { Hub } from '../../src/hub/hub.js'
import { liveBatchNote } from '../../src/cli/plan-command.js'
import { runtimeMicroBatch, runtimeMicroBatches } from '../../src/planner/cost.js'
import type { Job, Plan } from '../../src/planner/types.js'

const job = { id: 'vision', model: 'resnet18', rateRps: 2, goal: 'latency', qoe: { latencyMs: 5000 }, recostCron: '0 0 * * * *' }
let hub: Hub | null = null
const clients: MqttClient[] = []

afterEach(async () => {
  await stopHubAndClients(hub, clients)
  hub = null
})

describe('live inference plans run micro-batch 1', () => {
  it('a throughput-goal inference job (set by setGoal) publishes epochs whose plans have micro-batch 1', async () => {
    hub = await startHub({ jobs: [job] })
    const devices = await Promise.all(['dev-a', 'dev-b'].map((id) => jobDevice(hub!, id, 'vision')))
    clients.push(...devices.map((d) => d.client))
    const a = devices[0]!
    const first = await until(() => a.epochs.at(-1), 8000, 'first plan epoch')
    expect(hub.jobs[0]!.setGoal('throughput')).toBeNull()
    const after = await until(() => a.epochs.find((e) => e.epoch > first.epoch && /goal set to throughput/.test(e.reason)), 20_000, 'an epoch planned for throughput')
    expect(after.parts.length).toBeGreaterThan(0)
    for (const p of after.parts) expect(p.microBatch, `plan ${p.planId}`).toBe(1)
  }, 40_000)

  it('so does a hub running the hybrid-dp baseline (which batches by 4 offline) for a throughput goal', async () => {
    hub = await startHub({ jobs: [{ ...job, goal: 'throughput', qoe: {}, planner: 'hybrid-dp' }] })
    const devices = await Promise.all(['dev-a', 'dev-b'].map((id) => jobDevice(hub!, id, 'vision')))
    clients.push(...devices.map((d) => d.client))
    const first = await until(() => devices[0]!.epochs.at(-1), 8000, 'first plan epoch')
    expect(first.parts[0]!.planId).toMatch(/^hybrid-dp/)
    for (const p of first.parts) expect(p.microBatch, `plan ${p.planId}`).toBe(1)
  }, 40_000)
})

describe('what the runtime executes, said offline', () => {
  const inference = { model: { name: 'm', layers: [], boundaryBytes: [0] }, training: undefined } as unknown as Job
  const training = { ...inference, training: { microBatchesPerStep: 4, optimizerStateFactor: 2 } } as unknown as Job
  const plan = (microBatch: number): Plan => ({ id: 'p', stages: [], microBatch, planner: 'dora' })
  it('inference runs one sample a run whatever the plan says; training runs its micro-batch', () => {
    expect(runtimeMicroBatches(inference)).toEqual([1])
    expect(runtimeMicroBatches(training)).toBeUndefined()
    expect(runtimeMicroBatch(inference, plan(4))).toBe(1)
    expect(runtimeMicroBatch(training, plan(4))).toBe(4)
  })
  it('`dora plan`/`dora simulate` say when an inference plan batches what the live runtime does not', () => {
    expect(liveBatchNote(inference, [plan(1), plan(4)])).toMatch(/batch 4 is an offline what-if.*micro-batch 1/)
    expect(liveBatchNote(inference, [plan(1)])).toBeNull()
    expect(liveBatchNote(training, [plan(4)])).toBeNull()
  })
})
