/**
 * The slots predicted as they run (issue 15): cameras on frame clocks leave some of their turns
 * empty, and a device's slot gate is work-conserving, so a later transfer takes an earlier free
 * slot and waits less than in the scheduler's placed cycle, where every turn carries a frame and
 * a guard follows every hop. The placed cycle's mean was +4.3% / +7.5% / +15.5% over the
 * simulator's slots run on camera-wall at 1x / 4x / 5x its rate; the replay of the schedule as
 * the devices run it (planner/network/turn-replay.ts) is the prediction now (BENCHMARKS.md
 * § Slots as they run).
 */
import { describe, expect, it } from 'vitest'
import { cameraWallAt } from '../helpers/camera-wall.js'
import { predict } from '../../src/planner/cost.js'
import { judgeAsRun } from '../../src/planner/adapt/transfer-mode.js'
import { scheduleTransfers } from '../../src/planner/network/scheduler.js'
import { jitteredP95 } from '../../src/planner/network/turn-replay.js'
import { simulate } from '../../src/sim/simulate.js'
import { jobSources } from '../../src/planner/types.js'
import { randomCase, randomPlan } from '../helpers/random-fleets.js'

const o = { durationS: 300, warmupS: 10, seed: 1, computeJitter: 0.05 }

describe('slots predicted as they run', () => {
  for (const load of [1, 4, 5]) {
    it(`camera-wall at x${load} its rate: the slots' prediction holds against the simulator's slots run (mean within 3%, p95 within 5%)`, async () => {
      const { inputs, job, plan } = await cameraWallAt(load)
      const j = judgeAsRun(plan, job, inputs.fleet, inputs.network)
      const s = j.modes.schedule!
      // the cameras' frames fill only part of their turns: the scheduler's period serves them at most 90% busy
      expect(s.asRun!.filled).toBeGreaterThan(0.2)
      expect(s.asRun!.filled).toBeLessThan(0.9)
      const run = simulate(plan, job, inputs.fleet, inputs.network, { ...o, schedule: s })
      expect(run.completed).toBeGreaterThanOrEqual(run.requests * 0.99)
      expect(Math.abs(j.modes.slots!.latencyMs / run.latencyMs - 1)).toBeLessThan(0.03)
      expect(Math.abs(j.modes.slots!.p95LatencyMs / run.p95LatencyMs - 1)).toBeLessThan(0.05)
      // where the slots are predicted fastest, they are the mode that runs (x1 ran at once while its slots were predicted with every turn full)
      if (j.modes.slots!.latencyMs < j.modes.atOnce.latencyMs) expect(j.modes.mode).toBe('slots')
    })
  }

  it('random fleets whose sources are all devices: mean within 4% of the simulated slots run, p95 within 15%, p95 within 3% on average', () => {
    const errors: Array<[number, number]> = []
    for (let seed = 1; errors.length < 12; seed++) {
      const c = randomCase(seed)
      if (jobSources(c.job).some((x) => x.device === null)) continue
      const plan = randomPlan(c, seed)
      // the busiest resource at 10-90% (by seed) at the job's rate
      const unit = predict(plan, { ...c.job, rateRps: 1 }, c.fleet, c.network)
      const u = Math.max(...Object.values(unit.utilisation))
      const job = { ...c.job, rateRps: (0.1 + 0.8 * ((seed * 0.6180339887) % 1)) / Math.max(1e-9, u) }
      const r = scheduleTransfers(plan, job, c.fleet, c.network)
      if (!r.ok) continue
      const s = r.schedule
      expect(s.asRun).toBeDefined()
      const run = simulate(plan, job, c.fleet, c.network, { durationS: Math.max(100, 4000 / job.rateRps), warmupS: 10, seed, computeJitter: 0.05, schedule: s })
      errors.push([s.asRun!.latencyMs / run.latencyMs - 1, s.asRun!.p95LatencyMs / run.p95LatencyMs - 1])
    }
    for (const [mean, p95] of errors) {
      expect(Math.abs(mean)).toBeLessThan(0.04)
      expect(Math.abs(p95)).toBeLessThan(0.15)
    }
    expect(errors.reduce((a, x) => a + Math.abs(x[1]), 0) / errors.length).toBeLessThan(0.03)
  })

  it("the replayed times' p95 with the compute jitter is a normal mixture's", () => {
    // one time: its own normal's 95th percentile
    expect(jitteredP95([{ m: 0, ms: 10 }], () => 1)).toBeCloseTo(11.645, 2)
    // four fast at 10 ms, one slow at 20 (sigma 1): the 95th percentile is the slow one's median
    expect(jitteredP95([0, 0, 0, 0, 1].map((m) => ({ m, ms: m ? 20 : 10 })), () => 1)).toBeCloseTo(20 + 0.674 * 1, 1)
  })
})
