/**
 * The lower bound on a training step (replay/step-bound.ts) that lets the partitioner skip
 * replays never exceeds the replay's step (oneStepMs), on random training fleets and plans over
 * scheduled, granted, contended, at-once and busy air, with 1-16 micro-batches a step; and it is tight
 * enough to be worth having.
 */
import { describe, expect, it } from 'vitest'
import { oneStepMs } from '../../src/planner/replay/training.js'
import { stepLowerBoundMs } from '../../src/planner/replay/step-bound.js'
import { WIFI5 } from '../../src/planner/network/wifi.js'
import type { Network } from '../../src/planner/types.js'
import { grantedWifi5, randomCase, randomPlan } from '../helpers/random-fleets.js'

const networks: Network[] = [
  grantedWifi5,
  { standard: WIFI5, coordination: 'scheduled', availableAirtime: 0.7, grants: true },
  { standard: WIFI5, coordination: 'contended', availableAirtime: 0.8 },
  { standard: WIFI5, coordination: 'scheduled', availableAirtime: 0.6, background: { airShare: 0.2, burstBytes: 20_000, rateBps: 1e8 } },
  { standard: WIFI5, coordination: 'contended', availableAirtime: 0.5, background: { airShare: 0.3, burstBytes: 60_000, rateBps: 2e8 } },
  // at once (the planner's at-once prediction): the stations share the air as contended ones do
  { standard: WIFI5, coordination: 'scheduled', availableAirtime: 0.9, dcf: true },
]

describe('stepLowerBoundMs', () => {
  it('never exceeds the replayed step, and is most of it', () => {
    const ratios: number[] = []
    for (let seed = 1; seed <= 60; seed++) {
      const c = randomCase(seed, { training: true })
      const network = networks[seed % networks.length]!
      const job = { ...c.job, training: { microBatchesPerStep: [1, 4, 16][seed % 3]!, optimizerStateFactor: 2 } }
      for (let k = 0; k < 5; k++) {
        const plan = randomPlan(c, seed * 31 + k)
        const step = oneStepMs(plan, job, c.fleet, network)
        const bound = stepLowerBoundMs(plan, job, c.fleet, network)
        expect(bound).toBeGreaterThan(0)
        expect(bound).toBeLessThanOrEqual(step)
        ratios.push(bound / step)
      }
    }
    const mean = ratios.reduce((a, x) => a + x, 0) / ratios.length
    expect(mean).toBeGreaterThan(0.75)
  }, 60_000)
})

describe('oneStepMs on busy air', () => {
  it('ends after its one step (other stations\' bursts no longer run on to its 1e9 s horizon)', () => {
    const c = randomCase(3, { training: true })
    const network: Network = { standard: WIFI5, coordination: 'scheduled', availableAirtime: 0.6, background: { airShare: 0.2, burstBytes: 1.5e6, rateBps: 1e8 } }
    const step = oneStepMs(randomPlan(c, 5), c.job, c.fleet, network)
    expect(Number.isFinite(step)).toBe(true)
    expect(step).toBeGreaterThan(0)
  })
})
