/** Training jobs: the 1F1B cost model, the training simulator, the partitioner and the hybrid DP baseline. */
import { describe, expect, it } from 'vitest'
import { airSeconds, compliance, hopsBetween, predict, stageComputeMs } from '../../src/planner/cost.js'
import type { Fleet, Job, ModelProfile, Plan } from '../../src/planner/types.js'
import { allReduceHops, trainingStageMs } from '../../src/planner/training.js'
import { partition } from '../../src/planner/partition.js'
import { hybridDp } from '../../src/planner/baselines/hybrid-dp.js'
import { pipeEdge } from '../../src/planner/baselines/stage-dp.js'
import { simulate } from '../../src/sim/simulate.js'
import { checkpointBytes, simulateTraining } from '../../src/planner/replay/training.js'
import { chooseTransferMode } from '../../src/planner/adapt/transfer-mode.js'
import { freeWiresWifi5, scheduledWifi5, testDevice } from '../helpers/planner.js'

const layer = { flops: { conv: 1e9, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e5, activationBytes: 3e5 }
const model = (layers: number, paramBytes = 1e6, boundary = 1e5): ModelProfile => ({
  name: 'uniform', layers: Array.from({ length: layers }, () => ({ ...layer, paramBytes })), boundaryBytes: Array(layers + 1).fill(boundary),
})
const job = (m: ModelProfile, patch: Partial<Job> = {}): Job => ({
  id: 't', model: m, rateRps: 1, qoe: {}, goal: 'throughput', sourceDevice: null, training: { microBatchesPerStep: 8, optimizerStateFactor: 2 }, ...patch,
})
const wired = (id: string, g = 10) => testDevice(id, g, { linkRateBps: null })
const fleetOf = (...ds: ReturnType<typeof testDevice>[]): Fleet => ({ devices: new Map(ds.map((d) => [d.id, d])) })
const plan = (stages: Plan['stages'], microBatch = 1): Plan => ({ id: 'p', stages, microBatch, planner: 'test' })
const sim = { durationS: 120, warmupS: 10, seed: 3, computeJitter: 0 }

describe('training cost model', () => {
  it('forward + backward costs three forward passes plus the overhead twice', () => {
    const d = testDevice('x', 10, { stageOverheadMs: 2 })
    const j = job(model(2))
    expect(trainingStageMs(j, d, [0, 2], 1)).toBeCloseTo(2 * 2 + 3 * 200, 9)
    expect(trainingStageMs(j, d, [0, 2], 1)).toBeCloseTo(3 * stageComputeMs(j, d, [0, 2], 1) - 2, 9)
  })

  it('equal stages on free (wired) links take the textbook (M + S - 1) t per step', () => {
    const f = fleetOf(wired('a'), wired('b'), wired('c'), wired('d'))
    const p = predict(plan([{ layers: [0, 1], devices: ['a'] }, { layers: [1, 2], devices: ['b'] }, { layers: [2, 3], devices: ['c'] }, { layers: [3, 4], devices: ['d'] }]), job(model(4)), f, freeWiresWifi5)
    const t = 300 // 100 ms forward + 200 ms backward per stage
    expect(p.latencyMs).toBeCloseTo((8 + 4 - 1) * t, 6)
    expect(p.throughputRps).toBeCloseTo(8 / (((8 + 4 - 1) * t) / 1000), 6)
  })

  it('1F1B stashes min(S - k, M) micro-batches on stage k; weights carry gradients and optimizer state', () => {
    const f = fleetOf(wired('a'), wired('b'), wired('c'))
    const p = predict(plan([{ layers: [0, 1], devices: ['a'] }, { layers: [1, 2], devices: ['b'] }, { layers: [2, 3], devices: ['c'] }], 2), job(model(3)), f, scheduledWifi5)
    const weights = 1e6 * (2 + 2)
    expect(p.memoryBytes).toEqual({ a: weights + 3 * 2 * 3e5, b: weights + 2 * 2 * 3e5, c: weights + 1 * 2 * 3e5 })
  })

  it('a ring all-reduce puts 4 (m - 1) W bytes on the air among m wireless replicas', () => {
    const reps = ['a', 'b', 'c', 'd'].map((id) => testDevice(id, 10))
    const hops = allReduceHops(reps, 1e6)
    expect(hops.reduce((s, h) => s + h.bytes, 0)).toBeCloseTo(4 * 3 * 1e6, 3)
    expect(allReduceHops(reps.slice(0, 1), 1e6)).toEqual([])
  })

  it('replicating a stage with large weights costs synchronisation air and can lose to one device', () => {
    const f = fleetOf(testDevice('a', 10), testDevice('b', 10))
    const heavy = job(model(2, 200e6))
    const one = predict(plan([{ layers: [0, 2], devices: ['a'] }]), heavy, f, scheduledWifi5)
    const two = predict(plan([{ layers: [0, 2], devices: ['a', 'b'] }]), heavy, f, scheduledWifi5)
    expect(two.throughputRps).toBeLessThan(one.throughputRps)
    const light = job(model(2, 1e3))
    expect(predict(plan([{ layers: [0, 2], devices: ['a', 'b'] }]), light, f, scheduledWifi5).throughputRps)
      .toBeGreaterThan(1.6 * predict(plan([{ layers: [0, 2], devices: ['a'] }]), light, f, scheduledWifi5).throughputRps)
  })
})

describe('training simulator', () => {
  it('matches the (M + S - 1) t step on free links without jitter', () => {
    const f = fleetOf(wired('a'), wired('b'), wired('c'))
    const p = plan([{ layers: [0, 1], devices: ['a'] }, { layers: [1, 2], devices: ['b'] }, { layers: [2, 3], devices: ['c'] }])
    const r = simulate(p, job(model(3)), f, freeWiresWifi5, sim)
    expect(r.emulated).toBe(true)
    expect(r.latencyMs).toBeCloseTo((8 + 3 - 1) * 300, 3)
    expect(r.throughputRps).toBeGreaterThan(0.9 * (8 / 3))
  })

  it('agrees with the cost model within 10% on a wireless pipeline with replicas and synchronisation', () => {
    const f = fleetOf(testDevice('a', 10), testDevice('b', 20), testDevice('c', 20))
    const j = job(model(4, 5e6, 4e5))
    const p = plan([{ layers: [0, 2], devices: ['a'] }, { layers: [2, 4], devices: ['b', 'c'] }], 2)
    const predicted = predict(p, j, f, scheduledWifi5)
    const r = simulate(p, j, f, scheduledWifi5, sim)
    expect(r.latencyMs / predicted.latencyMs).toBeGreaterThan(0.9)
    expect(r.latencyMs / predicted.latencyMs).toBeLessThan(1.1)
    expect(r.energyJPerRequest / predicted.energyJPerRequest).toBeGreaterThan(0.85)
    expect(r.energyJPerRequest / predicted.energyJPerRequest).toBeLessThan(1.15)
  })
})

describe('training checkpoints (every stage sends 3 x its parameters to the hub every k steps, from one replica)', () => {
  const f = fleetOf(testDevice('a', 10), testDevice('b', 20))
  const p = plan([{ layers: [0, 2], devices: ['a'] }, { layers: [2, 4], devices: ['b'] }], 2)
  const withEvery = (every: number) => job(model(4, 5e6, 4e5), { training: { microBatchesPerStep: 8, optimizerStateFactor: 2, checkpointEverySteps: every } })

  it('the cost model counts them: its mean and p95 step agree with the simulator over many checkpoint periods', () => {
    const off = predict(p, withEvery(0), f, scheduledWifi5)
    for (const every of [5, 10]) {
      const j = withEvery(every)
      const predicted = predict(p, j, f, scheduledWifi5)
      // 30 MB of state on a's and b's links: the step after a checkpoint waits for it on the air
      expect(predicted.p95LatencyMs).toBeGreaterThan(off.latencyMs + 400)
      expect(predicted.latencyMs).toBeCloseTo(off.latencyMs + (predicted.p95LatencyMs - off.latencyMs) / every, 6)
      expect(predicted.airtimeMsPerRequest).toBeGreaterThan(off.airtimeMsPerRequest)
      // ten whole checkpoint periods (steps 1 to 10 x every, each period's checkpoint step in)
      const r = simulateTraining(p, j, f, scheduledWifi5, { durationS: 1e9, warmupS: 1e-9, seed: 3, computeJitter: 0, maxSteps: 1 + 10 * every })
      expect(r.latencyMs / predicted.latencyMs).toBeCloseTo(1, 3)
      expect(r.p95LatencyMs / predicted.p95LatencyMs).toBeCloseTo(1, 3)
      // and the simulator's own run of many steps (its window cuts periods: within 2%)
      const long = simulate(p, j, f, scheduledWifi5, { ...sim, durationS: (60 * every * predicted.latencyMs) / 1000 })
      expect(Math.abs(long.latencyMs / predicted.latencyMs - 1)).toBeLessThan(0.02)
    }
    // the slots' prediction (the training schedule) counts them as the cost model does
    for (const every of [10, 50]) {
      const j = withEvery(every)
      // (against the one-at-a-time replay: at once the stations share the air, training-at-once.test.ts)
      const queued = predict(p, j, f, scheduledWifi5)
      const m = chooseTransferMode(p, j, f, scheduledWifi5, queued, 0)
      expect(m.slots!.latencyMs).toBeCloseTo(queued.latencyMs, 6)
      // p95: the checkpoint's step while they are over 5% of the steps, else an ordinary one's (plus the compute jitter's share)
      expect(m.slots!.p95LatencyMs / queued.p95LatencyMs).toBeGreaterThanOrEqual(1)
      expect(m.slots!.p95LatencyMs / queued.p95LatencyMs).toBeLessThan(1.05)
    }
    // a plan whose checkpoints need more air than its steps last (nothing of a step waits for them: the data is on its device) cannot keep their cadence: not compliant
    const one = plan([{ layers: [0, 4], devices: ['a'] }], 2)
    const heavy = job(model(4, 200e6, 4e5), { sourceDevice: 'a', training: { microBatchesPerStep: 8, optimizerStateFactor: 2, checkpointEverySteps: 1 } })
    const q = predict(one, heavy, f, scheduledWifi5)
    expect(q.utilisation.air).toBeGreaterThan(1)
    expect(compliance(heavy, f, q).violations).toContainEqual(expect.objectContaining({ bound: 'utilisation', device: 'air' }))
    expect(compliance(withEvery(0), f, predict(one, withEvery(0), f, scheduledWifi5)).compliant).toBe(true)
    // none (0: only at re-plans): the step as replayed, which the simulator measures too
    const r = simulate(p, withEvery(0), f, scheduledWifi5, sim)
    expect(r.latencyMs / off.latencyMs).toBeCloseTo(1, 3)
    expect(off.p95LatencyMs).toBe(off.latencyMs)
  })
  it('a replicated stage checkpoints one copy (its first replica): the cost model and the simulator count the same one', () => {
    const f3 = fleetOf(testDevice('a', 10), testDevice('b', 20), testDevice('c', 20))
    const rp = plan([{ layers: [0, 2], devices: ['a'] }, { layers: [2, 4], devices: ['b', 'c'] }], 2)
    const every = 5
    const j = withEvery(every)
    const r = simulateTraining(rp, j, f3, scheduledWifi5, { durationS: 1e9, warmupS: 1e-9, seed: 3, computeJitter: 0, maxSteps: 1 + 10 * every })
    // 30 MB of state per stage (3 x its 10 MB of parameters), once per stage every 5 steps
    expect(checkpointBytes(j, [0, 2])).toBe(30e6)
    // 51 steps: 10 checkpoints (after steps 5 .. 50) of two copies, one per stage
    expect(r.checkpointBytesPerStep! * (1 + 10 * every)).toBeCloseTo(10 * 2 * 30e6, 0)
    const predicted = predict(rp, j, f3, scheduledWifi5)
    expect(r.latencyMs / predicted.latencyMs).toBeCloseTo(1, 3)
    expect(r.p95LatencyMs / predicted.p95LatencyMs).toBeCloseTo(1, 3)
    // the air the checkpoints take per sample: a's copy and b's, not c's
    const off = predict(rp, withEvery(0), f3, scheduledWifi5)
    const hops = [...hopsBetween(f3.devices.get('a')!, null, 30e6), ...hopsBetween(f3.devices.get('b')!, null, 30e6)].map((h) => ({ ...h, weight: 1 / every }))
    const samples = 8 * 2
    expect(predicted.airtimeMsPerRequest - off.airtimeMsPerRequest).toBeCloseTo((airSeconds(hops, scheduledWifi5) * 1000) / samples, 6)
  })
})

describe('training plans', () => {
  it('the partitioner splits a model whose training state does not fit one device, within every memory bound', () => {
    const small = (id: string) => testDevice(id, 10, { memoryBytes: 1.5e9 })
    const f = fleetOf(small('a'), small('b'), small('c'), small('d'))
    const j = job(model(8, 100e6))
    const res = partition(j, f, { network: scheduledWifi5 })
    expect(res.ok).toBe(true)
    if (!res.ok) return
    for (const c of res.candidates) {
      expect(c.plan.stages.length).toBeGreaterThan(1)
      for (const bytes of Object.values(c.prediction.memoryBytes)) expect(bytes).toBeLessThanOrEqual(1.5e9 * 0.8)
    }
  })

  it('the hybrid DP replicates when weights are light and pipelines when they are heavy', () => {
    const f = fleetOf(wired('a'), wired('b'), wired('c'), wired('d'))
    const light = hybridDp(job(model(4, 1e3)), f, scheduledWifi5)!
    expect(light.plan.stages).toHaveLength(1)
    expect(light.plan.stages[0]!.devices).toHaveLength(4)
    const wifi = fleetOf(testDevice('a', 10), testDevice('b', 10), testDevice('c', 10), testDevice('d', 10))
    const heavy = hybridDp(job(model(4, 300e6)), wifi, scheduledWifi5)!
    expect(heavy.plan.stages.every((s) => s.devices.length === 1)).toBe(true)
    // as a throughput planner it never does worse than PipeEdge's one-device stages by its own measure
    const inference = { ...job(model(6, 1e6)), training: undefined } as Job
    expect(hybridDp(inference, f, scheduledWifi5)!.prediction.capacityRps).toBeGreaterThanOrEqual(pipeEdge(inference, f, scheduledWifi5)!.prediction.capacityRps * 0.999)
  })
})
