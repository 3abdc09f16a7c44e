/**
 * The fast search (the default) on training jobs: within 1% of the wide search's plan (`fast:
 * false`, the search before issue 18) on the goal metric, on the 40 seeded random training fleets
 * of bench/planner-training.ts for a throughput goal and an energy goal (checkpoints every 10
 * steps, the default: their air and energy are what the fast thinning's estimates now count).
 */
import { describe, expect, it } from 'vitest'
import { partition } from '../../src/planner/partition.js'
import { planRatio, randomTrainingCase, TRAINING_GOALS } from '../../bench/planner-training.js'

describe('fast search on training fleets', () => {
  it('chooses plans within 1% of the wide search on 40 random fleets x 2 goals', () => {
    const worse: string[] = []
    for (let seed = 1; seed <= 40; seed++) {
      for (const goal of TRAINING_GOALS) {
        const c = randomTrainingCase(seed, goal)
        const wide = partition(c.job, c.fleet, { network: c.network, fast: false })
        const fast = partition(c.job, c.fleet, { network: c.network })
        expect(fast.ok).toBe(wide.ok)
        const ratio = planRatio(goal, fast, wide)
        if (ratio > 1.01) worse.push(`seed ${seed} ${goal}: ${ratio.toFixed(4)}`)
      }
    }
    expect(worse).toEqual([])
  }, 600_000)
})
