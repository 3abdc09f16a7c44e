/** Jobs with several sources (cameras): local routing on stage 0, the partitioner's local group, the simulator. */
import { describe, expect, it } from 'vitest'
import { predict } from '../../src/planner/cost.js'
import type { Fleet, Job, ModelProfile } from '../../src/planner/types.js'
import { planRouting } from '../../src/planner/routing.js'
import { partition } from '../../src/planner/partition.js'
import { simulate } from '../../src/sim/simulate.js'
import { scenarioSchema } from '../../src/scenario/schema.js'
import { scheduledWifi5, testDevice } from '../helpers/planner.js'

// a model whose input is large and shrinks after the first layer (a detector's stem)
const model: ModelProfile = {
  name: 'stem', layers: [
    { flops: { conv: 2e8, matmul: 0, elementwise: 0 }, paramBytes: 1e5, peakActivationBytes: 1e6 },
    { flops: { conv: 4e9, matmul: 0, elementwise: 0 }, paramBytes: 1e7, peakActivationBytes: 1e6 },
  ], boundaryBytes: [4e6, 5e5, 1e3],
}
const cams = ['cam-a', 'cam-b', 'cam-c'].map((id) => testDevice(id, 5))
const fleet: Fleet = { devices: new Map([...cams, testDevice('box', 200, { linkRateBps: null })].map((d) => [d.id, d])) }
const job: Job = {
  id: 'j', model, rateRps: 3, qoe: { latencyMs: 400 }, goal: 'latency', sourceDevice: null,
  sources: [{ device: 'cam-a', share: 0.5 }, { device: 'cam-b', share: 0.25 }, { device: 'cam-c', share: 0.25 }],
}

describe('several sources', () => {
  it('keeps a source\'s requests on itself when every stage-0 replica is a source; else spreads them by capacity', () => {
    const local = planRouting({ id: 'l', planner: 't', microBatch: 1, stages: [{ layers: [0, 2], devices: ['cam-a', 'cam-b'] }] }, job, fleet)
    // cam-a and cam-b keep their own; cam-c holds no replica and spreads by speed (equal cameras)
    expect(local.weights.map((w) => w[0])).toEqual([[1, 0], [0, 1], [0.5, 0.5]])
    const mixed = planRouting({ id: 'm', planner: 't', microBatch: 1, stages: [{ layers: [0, 2], devices: ['cam-a', 'box'] }] }, { ...job, sources: undefined, sourceDevice: 'cam-a' }, fleet)
    // the box is 40x a camera: a source that is a replica beside it sends it 40/41 of its frames
    expect(mixed.weights[0]![0]![1]).toBeCloseTo(40 / 41, 2)
  })

  it('cameras running the stem on their own frames send the small activation, not the frame', () => {
    const local = predict({ id: 'l', planner: 't', microBatch: 1, stages: [{ layers: [0, 1], devices: ['cam-a', 'cam-b', 'cam-c'] }, { layers: [1, 2], devices: ['box'] }] }, job, fleet, scheduledWifi5)
    const central = predict({ id: 'c', planner: 't', microBatch: 1, stages: [{ layers: [0, 2], devices: ['box'] }] }, job, fleet, scheduledWifi5)
    expect(local.airtimeMsPerRequest).toBeLessThan(central.airtimeMsPerRequest / 4)
    // cam-a takes half the requests: it, not the sum of the cameras' speeds, bounds stage 0
    const camAms = 1000 * (2e8 / 5e9)
    expect(local.capacityRps).toBeCloseTo(Math.min(1000 / camAms / 0.5, 1 / (local.airtimeMsPerRequest / 1000)), 3)
  })

  it('the partitioner puts the stem on the cameras, and the simulator agrees with the cost model', () => {
    const res = partition(job, fleet, { network: scheduledWifi5 })
    expect(res.ok).toBe(true)
    if (!res.ok) return
    expect(res.chosen.plan.stages[0]!.devices).toEqual(['cam-a', 'cam-b', 'cam-c'])
    const r = simulate(res.chosen.plan, job, fleet, scheduledWifi5, { durationS: 600, warmupS: 10, seed: 2, computeJitter: 0.05 })
    expect(r.latencyMs / res.chosen.prediction.latencyMs).toBeGreaterThan(0.85)
    expect(r.latencyMs / res.chosen.prediction.latencyMs).toBeLessThan(1.15)
    expect(r.qoeMet).toBe(true)
  })

  it('charges the results to where they go: the hub (wired) or each camera (its air); the scheduler and the simulator agree', async () => {
    const { scheduleTransfers } = await import('../../src/planner/network/scheduler.js')
    // the whole model on the box, with large results (raw heads) to make the difference plain
    const heavy: ModelProfile = { ...model, boundaryBytes: [4e6, 5e5, 2e6] }
    const plan = { id: 'c', planner: 't', microBatch: 1, stages: [{ layers: [0, 2] as [number, number], devices: ['box'] }] }
    const toHub = { ...job, model: heavy, resultsTo: { device: null } } as const
    const toCams = { ...job, model: heavy, resultsTo: 'source' } as const
    expect(planRouting(plan, toHub, fleet).consumers).toEqual([null, null, null])
    expect(planRouting(plan, toCams, fleet).consumers.map((d) => d?.id)).toEqual(['cam-a', 'cam-b', 'cam-c'])
    const hub = predict(plan, toHub, fleet, scheduledWifi5)
    const cams = predict(plan, toCams, fleet, scheduledWifi5)
    // results to the hub cross no air: only the frames do; back to the cameras they add their bytes' air
    expect(hub.airtimeMsPerRequest).toBeLessThan(cams.airtimeMsPerRequest * 0.75)
    expect(hub.latencyMs).toBeLessThan(cams.latencyMs)
    // the network scheduler moves the results to the same place
    const sHub = scheduleTransfers(plan, toHub, fleet, scheduledWifi5)
    const sCams = scheduleTransfers(plan, toCams, fleet, scheduledWifi5)
    expect(sHub.ok && sCams.ok).toBe(true)
    if (sHub.ok && sCams.ok) expect(sHub.schedule.latencyMs).toBeLessThan(sCams.schedule.latencyMs)
    // the simulator sends them where the cost model charges them: its air agrees within 5%
    for (const [j, p] of [[toHub, hub], [toCams, cams]] as const) {
      const r = simulate(plan, j, fleet, scheduledWifi5, { durationS: 600, warmupS: 10, seed: 3, computeJitter: 0.05 })
      expect(r.airBusyFraction / ((p.airtimeMsPerRequest / 1000) * j.rateRps)).toBeGreaterThan(0.95)
      expect(r.airBusyFraction / ((p.airtimeMsPerRequest / 1000) * j.rateRps)).toBeLessThan(1.05)
      expect(r.latencyMs / p.latencyMs).toBeGreaterThan(0.85)
      expect(r.latencyMs / p.latencyMs).toBeLessThan(1.15)
    }
    // the partitioner charges them the same way: with results to the hub its chosen plan predicts no more air than with results to the cameras
    const a = partition(toHub, fleet, { network: scheduledWifi5 })
    const b = partition(toCams, fleet, { network: scheduledWifi5 })
    expect(a.ok && b.ok).toBe(true)
    if (a.ok && b.ok) expect(a.chosen.prediction.airtimeMsPerRequest).toBeLessThanOrEqual(b.chosen.prediction.airtimeMsPerRequest)
  })

  it('a scenario names wrong sources and rates', () => {
    const base = { name: 's', network: { standard: 'wifi5' }, devices: cams.map((d) => ({ ...d, emulated: undefined })), job: { id: 'j', model: 'mlp', goal: 'latency' } }
    const bad = scenarioSchema.safeParse({ ...base, job: { ...base.job, rateRps: 9, sources: [{ device: 'cam-a', rateRps: 1 }, { device: 'ghost', rateRps: 1 }, { device: 'cam-a', rateRps: 1 }] } })
    expect(bad.success).toBe(false)
    const text = JSON.stringify(bad.error?.issues.map((i) => [i.path.join('.'), i.message]))
    expect(text).toMatch(/job.sources.1.device.*no device ghost/)
    expect(text).toMatch(/cam-a is listed twice/)
    expect(text).toMatch(/job.rateRps.*sources add up to 3/)
    expect(scenarioSchema.safeParse({ ...base, job: { ...base.job, sources: [{ device: 'cam-a', rateRps: 1 }] } }).success).toBe(true)
    expect(scenarioSchema.safeParse(base).success).toBe(false)
  })
})

describe('sources that leave', () => {
  it('send nothing: the others keep their rates; no source left, nothing to serve', async () => {
    const { jobForFleet } = await import('../../src/planner/types.js')
    const j = jobForFleet(job, new Set(['cam-a', 'cam-b', 'box']))!
    expect(j.rateRps).toBeCloseTo(3 * 0.75, 9)
    expect(j.sources!.map((x) => [x.device, Number(x.share.toFixed(4))])).toEqual([['cam-a', 0.6667], ['cam-b', 0.3333]])
    expect(jobForFleet(job, new Set(['box']))).toBeNull()
    expect(jobForFleet({ ...job, sources: undefined, sourceDevice: 'cam-a' }, new Set(['box']))).toBeNull()
    expect(jobForFleet({ ...job, sources: undefined, sourceDevice: null }, new Set())).not.toBeNull()
  })
})

describe('the run routes as the cost model does', () => {
  it('a source that is a stage-0 replica beside a non-source spreads by the shares; cameras that all hold stage 0 keep their own', async () => {
    const { Router } = await import('../../src/runtime/route.js')
    type Epoch = Parameters<InstanceType<typeof Router>['route']>[0]
    const epoch = (devices: string[], shares: number[]) => ({ epoch: 1, sources: ['cam-a', 'cam-b'], parts: [{ planId: 'p', weight: 1, stages: [{ devices, shares }] }] }) as unknown as Epoch
    const spread = new Router('cam-a')
    const picks = Array.from({ length: 40 }, () => spread.route(epoch(['cam-a', 'box'], [0.25, 0.75])).devices[0])
    expect(picks.filter((d) => d === 'box').length).toBe(30)
    const local = new Router('cam-a')
    expect(new Set(Array.from({ length: 10 }, () => local.route(epoch(['cam-a', 'cam-b'], [0.5, 0.5])).devices[0]))).toEqual(new Set(['cam-a']))
  })
})
