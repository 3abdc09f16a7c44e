/** The planner's activation compression per cut: the smallest codec within the bound, bytes counted. */
import { describe, expect, it } from 'vitest'
import { compressBoundaries, planOutputError } from '../../src/planner/compression.js'
import { compliance, predict } from '../../src/planner/cost.js'
import { partition } from '../../src/planner/partition.js'
import type { Fleet, Job, ModelProfile, Plan } from '../../src/planner/types.js'
import { scheduledWifi5, testDevice } from '../helpers/planner.js'

const layer = { flops: { conv: 1e9, matmul: 0, elementwise: 0 }, paramBytes: 1000, peakActivationBytes: 1000 }
const model: ModelProfile = { name: 'm', layers: [layer, layer, layer, layer], boundaryBytes: [100, 4000, 4000, 4100, 10] }

describe('compressBoundaries', () => {
  it('takes int8 where its error is within the bound, else float16, else float32, and counts the bytes', () => {
    const errors = [
      { boundary: 1, floatBytes: 4000, error: { fp16: 1e-5, int8: 1e-3 } },
      { boundary: 2, floatBytes: 4000, error: { fp16: 1e-5, int8: 0.2 } },
      { boundary: 3, floatBytes: 4000, error: { fp16: 0.3, int8: 0.4 } },
    ]
    const m = compressBoundaries(model, errors, 0.01)
    expect(m.boundaryCodecs).toEqual([null, 'int8', 'fp16', null, null])
    // int8 a quarter, float16 half of the float32 bytes; non-float bytes (100 of 4100) unchanged
    expect(m.boundaryBytes).toEqual([100, 1000, 2000, 4100, 10])
    expect(compressBoundaries(model, errors, 0).boundaryCodecs).toEqual([null, null, null, null, null])
  })
})

describe('the compression bound holds for a whole path', () => {
  // three layers, each device holds one: every plan has two cuts, each compressed as int8 within
  // the bound alone (0.7e-3 and 0.6e-3 against 1e-3), 1.3e-3 together
  const big = { flops: { conv: 1e9, matmul: 0, elementwise: 0 }, paramBytes: 1e9, peakActivationBytes: 1e6 }
  const three: ModelProfile = { name: 'm3', layers: [big, big, big], boundaryBytes: [1e5, 4e5, 4e5, 1e3] }
  const errors = [
    { boundary: 1, floatBytes: 4e5, error: { fp16: 1e-5, int8: 0.7e-3 } },
    { boundary: 2, floatBytes: 4e5, error: { fp16: 1e-5, int8: 0.6e-3 } },
  ]
  const fleet: Fleet = { devices: new Map(['a', 'b', 'c'].map((id) => [id, testDevice(id, 20, { memoryBytes: 1.5e9 })])) }
  const job = (maxOutputError: number): Job => ({ id: 'j', model: compressBoundaries(three, errors, maxOutputError), rateRps: 0.5, qoe: { memoryFraction: 1 }, goal: 'latency', sourceDevice: null })
  const plan: Plan = { id: 'p', planner: 't', microBatch: 1, stages: [{ layers: [0, 1], devices: ['a'] }, { layers: [1, 2], devices: ['b'] }, { layers: [2, 3], devices: ['c'] }] }

  it('sums the errors of the compressed cuts a request crosses', () => {
    const j = job(1e-3)
    expect(j.model.boundaryCodecs).toEqual([null, 'int8', 'int8', null])
    expect(planOutputError(j.model, plan)).toBeCloseTo(1.3e-3, 12)
    expect(planOutputError(j.model, { ...plan, stages: [{ layers: [0, 2], devices: ['a'] }, { layers: [2, 3], devices: ['b'] }] })).toBeCloseTo(0.6e-3, 12)
    expect(planOutputError(three, plan)).toBe(0)
  })

  it('refuses a plan whose cuts each pass but together exceed the bound', () => {
    const j = job(1e-3)
    const p = predict(plan, j, fleet, scheduledWifi5)
    expect(p.outputError).toBeCloseTo(1.3e-3, 12)
    const c = compliance(j, fleet, p)
    expect(c.compliant).toBe(false)
    expect(c.violations).toContainEqual({ bound: 'outputError', device: null, limit: 1e-3, predicted: p.outputError })
    const res = partition(j, fleet, { network: scheduledWifi5 })
    expect(res.ok).toBe(false)
    if (!res.ok) expect(res.reasons.some((r) => r.startsWith('outputError'))).toBe(true)
    // the same plan within a bound of 2e-3 (both cuts still int8) is compliant
    const loose = job(2e-3)
    expect(compliance(loose, fleet, predict(plan, loose, fleet, scheduledWifi5)).compliant).toBe(true)
    expect(partition(loose, fleet, { network: scheduledWifi5 }).ok).toBe(true)
  })
})
