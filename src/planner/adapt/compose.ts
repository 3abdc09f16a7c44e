/**
 * Composing candidate plans (the runtime adapter's first resort). Pure.
 *
 * Time-sharing composition, as POET does with configurations: plan i runs for a fraction w_i of
 * the time (so of the requests, which arrive evenly), one plan at a time. Each plan that runs must
 * carry the whole offered load on its own and keep the bounds a mix cannot average away (memory,
 * battery, p95 latency, throughput); the mix's mean latency and energy per request are the
 * w-weighted means, so the mean bounds become linear rows:
 *   minimise  sum w_i g_i   (g: energy per request for the energy and throughput goals, the
 *                            throughput bound being met by every plan that may run; latency for
 *                            the latency goal)
 *   s.t.      sum w_i latency_i <= latency bound,  sum w_i energy_i <= energy bound,
 *             w >= 0, sum w = 1,
 * solved exactly (lp.ts). With k bound rows the optimum mixes at most k + 1 plans.
 */
import { solveSimplexLp } from './lp.js'
import type { PlanCandidate } from '../partition.js'
import type { Job } from '../types.js'

export interface Composition {
  readonly parts: ReadonlyArray<{ readonly candidate: PlanCandidate; readonly weight: number }>
  readonly latencyMs: number
  readonly energyJPerRequest: number
  /** The objective's value (energy per request, or latency for the latency goal). */
  readonly objective: number
}

/** Violations a time-sharing mix can average away: only the mean bounds. */
const AVERAGEABLE = new Set(['latencyMs', 'energyJPerRequest'])

export function composable(c: PlanCandidate): boolean {
  return c.compliance.violations.every((v) => AVERAGEABLE.has(v.bound))
}

export function compose(candidates: readonly PlanCandidate[], job: Job): Composition | null {
  const usable = candidates.filter(composable)
  if (!usable.length) return null
  const lat = usable.map((c) => c.prediction.latencyMs)
  const en = usable.map((c) => c.prediction.energyJPerRequest)
  const rows: number[][] = []
  const bounds: number[] = []
  if (job.qoe.latencyMs !== undefined) {
    rows.push(lat)
    bounds.push(job.qoe.latencyMs)
  }
  if (job.qoe.energyJPerRequest !== undefined) {
    rows.push(en)
    bounds.push(job.qoe.energyJPerRequest)
  }
  const objective = job.goal === 'latency' ? lat : en
  const sol = solveSimplexLp(objective, rows, bounds)
  if (!sol) return null
  const parts = usable.map((candidate, i) => ({ candidate, weight: sol.weights[i]! })).filter((p) => p.weight > 1e-9)
  const total = parts.reduce((s, p) => s + p.weight, 0)
  const norm = parts.map((p) => ({ ...p, weight: p.weight / total }))
  return {
    parts: norm,
    latencyMs: norm.reduce((s, p) => s + p.weight * p.candidate.prediction.latencyMs, 0),
    energyJPerRequest: norm.reduce((s, p) => s + p.weight * p.candidate.prediction.energyJPerRequest, 0),
    objective: sol.value,
  }
}

/**
 * POET's rule for one mean bound (the reference to beat): among plans sorted by the bounded
 * figure, the cheapest pair that brackets the bound, split so the mean meets it exactly (or the
 * cheapest plan within the bound alone). Returns the objective's value, or null.
 */
export function poetPair(points: ReadonlyArray<{ bounded: number; cost: number }>, bound: number): number | null {
  let best: number | null = null
  const tol = 1e-7 * Math.max(1, Math.abs(bound))
  for (const p of points) if (p.bounded <= bound + tol && (best === null || p.cost < best)) best = p.cost
  for (const lo of points) {
    for (const hi of points) {
      if (!(lo.bounded < bound && hi.bounded > bound)) continue
      const w = (bound - lo.bounded) / (hi.bounded - lo.bounded) // weight of hi
      const cost = (1 - w) * lo.cost + w * hi.cost
      if (best === null || cost < best) best = cost
    }
  }
  return best
}
