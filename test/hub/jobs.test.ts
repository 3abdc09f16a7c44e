/** The hub runs configured jobs: plans on the online devices, new epochs as devices come and go. */
import { afterEach, describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import { cbor, heartbeat, startHub, until, stopHubAndClients } from '../helpers/hub.js'
import { jobDevice, type JobDevice } from '../helpers/job-device.js'
import type { Hub } from '../../src/hub/hub.js'
import { topics } from '../../src/protocol/topics.js'

const job = { id: 'vision', model: 'resnet18', rateRps: 2, goal: 'latency', qoe: { latencyMs: 2000 }, recostCron: '0 0 * * * *' }
let hub: Hub | null = null
const clients: MqttClient[] = []

afterEach(async () => {
  await stopHubAndClients(hub, clients)
  hub = null
})

async function device(id: string, patch = {}): Promise<JobDevice> {
  const d = await jobDevice(hub!, id, 'vision', patch)
  clients.push(d.client)
  return d
}

describe('hub jobs (runtime adapter in the service shell)', () => {
  it('plans a configured job on the devices that join, publishes the epoch and assignments, and moves off a device that leaves', async () => {
    hub = await startHub({ jobs: [job] })
    const a = await device('dev-a')
    const first = await until(() => a.epochs.at(-1), 8000, 'first plan epoch')
    expect(first).toMatchObject({ jobId: 'vision', epoch: expect.any(Number), emulated: true })
    expect(first.parts[0]!.stages.flatMap((s) => s.devices)).toEqual(expect.arrayContaining(['dev-a']))
    expect(first.parts[0]!.stages[0]!.nodes).not.toBeNull()
    const mine = await until(() => a.assignments.at(-1), 5000, 'assignment of dev-a')
    expect(mine.stages.length).toBeGreaterThan(0)
    // the plan runs the transfer mode predicted faster: in slots it carries its transfer cycle and
    // the assignment the device's own sending slots; at once, neither
    const slotted = first.parts[0]!.transfers === 'at-once' ? null : first.parts[0]!.schedule
    expect(first.parts[0]!.transfers).toMatch(/^(slots|at-once)$/)
    if (slotted) {
      expect(slotted).toMatchObject({ periodMs: expect.any(Number), cycleMs: expect.any(Number) })
      expect(mine.slots.length).toBeGreaterThan(0)
      expect(mine.slots[0]).toMatchObject({ planId: first.parts[0]!.planId, to: expect.any(String), offsetMs: expect.any(Number), bytes: expect.any(Number) })
    } else expect(mine.slots).toEqual([])
    // a much faster device joins: the job moves to it (a new epoch)
    const b = await device('dev-b', { compute: { cores: 8, flopsPerSec: { conv: 5e11, matmul: 5e11, elementwise: 1e11 }, accelerators: [] } })
    const second = await until(() => b.epochs.find((e) => e.epoch > first.epoch && e.parts.some((p) => p.stages.some((s) => s.devices.includes('dev-b')))), 8000, 'epoch using dev-b')
    // with slots, the new epoch starts on a period boundary of the old one
    if (slotted) {
      const k = (second.activateAtMs - first.activateAtMs) / slotted.cycleMs
      expect(k).toBeGreaterThanOrEqual(0)
      expect(Math.abs(k - Math.round(k))).toBeLessThan(1e-6)
    } else expect(second.activateAtMs).toBeGreaterThanOrEqual(first.activateAtMs)
    // dev-b drops off (last will): the next epoch runs without it, and dev-b's assignment is emptied
    b.client.stream.destroy()
    const third = await until(() => a.epochs.find((e) => e.epoch > second.epoch), 8000, 'epoch after dev-b left')
    expect(third.parts.every((p) => p.stages.every((s) => !s.devices.includes('dev-b')))).toBe(true)
    expect(third.reason).toMatch(/dev-b left/)
    expect(hub.jobs[0]!.lastReactionMs).toBeLessThan(5000)
  })

  it('re-plans when a device measures much slower than it was planned with', async () => {
    hub = await startHub({ jobs: [job] })
    const fast = { compute: { cores: 8, flopsPerSec: { conv: 5e11, matmul: 5e11, elementwise: 1e11 }, accelerators: [] } }
    const a = await device('dev-a', fast)
    const b = await device('dev-b')
    const first = await until(() => a.epochs.find((e) => e.parts.some((p) => p.stages.some((s) => s.devices.includes('dev-a')))), 8000, 'epoch on dev-a')
    const mine = await until(() => a.assignments.find((x) => x.epoch === first.epoch), 5000, 'assignment of dev-a')
    // dev-a reports its stages taking 20 s each (it is busy with something else); one report
    // counts at most 10x the prediction (hub/plausibility.ts), so it takes a few heartbeats
    for (let seq = 0; seq < 10 && !b.epochs.some((e) => e.epoch > first.epoch); seq++) {
      const timings = mine.stages.map((s) => ({ jobId: 'vision', stage: s.stage, meanMs: 20_000, count: 5 }))
      await a.client.publishAsync(topics.device('dev-a', 'heartbeat'), cbor(heartbeat(seq, { stageTimings: timings })), { qos: 1 })
      await new Promise((r) => setTimeout(r, 300))
    }
    const moved = await until(() => b.epochs.find((e) => e.epoch > first.epoch), 8000, 'epoch after the drift')
    expect(moved.reason).toMatch(/dev-a measured [\d.]+x the stage time it was planned with/)
    expect(moved.parts.some((p) => p.stages.some((s) => s.devices.includes('dev-b')))).toBe(true)
  })

  it('re-plans when a device\'s measured link falls far below the rate it was planned with', async () => {
    hub = await startHub({ jobs: [job] })
    const fast = { compute: { cores: 8, flopsPerSec: { conv: 5e11, matmul: 5e11, elementwise: 1e11 }, accelerators: [] } }
    const a = await device('dev-a', fast)
    const b = await device('dev-b', fast)
    // the plan both devices' joins led to (dev-b's join may come after the first epoch)
    await until(() => (hub!.jobs[0]?.lastDecision?.reason.includes('dev-b joined') ? true : undefined), 8000, "dev-b's join decided")
    const first = await until(() => a.epochs.find((e) => e.epoch === hub!.jobs[0]?.epoch?.epoch), 8000, 'the epoch after both joins')
    const onA = first.parts.some((p) => p.stages.some((s) => s.devices.includes('dev-a')))
    const slow = onA ? a : b
    const id = onA ? 'dev-a' : 'dev-b'
    for (let seq = 0; seq < 6; seq++) await slow.client.publishAsync(topics.device(id, 'heartbeat'), cbor(heartbeat(seq, { linkThroughputBps: 2e6 })), { qos: 1 })
    const moved = await until(() => a.epochs.find((e) => e.epoch > first.epoch), 8000, 'epoch after the link drift')
    expect(moved.reason).toMatch(new RegExp(`${id} link measured at [\\d.]+x the rate it was planned with`))
    expect(moved.parts.every((p) => p.stages.every((s) => !s.devices.includes(id)))).toBe(true)
  })

  it('a source reporting request latency over the bound makes the adapter re-judge the plans with it', async () => {
    // only the job's sources report its latencies (hub/plausibility.ts): dev-a is this job's source
    hub = await startHub({ jobs: [{ ...job, source: 'dev-a' }] })
    const a = await device('dev-a')
    const first = await until(() => a.epochs.at(-1), 8000, 'first epoch')
    const hb = heartbeat(1, { requestLatencies: [{ jobId: 'vision', meanMs: 2600, p95Ms: 4000, count: 20 }] })
    await a.client.publishAsync(topics.device('dev-a', 'heartbeat'), cbor(hb), { qos: 1 })
    const d = await until(() => hub!.jobs[0]!.lastDecision?.reason.includes('measured 2600 ms per request') && hub!.jobs[0]!.lastDecision, 8000, 'the adapter to run on the measurement')
    expect(d.reason).toMatch(new RegExp(`predicted ${Math.round(first.predicted.latencyMs)} ms, bound 2000 ms`))
    // one device and a measured latency 2600 ms: no plan can meet 2000 ms as measured
    expect(d.action).toBe('infeasible')
  })

  it('publishes the predicted energy of each job on the energy schedule', async () => {
    hub = await startHub({ jobs: [job], hub: { energyCron: '* * * * * *' } })
    const a = await device('dev-a')
    await until(() => a.epochs.at(-1), 8000, 'first plan epoch')
    const summaries: Array<{ predicted: boolean; jobs: Array<{ jobId: string; predictedJ: number; epochs: number }> }> = []
    a.client.on('message', (topic, payload) => topic === topics.hubEnergy && summaries.push(JSON.parse(payload.toString())))
    await a.client.subscribeAsync(topics.hubEnergy, { qos: 1 })
    const s = await until(() => summaries.find((x) => x.jobs[0]!.predictedJ > 0), 6000, 'an energy summary')
    expect(s.predicted).toBe(true)
    expect(s.jobs[0]!.jobId).toBe('vision')
  })

  it('refuses to start with a job whose model cannot be loaded, naming it', async () => {
    await expect(startHub({ jobs: [{ ...job, model: 'no-such-model.onnx' }] })).rejects.toThrow(/cannot start the configured jobs: .*no-such-model\.onnx/)
  })

  it('a job config with neither rate nor sources is a config error', async () => {
    await expect(startHub({ jobs: [{ id: 'x', model: 'mlp', goal: 'latency' }] })).rejects.toThrow(/jobs\.0\.rateRps.*required/)
  })
})
