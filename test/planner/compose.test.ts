/** The adapter's composition: the exact simplex LP against brute force and POET's pair rule. */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { solveSimplexLp } from '../../src/planner/adapt/lp.js'
import { compose, poetPair } from '../../src/planner/adapt/compose.js'
import type { PlanCandidate } from '../../src/planner/partition.js'
import type { Job } from '../../src/planner/types.js'

/** Brute force: every weight vector on a grid of the simplex (step 1/steps). */
function gridBest(c: number[], A: number[][], b: number[], steps: number): number | null {
  const n = c.length
  let best: number | null = null
  const rec = (i: number, left: number, w: number[]) => {
    if (i === n - 1) {
      const full = [...w, left / steps]
      if (A.every((row, r) => row.reduce((s, a, j) => s + a * full[j]!, 0) <= b[r]! + 1e-9)) {
        const v = full.reduce((s, x, j) => s + x * c[j]!, 0)
        if (best === null || v < best) best = v
      }
      return
    }
    for (let k = 0; k <= left; k++) rec(i + 1, left - k, [...w, k / steps])
  }
  rec(0, steps, [])
  return best
}

describe('simplex LP', () => {
  it('is never worse than brute force over a grid, and its answer is feasible with at most k + 1 plans', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 2 }), fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 30, maxLength: 30 }),
      (n, k, vals) => {
        const c = vals.slice(0, n)
        const A = Array.from({ length: k }, (_, r) => vals.slice(5 + r * 5, 5 + r * 5 + n))
        const b = Array.from({ length: k }, (_, r) => vals[20 + r]!)
        const sol = solveSimplexLp(c, A, b)
        const grid = gridBest(c, A, b, 20)
        if (grid !== null) {
          expect(sol).not.toBeNull()
          expect(sol!.value).toBeLessThanOrEqual(grid + 1e-6)
        }
        if (sol) {
          expect(sol.weights.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 9)
          expect(sol.weights.filter((x) => x > 1e-9).length).toBeLessThanOrEqual(k + 1)
          A.forEach((row, r) => expect(row.reduce((s, a, j) => s + a * sol.weights[j]!, 0)).toBeLessThanOrEqual(b[r]! + 1e-6))
        }
      }), { numRuns: 300, seed: 7 })
  })

  it('with one bound it matches POET\'s bracketing pair', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.double({ min: 1, max: 100, noNaN: true }), fc.double({ min: 1, max: 100, noNaN: true })), { minLength: 1, maxLength: 7 }), fc.double({ min: 1, max: 100, noNaN: true }), (pts, bound) => {
      const sol = solveSimplexLp(pts.map((p) => p[1]), [pts.map((p) => p[0])], [bound])
      const poet = poetPair(pts.map(([bounded, cost]) => ({ bounded, cost })), bound)
      if (poet === null) expect(sol).toBeNull()
      else expect(sol!.value).toBeCloseTo(poet, 6)
    }), { numRuns: 300, seed: 11 })
  })
})

const cand = (id: string, latencyMs: number, energy: number, violations: PlanCandidate['compliance']['violations'] = []): PlanCandidate => ({
  plan: { id, stages: [], microBatch: 1, planner: 'dora' },
  prediction: { latencyMs, p95LatencyMs: latencyMs, capacityRps: 10, throughputRps: 1, energyJPerRequest: energy, bottleneckMs: 0, bottleneck: '', memoryBytes: {}, airtimeMsPerRequest: 0, transferMode: 'granted', utilisation: {}, p95UncertaintyMs: 0 },
  compliance: { compliant: violations.length === 0, violations, p95MarginMs: null, utilisationMargin: null },
})

describe('composition', () => {
  const job: Job = { id: 'j', model: { name: 'm', layers: [], boundaryBytes: [0] }, rateRps: 1, qoe: { latencyMs: 100 }, goal: 'energy', sourceDevice: null }
  it('mixes a fast costly plan with a slow frugal one so the mean latency just meets the bound at the least energy', () => {
    const fast = cand('fast', 60, 10)
    const slow = cand('slow', 140, 2, [{ bound: 'latencyMs', device: null, limit: 100, predicted: 140 }])
    const c = compose([fast, slow], job)!
    expect(c.latencyMs).toBeCloseTo(100, 6)
    expect(c.parts.map((p) => [p.candidate.plan.id, Number(p.weight.toFixed(3))])).toEqual([['fast', 0.5], ['slow', 0.5]])
    expect(c.energyJPerRequest).toBeCloseTo(6, 6)
  })

  it('never runs a plan that breaks a bound a mix cannot average (memory, overload, p95)', () => {
    const fast = cand('fast', 60, 10)
    const bad = cand('bad', 20, 1, [{ bound: 'memory', device: 'x', limit: 1, predicted: 2 }])
    const c = compose([fast, bad], job)!
    expect(c.parts.map((p) => p.candidate.plan.id)).toEqual(['fast'])
    expect(compose([bad], job)).toBeNull()
  })
})
