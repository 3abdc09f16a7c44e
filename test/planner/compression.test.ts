/** The planner's activation compression per cut: the smallest codec within the bound, bytes counted. */
import { describe, expect, it } from 'vitest'
import { compressBoundaries, cutBytes, cutCodec, planOutputError, withinErrorBound } from '../../src/planner/compression.js'
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

  it('a plan whose cuts each pass but together exceed the bound sends lighter on one, and is kept', () => {
    const j = job(1e-3)
    // as the search found it, with the model's codecs: refused
    const p = predict(plan, j, fleet, scheduledWifi5)
    expect(p.outputError).toBeCloseTo(1.3e-3, 12)
    const c = compliance(j, fleet, p)
    expect(c.compliant).toBe(false)
    expect(c.violations).toContainEqual({ bound: 'outputError', device: null, limit: 1e-3, predicted: p.outputError })
    // retried: cut 1 gives up 1e5 bytes for 0.69e-3 of error, cut 2 the same bytes for 0.59e-3,
    // so cut 1 goes float16 (int8 -> fp16 first), and 1e-5 + 0.6e-3 is within
    const retried = withinErrorBound(j.model, plan)
    expect(retried.codecs).toEqual({ 1: 'fp16' })
    expect(cutCodec(j.model, retried, 1)).toBe('fp16')
    expect(cutCodec(j.model, retried, 2)).toBe('int8')
    expect(cutBytes(j.model, retried, 1)).toBe(2e5)
    expect(cutBytes(j.model, retried, 2)).toBe(1e5)
    const q = predict(retried, j, fleet, scheduledWifi5)
    expect(q.outputError).toBeCloseTo(0.61e-3, 12)
    expect(compliance(j, fleet, q).compliant).toBe(true)
    // the lighter cut costs air: twice the bytes at cut 1
    expect(q.airtimeMsPerRequest).toBeGreaterThan(p.airtimeMsPerRequest)
    // the search keeps such plans now, each within the bound
    const res = partition(j, fleet, { network: scheduledWifi5 })
    expect(res.ok).toBe(true)
    if (res.ok) for (const x of res.candidates) expect(x.prediction.outputError!).toBeLessThanOrEqual(1e-3)
    // the same plan within a bound of 2e-3 keeps both cuts int8, unchanged
    const loose = job(2e-3)
    expect(withinErrorBound(loose.model, plan)).toBe(plan)
    expect(compliance(loose, fleet, predict(plan, loose, fleet, scheduledWifi5)).compliant).toBe(true)
    expect(partition(loose, fleet, { network: scheduledWifi5 }).ok).toBe(true)
  })

  it('lightens first the cut that saves the fewest bytes per unit of error', () => {
    // cut 2 carries a tenth of cut 1's bytes: it gives up 1e4 bytes for 0.59e-3, cut 1 1e5 for 0.69e-3
    const m = compressBoundaries(three, [errors[0]!, { ...errors[1]!, floatBytes: 4e4 }], 1e-3)
    const retried = withinErrorBound(m, plan)
    expect(retried.codecs).toEqual({ 2: 'fp16' })
    expect(planOutputError(m, retried)).toBeCloseTo(0.71e-3, 12)
  })

  it('goes down to float32 where float16 is not enough, one step at a time, until the bound holds', () => {
    const e = [
      { boundary: 1, floatBytes: 4e5, error: { fp16: 0.5e-3, int8: 0.8e-3 } },
      { boundary: 2, floatBytes: 4e5, error: { fp16: 0.5e-3, int8: 0.8e-3 } },
    ]
    const m = compressBoundaries(three, e, 0.9e-3)
    // 1.6e-3: cut 1 fp16 (1.3e-3), cut 2 fp16 (1.0e-3; 1e5 bytes per 0.3e-3 beats 2e5 per 0.5e-3), cut 1 float32 (0.5e-3)
    const retried = withinErrorBound(m, plan)
    expect(retried.codecs).toEqual({ 1: null, 2: 'fp16' })
    expect(planOutputError(m, retried)).toBeCloseTo(0.5e-3, 12)
    expect(cutBytes(m, retried, 1)).toBe(4e5)
    expect(cutCodec(m, retried, 1)).toBeNull()
    // a bound of 0: every cut float32, the plan still kept (float32 adds no error)
    const none = withinErrorBound({ ...m, maxOutputError: 0 }, plan)
    expect(none.codecs).toEqual({ 1: null, 2: null })
    expect(planOutputError(m, none)).toBe(0)
    expect(cutBytes(m, none, 2)).toBe(4e5)
  })
})
