/**
 * Energy per device over the measured window of a run: idle power of every device the plan
 * uses, active power over its busy time, and radio energy per byte, for the plan's devices and
 * for any other device that sent or received (a camera sending its frames). Busy time and radio
 * bytes accrue over the whole run, so they are scaled to the window. Pure. Also: whether measured
 * figures hold a job's bounds, and the result of a run built from what it counted.
 */
import type { Fleet, Job, Plan, QoE } from '../types.js'
import type { SimResult } from './run.js'
import { meanAndP95 } from '../../shared/stats.js'

export function energyByDevice(plan: Plan, fleet: Fleet, busyS: ReadonlyMap<string, number>, radioJ: ReadonlyMap<string, number>, windowS: number, runS: number): Record<string, number> {
  const scale = windowS / Math.max(windowS, runS)
  const out: Record<string, number> = {}
  for (const id of new Set(plan.stages.flatMap((s) => s.devices))) {
    const d = fleet.devices.get(id)!
    out[id] = d.idleW * windowS + (d.activeW - d.idleW) * (busyS.get(id) ?? 0) * scale
  }
  for (const [id, j] of radioJ) out[id] = (out[id] ?? 0) + j * scale
  return out
}

/**
 * Whether measured figures hold a job's bounds. A throughput bound on an inference job is judged
 * as "sustains the offered load" (`sustains`: the offered rate meets the bound and completions
 * kept up with arrivals, the queue stable), not by a window's count of Poisson arrivals; without
 * it (training: samples per second) the measured rate must be within 5% (a finite run's noise).
 */
export function boundsHold(q: QoE, m: { latencyMs: number; p95LatencyMs: number; throughputRps: number; energyJPerRequest: number; sustains?: { offeredRps: number; keptUp: boolean } }): boolean {
  const throughputOk = q.throughputRps === undefined ||
    (m.sustains ? m.sustains.keptUp && m.sustains.offeredRps >= q.throughputRps * (1 - 1e-9) : m.throughputRps >= q.throughputRps * 0.95)
  return (q.latencyMs === undefined || m.latencyMs <= q.latencyMs) &&
    (q.p95LatencyMs === undefined || m.p95LatencyMs <= q.p95LatencyMs) &&
    throughputOk &&
    (q.energyJPerRequest === undefined || m.energyJPerRequest <= q.energyJPerRequest)
}

export const sum = (xs: readonly number[]): number => xs.reduce((a, x) => a + x, 0)

/** What a run counted, for its result (runResult). */
export interface RunTally {
  readonly requests: number
  readonly completed: number
  /** Each measured request's latency (inference) or each measured step's time (training), ms. */
  readonly latenciesMs: readonly number[]
  readonly throughputRps: number
  /** How many requests (or samples) the window's energy is shared among (0: none, infinite energy). */
  readonly energyShares: number
  /** Whether enough of the work completed for the bounds to be judged at all. */
  readonly enough: boolean
  readonly sustains?: { offeredRps: number; keptUp: boolean }
  readonly samplesMs: readonly number[]
  readonly latencyMsBySource: readonly number[]
}

/** The result of an event-driven run (simulator and training replay alike): energy over the window, latency figures, bounds. */
export function runResult(plan: Plan, job: Job, fleet: Fleet, busyS: ReadonlyMap<string, number>, medium: { radioJ: ReadonlyMap<string, number>; busyS: number }, windowS: number, runS: number, t: RunTally): SimResult {
  const energyJByDevice = energyByDevice(plan, fleet, busyS, medium.radioJ, windowS, runS)
  const total = sum(Object.values(energyJByDevice))
  const { mean: latencyMs, p95: p95LatencyMs } = meanAndP95(t.latenciesMs)
  const energyJPerRequest = t.energyShares > 0 ? total / t.energyShares : Infinity
  const qoeMet = t.enough && boundsHold(job.qoe, { latencyMs, p95LatencyMs, throughputRps: t.throughputRps, energyJPerRequest, sustains: t.sustains })
  return {
    emulated: true, requests: t.requests, completed: t.completed, latencyMs, p95LatencyMs, throughputRps: t.throughputRps, energyJPerRequest,
    energyJByDevice, airBusyFraction: medium.busyS / Math.max(runS, 1e-9), qoeMet, samplesMs: t.samplesMs, latencyMsBySource: t.latencyMsBySource,
  }
}
