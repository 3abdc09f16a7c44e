/** A clean front: on seeded random fleets, no plan the partitioner returns is dominated by another. */
import { describe, expect, it } from 'vitest'
import { dominatesPlan, partition } from '../../src/planner/partition.js'
import { predict } from '../../src/planner/cost.js'
import { randomCase } from '../helpers/random-fleets.js'
import type { Goal } from '../../src/planner/types.js'

describe('the returned front', () => {
  it('holds no dominated plan (latency, energy; capacity for a throughput goal) on 40 random fleets', () => {
    let fronts = 0
    for (let seed = 1; seed <= 40; seed++) {
      const c = randomCase(seed)
      const goal: Goal = (['latency', 'energy', 'throughput'] as const)[seed % 3]!
      // a load the fastest single device could carry at half its capacity, a loose latency bound
      const L = c.job.model.layers.length
      const single = [...c.fleet.devices.keys()].map((id) => predict({ id, planner: 't', microBatch: 1, stages: [{ layers: [0, L], devices: [id] }] }, { ...c.job, rateRps: 0.01 }, c.fleet, c.network))
      const best = single.reduce((a, b) => (b.capacityRps > a.capacityRps ? b : a))
      const job = { ...c.job, goal, rateRps: best.capacityRps / 2, qoe: { latencyMs: 4 * best.latencyMs } }
      const res = partition(job, c.fleet, { network: c.network })
      if (!res.ok) continue
      fronts++
      for (const a of res.candidates) for (const b of res.candidates) {
        if (a !== b) expect(dominatesPlan(a, b, goal === 'throughput'), `seed ${seed}: ${a.plan.id} dominates ${b.plan.id}`).toBe(false)
      }
    }
    expect(fronts).toBeGreaterThan(30)
  })
})
