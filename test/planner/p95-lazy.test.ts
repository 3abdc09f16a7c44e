/**
 * The search costs its complete plans without the p95 when no bound needs it, and works it out
 * for the plans it returns only (partition-dp.ts costed / withP95): the result must be the one
 * of costing every plan with its p95. On seeded random fleets and goals, some overloaded: where a
 * plan complies, the same plans as with a p95 bound that never binds (which costs every p95 in
 * the search); and every returned prediction and compliance equal to its plan judged as it will run
 * (adapt/transfer-mode.ts judgeAsRun: its transfer mode's prediction, in full).
 */
import { describe, expect, it } from 'vitest'
import { partition, type PartitionResult } from '../../src/planner/partition.js'
import { compliance, predict } from '../../src/planner/cost.js'
import { judgeAsRun } from '../../src/planner/adapt/transfer-mode.js'
import { randomCase } from '../helpers/random-fleets.js'
import type { Job } from '../../src/planner/types.js'

const shape = (r: PartitionResult) => (r.ok ? { chosen: r.chosen.plan, front: r.candidates.map((c) => [c.plan, c.prediction]) } : { closest: r.closest.map((c) => [c.plan, c.prediction]), reasons: r.reasons })

describe('p95 worked out for the returned plans only', () => {
  it('returns the plans and predictions of a search that costs every p95 (40 seeded fleets)', () => {
    const goals = ['latency', 'energy', 'throughput'] as const
    let returned = 0
    let finiteP95 = 0
    let compared = 0
    for (let seed = 1; seed <= 40; seed++) {
      const c = randomCase(seed)
      const L = c.job.model.layers.length
      const single = [...c.fleet.devices.keys()].map((id) => predict({ id, planner: 't', microBatch: 1, stages: [{ layers: [0, L], devices: [id] }] }, { ...c.job, rateRps: 0.01 }, c.fleet, c.network))
      const best = single.reduce((a, b) => (b.capacityRps > a.capacityRps ? b : a))
      const job: Job = { ...c.job, goal: goals[seed % 3]!, rateRps: best.capacityRps * (seed % 5 === 0 ? 1.5 : 0.5), qoe: seed % 2 ? {} : { latencyMs: 3 * best.latencyMs } }
      const lazy = partition(job, c.fleet, { network: c.network })
      const full = partition({ ...job, qoe: { ...job.qoe, p95LatencyMs: 1e12 } }, c.fleet, { network: c.network })
      // (no plan compliant: an overloaded plan's p95 is unbounded and breaks even that bound, so
      // the closest plans rank otherwise; those are checked against predict() below)
      if (full.ok) {
        expect(shape(lazy), `seed ${seed}`).toEqual(shape(full))
        compared++
      }
      for (const x of lazy.ok ? lazy.candidates : lazy.closest) {
        const run = judgeAsRun(x.plan, job, c.fleet, c.network)
        const p = run.prediction
        expect(x.prediction).toEqual(p)
        expect(x.compliance).toEqual(run.compliance)
        expect(x.compliance).toEqual(compliance(job, c.fleet, p))
        if (Number.isFinite(p.p95LatencyMs)) finiteP95++
        returned++
      }
    }
    expect(compared).toBeGreaterThan(20)
    // (92 plans returned: fronts judged as they run are smaller than the estimates' were, 100+)
    expect(returned).toBeGreaterThan(80)
    expect(finiteP95).toBeGreaterThan(50)
  }, 120_000)
})
