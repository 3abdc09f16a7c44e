/**
 * The fast training search makes no partial plan that cannot become a plan of exactly S stages
 * (partition-dp.ts prunesDead): one that needs more stages than the devices or the layers left
 * can hold. A stage count the fleet cannot fill then costs no stage choice at all, and the plans
 * are those of a search that stops at the stage counts it can fill.
 */
import { describe, expect, it } from 'vitest'
import { partition } from '../../src/planner/partition.js'
import { instance, net } from '../../bench/planner.js'
import type { Job } from '../../src/planner/types.js'

const shape = (r: ReturnType<typeof partition>) => (r.ok ? r.candidates.map((c) => ({ microBatch: c.plan.microBatch, stages: c.plan.stages })) : null)

describe('fast training search: dead partial plans', () => {
  for (const goal of ['throughput', 'energy'] as const) {
    it(`spends nothing on stage counts past the fleet's devices (${goal} goal)`, () => {
      // 3 devices of 3 kinds, 12 layers: 4 or more stages cannot be filled
      const { fleet, model } = instance(77, 3, 3, 12)
      const job: Job = { id: 'j', model, rateRps: 1, qoe: { memoryFraction: 1 }, goal, sourceDevice: null, training: { microBatchesPerStep: 8, optimizerStateFactor: 2 } }
      const upTo3 = partition(job, fleet, { network: net, maxStages: 3 })
      const upTo8 = partition(job, fleet, { network: net, maxStages: 8 })
      expect(upTo3.ok).toBe(true)
      expect(upTo8.explored).toBe(upTo3.explored)
      expect(shape(upTo8)).toEqual(shape(upTo3))
      // the wide search (the search before issue 18) still tries them
      const wide3 = partition(job, fleet, { network: net, maxStages: 3, fast: false })
      const wide8 = partition(job, fleet, { network: net, maxStages: 8, fast: false })
      expect(wide8.explored).toBeGreaterThan(wide3.explored)
    })
  }
})
