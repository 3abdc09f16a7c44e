/**
 * The demo's predictions and step figures (pure): the prediction for the transfer mode that ran,
 * the scheduler's slot prediction, and a training run's summary in profile time.
 */
import { ran, type PlanEpoch } from '../planner/adapt/adapter.js'
import type { StepRecord } from '../../device-firmware-bridge/training-source.js'
import { meanAndP95, mixtureP95 } from '../shared/stats.js'
import type { TrainingSummary } from './types.js'

/** The prediction for the transfer mode that runs: the planner's choice, or at once when the devices ignore slots. */
export function predictionFor(e: PlanEpoch, coordination: 'slots' | 'none'): { mean: number; p95: number } {
  if (e.parts.some((p) => !p.modes)) return { mean: e.predicted.latencyMs, p95: e.predicted.p95LatencyMs }
  // the parts' requests pooled, as the run measures them (the planner's own p95 is the worst part's)
  const parts = e.parts.map((p) => {
    const m = coordination === 'slots' ? ran(p.modes!) : p.modes!.atOnce
    return { weight: p.weight, mean: m.latencyMs, p95: m.p95LatencyMs }
  })
  return { mean: parts.reduce((a, p) => a + p.weight * p.mean, 0), p95: mixtureP95(parts) }
}

export function transferMode(e: PlanEpoch, coordination: 'slots' | 'none'): string {
  if (coordination === 'none') return 'at once (--uncoordinated)'
  // a grant's price: the round trip the devices measured, when the hub planned with one
  const grants = e.grantRoundTripMs === undefined ? 'hub grants' : `hub grants (${e.grantRoundTripMs.toFixed(1)} ms a round trip, measured)`
  return [...new Set(e.parts.map((p) => (!p.modes ? (p.schedule ? 'slots' : 'at once') : p.modes.mode === 'slots' && p.schedule ? 'slots' : p.modes.mode === 'grants' ? grants : 'at once')))].join(' + ')
}

/**
 * The scheduler's mean latency of an epoch's mix with slots (null when a plan has no schedule):
 * as the slots run where every source is a device (turn-replay.ts), else the placed cycle's plus
 * the hub's requests' wait for their turn.
 */
export function slotLatencyMs(e: PlanEpoch): number | null {
  let sum = 0
  for (const p of e.parts) {
    if (!p.schedule) return null
    sum += p.weight * (p.schedule.asRun?.latencyMs ?? p.schedule.latencyMs + p.schedule.waitMs)
  }
  return sum
}

/** Step figures in profile time (wall-clock divided by the emulation clock factor). */
export function trainingSummary(records: readonly StepRecord[], microBatches: number, e: PlanEpoch, timeScale: number, plannedJ: number, trainedWallS: number): TrainingSummary {
  const ok = records.filter((r) => r.ok)
  const ms = ok.map((r) => r.ms / timeScale)
  const stat = ms.length ? meanAndP95(ms) : null
  const samples = ok.reduce((a, r) => a + r.samples, 0)
  const totalMs = ms.reduce((a, x) => a + x, 0)
  return {
    steps: ok.length,
    failedSteps: records.length - ok.length,
    microBatchesPerStep: microBatches,
    samplesPerStep: ok[0]?.samples ?? 0,
    stepMs: { mean: stat ? round(stat.mean) : null, p95: stat ? round(stat.p95) : null },
    predictedStepMs: round(ok.length ? avg(ok.map((r) => r.predictedMs)) : e.predicted.latencyMs),
    trainedWallS: round(trainedWallS),
    // steps one after another at the predicted step time, stretched by the clock
    predictedSteps: round((trainedWallS * 1000) / (timeScale * (ok.length ? avg(ok.map((r) => r.predictedMs)) : e.predicted.latencyMs))),
    samplesPerS: totalMs ? round((samples / totalMs) * 1000) : 0,
    // a step is M micro-batches of the plan's micro-batch size
    predictedSamplesPerS: round((microBatches * (e.parts[0]?.plan.microBatch ?? 1) * 1000) / e.predicted.latencyMs),
    lossFirst: ok[0]?.loss ?? null,
    lossLast: ok[ok.length - 1]?.loss ?? null,
    replicasAgree: ok.every((r) => r.replicasAgree),
    energyJPerSample: samples ? round3(plannedJ / samples) : null,
    predictedEnergyJPerSample: round3(e.predicted.energyJPerRequest),
  }
}


const avg = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length
const round = (x: number) => Math.round(x * 10) / 10
const round3 = (x: number) => Math.round(x * 1000) / 1000

/**
 * A training run's wall seconds when none were given: two optimizer steps, or one when two would
 * take more than `capS` on the clock. The sources stop half a predicted step before, so that the
 * step then in progress (which the demo lets finish) is the last; at least 30 s.
 */
export function trainingDurationS(predictedStepMs: number, timeScale: number, capS = 600): number {
  const stepS = (predictedStepMs * timeScale) / 1000
  return Math.max(30, Math.ceil((2 * stepS <= capS ? 1.5 : 0.5) * stepS))
}
