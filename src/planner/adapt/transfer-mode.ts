/**
 * How a plan's transfers go, chosen by prediction (pure). Three modes:
 * - `slots`: the network scheduler's timed slots (release to result under the schedule, plus the
 *   expected wait for a micro-batch's turn; with device sources only, the schedule as it runs:
 *   network/turn-replay.ts);
 * - `grants`: the hub grants the air over MQTT, one transfer at a time, the shortest ask first
 *   (topics.md § Air grants): the cost model with every device hop paying its grant's round
 *   trip (network/grants.ts), the air held meanwhile, device sources on their frame clocks
 *   (Job.frameClocks, as at once: without turns a device captures on its own clock);
 * - `at-once`: devices send as soon as data is ready, device sources on free-running frame clocks
 *   at random phases (as the device agent captures when it sends at once): the cost model with
 *   Job.frameClocks and Network.dcf (the stations with hops waiting share the air as DCF does;
 *   BENCHMARKS.md § At once: periodic cameras and the shared air). The simulator's at-once run
 *   (`dora simulate --uncoordinated`: its DCF medium, the same frame clocks) is its check.
 * The epoch runs the mode predicted fastest (mean latency; ties go to the simpler mode: at once,
 * then grants, then slots) among those whose training steps keep up with their air (at once a
 * step need not wait for the last checkpoint, whose air may then outlast it), or the one the job
 * forces (`job.transfers`), and its prediction is
 * that mode's. A slot that a ready transfer must
 * wait for costs up to a cycle, and a grant costs a round trip per transfer: coordination wins
 * only where removing queueing and contention outweighs what it costs.
 *
 * judgeAsRun is the one place a plan's QoE is judged (the partitioner's costing, the adapter's
 * re-costing and warm start, a baseline's epoch): the prediction it returns, and the compliance,
 * are those of the mode the plan will run, never of a mode it will not.
 */
import { compliance, predict } from '../cost.js'
import { COMPUTE_CV } from '../inference.js'
import type { Compliance, Fleet, Network } from '../types.js'
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

/**
 * `scheduled`: the cost model's prediction with transfers in turn on the air and free grants (the
 * slots' spread when a request waits for its turn; slotPrediction).
 */
export function chooseTransferMode(plan: Plan, job: Job, fleet: Fleet, network: Network, scheduled: Prediction, epochStartMs: number): ModeChoice {
  return modesOf(plan, job, fleet, network, () => scheduled, epochStartMs).choice
}

/** The at-once prediction: device sources on frame clocks, the air shared as DCF shares it, no grants. */
export function predictAtOnce(plan: Plan, job: Job, fleet: Fleet, network: Network): Prediction {
  return predict(plan, { ...job, frameClocks: true }, fleet, { ...network, coordination: 'scheduled', grants: false, dcf: true })
}

/**
 * The grants prediction: device sources on frame clocks, as at once (a device captures on its own
 * free-running clock whenever it has no turns: device-firmware-bridge/agent.ts startSource), the
 * air in the grant desk's order with every device hop paying its grant's round trip.
 */
export function predictGrants(plan: Plan, job: Job, fleet: Fleet, network: Network): Prediction {
  return predict(plan, { ...job, frameClocks: true }, fleet, { ...network, coordination: 'scheduled', grants: true })
}

/** Each mode's prediction, the mode chosen, and the whole cost-model prediction of the mode that runs. */
function modesOf(plan: Plan, job: Job, fleet: Fleet, network: Network, scheduled: () => Prediction, epochStartMs: number): { choice: ModeChoice; ran: Prediction } {
  const s = scheduleTransfers(plan, job, fleet, network, { epochStartMs })
  const a = predictAtOnce(plan, job, fleet, network)
  const atOnce = { latencyMs: a.latencyMs, p95LatencyMs: a.p95LatencyMs }
  const g = predictGrants(plan, job, fleet, network)
  const grants = { latencyMs: g.latencyMs, p95LatencyMs: g.p95LatencyMs }
  const slots = s.ok ? slotPrediction(s.schedule, scheduled) : null
  // a training mode whose steps need more air than they last (its checkpoints cannot keep their
  // cadence: compliance's air bound) runs only where no mode keeps up
  const keepsUp = (p: () => Prediction) => !job.training || (p().utilisation['air'] ?? 0) <= 1
  const modes: Array<[TransferMode, number, () => Prediction]> = [['at-once', atOnce.latencyMs, () => a], ['grants', grants.latencyMs, () => g]]
  if (slots) modes.push(['slots', slots.latencyMs, scheduled])
  // (a mode's air looked at only where it would win: the slots' resources are a prediction more)
  const fastest = (keeping: boolean): TransferMode | null => {
    let pick: TransferMode | null = null
    let best = Infinity
    for (const [m, ms, p] of modes) if ((pick === null || ms < best) && (!keeping || keepsUp(p))) [pick, best] = [m, ms]
    return pick
  }
  let mode = fastest(true) ?? fastest(false)!
  // a job may force one mode (to measure it): slots only where the plan has them
  if (job.transfers) mode = job.transfers === 'slots' && !slots ? 'at-once' : job.transfers
  const choice = { mode, schedule: s.ok ? s.schedule : null, slots, grants, atOnce }
  // slots: the scheduled prediction's resources (slots hold the air as transfers in turn do) with the slots' latencies
  const ran = mode === 'grants' ? g : mode === 'at-once' ? a : { ...scheduled(), ...slots! }
  return { choice, ran }
}

/** A plan judged as it will run: the mode it runs, that mode's prediction, and the QoE bounds judged on it. */
export interface RunJudgement {
  readonly plan: Plan
  /** The cost model's prediction for the mode that runs (latencies times `latencyScale`). */
  readonly prediction: Prediction
  readonly compliance: Compliance
  /** Every mode's prediction (times `latencyScale`) and the mode chosen. */
  readonly modes: ModeChoice
}

export interface JudgeOptions {
  /** Measured over predicted latency (the adapter's calibration; default 1): it scales every mode alike, so the choice stands. */
  readonly latencyScale?: number
  /** The epoch's start for the slots' schedule (default 0; restamp moves a schedule to another). */
  readonly epochStartMs?: number
  /** The cost model's prediction on `network` (transfers in turn, free grants, as the hub plans), when the caller has it already. */
  readonly scheduled?: Prediction
}

/**
 * The one place a plan's QoE is judged: the transfer mode it will run is chosen (chooseTransferMode's
 * rule), and its prediction and compliance are that mode's. A plan that would comply only in a mode
 * it does not run is not compliant.
 */
export function judgeAsRun(plan: Plan, job: Job, fleet: Fleet, network: Network, options: JudgeOptions = {}): RunJudgement {
  // the cost model on `network`, computed only where the slots need it
  let base = options.scheduled
  const scheduled = () => (base ??= predict(plan, job, fleet, network))
  const { choice, ran } = modesOf(plan, job, fleet, network, scheduled, options.epochStartMs ?? 0)
  const k = options.latencyScale ?? 1
  const prediction = k === 1 ? ran : { ...ran, latencyMs: ran.latencyMs * k, p95LatencyMs: ran.p95LatencyMs * k }
  const scale = (m: ModePrediction): ModePrediction => (k === 1 ? m : { latencyMs: m.latencyMs * k, p95LatencyMs: m.p95LatencyMs * k })
  const modes = k === 1 ? choice : { ...choice, slots: choice.slots ? scale(choice.slots) : null, grants: scale(choice.grants), atOnce: scale(choice.atOnce) }
  return { plan, prediction, compliance: compliance(job, fleet, prediction), modes }
}

/** A mode choice with its schedule moved to another epoch start (the slots' offsets are relative to it). */
export function restamp(m: ModeChoice, epochStartMs: number): ModeChoice {
  return m.schedule && m.schedule.epochStartMs !== epochStartMs ? { ...m, schedule: { ...m.schedule, epochStartMs } } : m
}

/**
 * Slots: the scheduler's mean (release to result, plus the hub's requests' wait for their turn),
 * the spread around it taken as the cost model's. With every source a device that captures at its
 * turns (no wait), the schedule as it runs (Schedule.asRun, network/turn-replay.ts: turns the
 * frames leave empty, the work-conserving slot gate, the compute jitter); without that replay (no
 * sample), the cycle's micro-batches' own times, each with the compute jitter's 95th percentile
 * (CV COMPUTE_CV).
 */
function slotPrediction(s: Schedule, scheduled: () => Prediction): ModePrediction {
  const latencyMs = s.latencyMs + s.waitMs
  if (s.waitMs > 0) return { latencyMs, p95LatencyMs: scheduled().p95LatencyMs + (latencyMs - scheduled().latencyMs) }
  if (s.asRun) return { latencyMs: s.asRun.latencyMs, p95LatencyMs: s.asRun.p95LatencyMs }
  const computeOf = s.latenciesMs.map(() => 0)
  for (const c of s.compute) computeOf[c.microBatch] = (computeOf[c.microBatch] ?? 0) + c.durationMs
  const each = s.latenciesMs.map((x, m) => x + 1.645 * COMPUTE_CV * computeOf[m]!).sort((a, b) => a - b)
  return { latencyMs, p95LatencyMs: each[Math.min(each.length - 1, Math.ceil(0.95 * each.length) - 1)]! }
}

/** The prediction of the mode a plan runs. */
export function predictionOf(m: ModeChoice): ModePrediction {
  return m.mode === 'slots' && m.slots ? m.slots : m.mode === 'grants' ? m.grants : m.atOnce
}
