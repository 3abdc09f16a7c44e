/**
 * The cost model at once (cameras on their own frame clocks at random phases, Job.frameClocks;
 * the air shared as DCF shares it, Network.dcf) against the simulator's
 * at-once run (its contended medium, the same frame clocks) on a contended fleet: camera-wall at
 * four and five times its rate (air 46% and 58% busy). The planner's at-once prediction
 * (adapt/transfer-mode.ts) still takes every camera as Poisson and the air as a queue: 48.0 / 78.5 and 55.0 / 94.8 ms (mean / p95) against simulated
 * 40.2 / 58.5 and 42.7 / 62.2 (BENCHMARKS.md, "At once: periodic cameras and the shared air").
 */
import { describe, expect, it } from 'vitest'
import { fileURLToPath } from 'node:url'
import { planningInputs, readScenario } from '../../src/scenario/load.js'
import { partition } from '../../src/planner/partition.js'
import { predict } from '../../src/planner/cost.js'
import { simulate } from '../../src/sim/simulate.js'

describe('at once: periodic cameras and the shared air', () => {
  for (const load of [4, 5]) {
    it(`camera-wall at x${load} its rate: the at-once prediction holds against the at-once run (mean within 5%, p95 within 10%)`, async () => {
      const file = fileURLToPath(new URL('../../config/scenarios/camera-wall.yaml', import.meta.url))
      const inputs = await planningInputs(file, await readScenario(file))
      const job = { ...inputs.job, rateRps: inputs.job.rateRps * load }
      const res = partition(job, inputs.fleet, { network: inputs.network })
      expect(res.ok).toBe(true)
      if (!res.ok) return
      const plan = res.chosen.plan
      const m = { atOnce: predict(plan, { ...job, frameClocks: true }, inputs.fleet, { ...inputs.network, dcf: true }) }
      const run = simulate(plan, { ...job, frameClocks: true }, inputs.fleet, { ...inputs.network, coordination: 'contended' }, { durationS: 300, warmupS: 10, seed: 1, computeJitter: 0.05 })
      expect(run.completed).toBeGreaterThanOrEqual(run.requests * 0.99)
      expect(Math.abs(m.atOnce.latencyMs / run.latencyMs - 1)).toBeLessThan(0.05)
      expect(Math.abs(m.atOnce.p95LatencyMs / run.p95LatencyMs - 1)).toBeLessThan(0.1)
      // the same cameras taken as Poisson and the air as a queue (the planner's at-once prediction) miss by far more
      const poisson = predict(plan, job, inputs.fleet, inputs.network)
      expect(poisson.p95LatencyMs / run.p95LatencyMs - 1).toBeGreaterThan(0.3)
    })
  }
})
