/**
 * The cost model against the simulator on seeded random plans and fleets (emulation): predicted
 * mean and p95 latency against a simulated run, at offered loads that put the busiest resource
 * between 10% and 90% busy. Used by the property test (shorter runs) and `npm run bench -- accuracy`.
 */
import { predict } from '../src/planner/cost.js'
import { simulate } from '../src/sim/simulate.js'
import { randomCase, randomPlan, type RandomCase } from '../test/helpers/random-fleets.js'
import type { Job, Plan, Prediction } from '../src/planner/types.js'

export interface AccuracyRow {
  readonly seed: number
  readonly sources: number
  readonly stages: number
  readonly replicas: number
  readonly microBatch: number
  readonly utilisation: number
  readonly busiest: string
  readonly predicted: Prediction
  readonly simulated: { latencyMs: number; p95LatencyMs: number; completed: number; requests: number }
  readonly meanErr: number
  readonly p95Err: number
  readonly durationS: number
}

/** Highest utilisation of any resource in a prediction, and which. */
export function busiest(p: Prediction): { name: string; u: number } {
  let best = { name: 'none', u: 0 }
  for (const [name, u] of Object.entries(p.utilisation)) if (u > best.u) best = { name, u }
  return best
}

export interface CaseOptions {
  /** The busiest resource's utilisation to offer (default: 10-90% by the seed's golden-ratio fraction). */
  readonly targetU?: number
  /** Hub grants (`dora simulate`'s default transfers) instead of at once, in prediction and run alike. */
  readonly grants?: boolean
  /** Micro-batches of 1..maxMicroBatch (evenly) instead of randomPlan's 1 or 2. */
  readonly maxMicroBatch?: number
}

/** One seeded case, its plan and its job at the offered load (the case's network with grants if asked). */
export function accuracySetup(seed: number, opts: CaseOptions = {}): { c: RandomCase; plan: Plan; job: Job; rateRps: number } {
  const base = randomCase(seed)
  const c = opts.grants ? { ...base, network: { ...base.network, grants: true } } : base
  const plan = randomPlan(c, seed, opts.maxMicroBatch ? { maxMicroBatch: opts.maxMicroBatch } : {})
  const unit = predict(plan, { ...c.job, rateRps: 1 }, c.fleet, c.network)
  const target = opts.targetU ?? 0.1 + 0.8 * ((seed * 0.6180339887) % 1)
  const rateRps = target / Math.max(1e-9, busiest(unit).u)
  return { c, plan, job: { ...c.job, rateRps }, rateRps }
}

/** One seeded plan at an offered load, predicted and simulated (bench/load-sweep.ts fixes the load). */
export function accuracyCase(seed: number, minDurationS: number, minRequests = 20_000, opts: CaseOptions = {}): AccuracyRow {
  const { c, plan, job, rateRps } = accuracySetup(seed, opts)
  const predicted = predict(plan, job, c.fleet, c.network)
  const durationS = Math.max(minDurationS, minRequests / rateRps)
  const r = simulate(plan, job, c.fleet, c.network, { durationS, warmupS: Math.min(30, durationS / 10), seed, computeJitter: 0.05 })
  const b = busiest(predicted)
  return {
    seed, sources: (c.job.sources ?? [1]).length, stages: plan.stages.length, microBatch: plan.microBatch, replicas: Math.max(...plan.stages.map((s) => s.devices.length)),
    utilisation: b.u, busiest: b.name, predicted,
    simulated: { latencyMs: r.latencyMs, p95LatencyMs: r.p95LatencyMs, completed: r.completed, requests: r.requests },
    durationS, meanErr: predicted.latencyMs / r.latencyMs - 1, p95Err: predicted.p95LatencyMs / r.p95LatencyMs - 1,
  }
}
