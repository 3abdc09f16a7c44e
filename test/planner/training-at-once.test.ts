/**
 * Training at once: the devices send as soon as data is ready and overlapping transfers share the
 * air as DCF shares it (replay/medium.ts airShared), in the planner's at-once prediction
 * (adapt/transfer-mode.ts predictAtOnce, the training replay) as in the simulator's at-once run
 * (its contended medium, `dora simulate --uncoordinated`); where they overlap moves with the
 * compute jitter, so the at-once step is replayed with it (replay/training.ts atOnceStepMs).
 * Before, the replay served at-once transfers one whole hop after another, each with the air
 * alone, and without jitter: edge-cluster's DistilBERT step at once was predicted 5.1% / 10.9%
 * (mean / p95) under the simulated run, and random training plans up to 5.6% / 36% off
 * (BENCHMARKS.md, "Training at once: the shared air in the replay").
 */
import { describe, expect, it } from 'vitest'
import { fileURLToPath } from 'node:url'
import { judgeAsRun, predictAtOnce } from '../../src/planner/adapt/transfer-mode.js'
import { checkpointEvery, oneStepMs, simulateTraining } from '../../src/planner/replay/training.js'
import { simulate } from '../../src/sim/simulate.js'
import { predict } from '../../src/planner/cost.js'
import { planningInputs, readScenario } from '../../src/scenario/load.js'
import type { Network } from '../../src/planner/types.js'
import { randomCase, randomPlan } from '../helpers/random-fleets.js'

const contended = (n: Network): Network => ({ ...n, coordination: 'contended' })

describe('training at once: the replay shares the air as the simulator does', () => {
  it('on 40 random training plans: the at-once step (mean within 2%, p95 within 5%, checkpoints counted) against the at-once run with 5% jitter', () => {
    const off: string[] = []
    for (let seed = 1; seed <= 40; seed++) {
      const c = randomCase(seed, { training: true })
      const plan = randomPlan(c, seed)
      // the replay's one step at once is the simulator's at-once step, jitter-free
      const one = simulateTraining(plan, c.job, c.fleet, contended(c.network), { durationS: 1e9, warmupS: 0, seed, computeJitter: 0, maxSteps: 1 })
      expect(oneStepMs(plan, c.job, c.fleet, { ...c.network, dcf: true })).toBe(one.latencyMs)
      const p = predictAtOnce(plan, c.job, c.fleet, c.network)
      // ten whole checkpoint periods (each period's checkpoint step in)
      const r = simulateTraining(plan, c.job, c.fleet, contended(c.network), { durationS: 1e9, warmupS: 1e-9, seed, computeJitter: 0.05, maxSteps: 1 + 10 * Math.max(1, checkpointEvery(c.job)) })
      if (Math.abs(p.latencyMs / r.latencyMs - 1) > 0.02) off.push(`seed ${seed}: predicted ${p.latencyMs.toFixed(1)} ms, simulated ${r.latencyMs.toFixed(1)} ms`)
      if (Math.abs(p.p95LatencyMs / r.p95LatencyMs - 1) > 0.05) off.push(`seed ${seed}: predicted p95 ${p.p95LatencyMs.toFixed(1)} ms, simulated ${r.p95LatencyMs.toFixed(1)} ms`)
    }
    expect(off).toEqual([])
  }, 120_000)

  it('edge-cluster (DistilBERT on two Orins, 70% air): at once predicted within 2% (mean) and 5% (p95) of `dora simulate --uncoordinated`, and slots run', async () => {
    const file = fileURLToPath(new URL('../../config/scenarios/edge-cluster.yaml', import.meta.url))
    const { job, fleet, network } = await planningInputs(file, await readScenario(file))
    const plan = { id: 'edge', planner: 'test', microBatch: 4, stages: [{ layers: [0, 12] as [number, number], devices: ['orin-1'] }, { layers: [12, 24] as [number, number], devices: ['orin-2'] }] }
    const p = predictAtOnce(plan, job, fleet, network)
    const r = simulate(plan, { ...job, frameClocks: true }, fleet, contended(network), { durationS: 300, warmupS: 10, seed: 1, computeJitter: 0.05 })
    expect(Math.abs(p.latencyMs / r.latencyMs - 1)).toBeLessThan(0.02)
    expect(Math.abs(p.p95LatencyMs / r.p95LatencyMs - 1)).toBeLessThan(0.05)
    // at once no longer ties with slots (2399.5 ms predicted, 2405.7 simulated): the plan runs in slots
    expect(judgeAsRun(plan, job, fleet, network).modes.mode).toBe('slots')
  }, 60_000)

  it('a training plan whose checkpoints outlast its at-once steps on the air runs in a mode that keeps up (random fleet 14: [0,6)@d4)', () => {
    const c = randomCase(14, { training: true })
    const L = c.job.model.layers.length
    const single = [...c.fleet.devices.keys()].map((id) => predict({ id, planner: 't', microBatch: 1, stages: [{ layers: [0, L] as [number, number], devices: [id] }] }, { ...c.job, rateRps: 0.01 }, c.fleet, c.network))
    const job = { ...c.job, qoe: { throughputRps: Math.max(...single.map((x) => x.capacityRps)) } }
    const plan = { id: 'd4', planner: 'test', microBatch: 1, stages: [{ layers: [0, 6] as [number, number], devices: ['d4'] }] }
    // at once a step no longer waits behind the last checkpoint: faster, but the checkpoints need 5x the air the steps last
    const atOnce = predictAtOnce(plan, job, c.fleet, c.network)
    expect(atOnce.utilisation['air']!).toBeGreaterThan(1)
    const j = judgeAsRun(plan, job, c.fleet, c.network)
    expect(j.modes.atOnce.latencyMs).toBeLessThan(j.modes.slots!.latencyMs)
    expect(j.modes.mode).toBe('slots')
    expect(j.compliance.compliant).toBe(true)
  })
})
