/**
 * How a plan's transfers go, chosen by prediction (pure). Three modes:
 * - `slots`: the network scheduler's timed slots (release to result under the schedule, plus the
 *   expected wait for a micro-batch's turn);
 * - `grants`: the hub grants the air over MQTT, one transfer at a time, the shortest ask first
 *   (topics.md § Air grants): the cost model with every device hop paying its grant's round
 *   trip (network/grants.ts), the air held meanwhile;
 * - `at-once`: devices send as soon as data is ready. Predicted as the cost model's queued air
 *   (each transfer at its station's solo rate, waiting while the air is busy, M/D/1), as DCF
 *   serves a few stations in turn: the performance anomaly moves delay, it wastes no air, and
 *   collisions among a few stations cost a few percent (design brief). The simulator's DCF
 *   medium agrees on the shipped scenarios (BENCHMARKS.md § Slots that pay). The cost model's
 *   fully contended mode, every hop of the pipeline on the air at once, is the worst case and
 *   not what a pipeline at partial load sees.
 * The epoch runs the mode predicted fastest (mean latency; ties go to the simpler mode: at once,
 * then grants, then slots), or the one the job forces (`job.transfers`), and its prediction is
 * that mode's. A slot that a ready transfer must
 * wait for costs up to a cycle, and a grant costs a round trip per transfer: coordination wins
 * only where removing queueing and contention outweighs what it costs.
 */
import { predict } from '../cost.js'
import { COMPUTE_CV } from '../inference.js'
import type { Fleet, Network } from '../types.js'
import { scheduleTransfers, type Schedule } from '../network/scheduler.js'
import type { Job, Plan, Prediction } from '../types.js'

export type TransferMode = 'slots' | 'grants' | 'at-once'

export interface ModePrediction {
  readonly latencyMs: number
  readonly p95LatencyMs: number
}

export interface ModeChoice {
  readonly mode: TransferMode
  /** The scheduler's slots for the plan (null: none could be made); devices get them only in `slots` mode. */
  readonly schedule: Schedule | null
  /** Each mode's prediction (slots: null when the plan has no schedule). */
  readonly slots: ModePrediction | null
  readonly grants: ModePrediction
  readonly atOnce: ModePrediction
}

/** `scheduled`: the cost model's prediction with transfers in turn on the air and free grants (at once's). */
export function chooseTransferMode(plan: Plan, job: Job, fleet: Fleet, network: Network, scheduled: Prediction, epochStartMs: number): ModeChoice {
  const s = scheduleTransfers(plan, job, fleet, network, { epochStartMs })
  const atOnce = { latencyMs: scheduled.latencyMs, p95LatencyMs: scheduled.p95LatencyMs }
  const g = predict(plan, job, fleet, { ...network, coordination: 'scheduled', grants: true })
  const grants = { latencyMs: g.latencyMs, p95LatencyMs: g.p95LatencyMs }
  const slots = s.ok ? slotPrediction(s.schedule, scheduled) : null
  let mode: TransferMode = 'at-once'
  let best = atOnce.latencyMs
  if (grants.latencyMs < best) [mode, best] = ['grants', grants.latencyMs]
  if (slots && slots.latencyMs < best) mode = 'slots'
  // a job may force one mode (to measure it): slots only where the plan has them
  if (job.transfers) mode = job.transfers === 'slots' && !slots ? 'at-once' : job.transfers
  return { mode, schedule: s.ok ? s.schedule : null, slots, grants, atOnce }
}

/**
 * Slots: the scheduler's mean (release to result, plus the hub's requests' wait for their turn).
 * With every source a device that captures at its turns (no wait), nothing queues: the p95 is the
 * cycle's micro-batches' own times, each with the compute jitter's 95th percentile (CV
 * COMPUTE_CV); otherwise the spread around the mean is taken as the cost model's.
 */
function slotPrediction(s: Schedule, scheduled: Prediction): ModePrediction {
  const latencyMs = s.latencyMs + s.waitMs
  if (s.waitMs > 0) return { latencyMs, p95LatencyMs: scheduled.p95LatencyMs + (latencyMs - scheduled.latencyMs) }
  const computeOf = s.latenciesMs.map(() => 0)
  for (const c of s.compute) computeOf[c.microBatch] = (computeOf[c.microBatch] ?? 0) + c.durationMs
  const each = s.latenciesMs.map((x, m) => x + 1.645 * COMPUTE_CV * computeOf[m]!).sort((a, b) => a - b)
  return { latencyMs, p95LatencyMs: each[Math.min(each.length - 1, Math.ceil(0.95 * each.length) - 1)]! }
}

/** The prediction of the mode a plan runs. */
export function predictionOf(m: ModeChoice): ModePrediction {
  return m.mode === 'slots' && m.slots ? m.slots : m.mode === 'grants' ? m.grants : m.atOnce
}
