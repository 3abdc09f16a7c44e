/**
 * How a plan's transfers go, chosen by prediction (pure): in the network scheduler's timed slots
 * (release to result under the schedule, plus the expected wait for a micro-batch's turn), or at
 * once as they are ready. At once is the cost model's queued air: each transfer at its station's
 * solo rate, waiting while the air is busy (M/D/1), as DCF serves a few stations in turn (the
 * performance anomaly moves delay, it wastes no air; collisions among a few stations cost a few
 * percent, design brief). The cost model's fully contended mode, every hop of the pipeline on the
 * air at once, is the worst case and is not what a pipeline at partial load sees (425 ms predicted
 * against 114 ms queued on a two-stage test plan). The epoch runs the mode predicted faster, and
 * its prediction is that mode's. A slot that a ready transfer must wait for costs up to a cycle,
 * so with one transfer on the air at a time at once wins; slots win only where their removal of
 * queueing outweighs the wait.
 */
import type { Fleet, Network } from '../types.js'
import { scheduleTransfers, type Schedule } from '../network/scheduler.js'
import type { Job, Plan, Prediction } from '../types.js'

export type TransferMode = 'slots' | 'at-once'

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
  readonly atOnce: ModePrediction
}

/** `scheduled`: the cost model's prediction with transfers in turn on the air (no slot waits): at once's, and the spread the slots keep. */
export function chooseTransferMode(plan: Plan, job: Job, fleet: Fleet, network: Network, scheduled: Prediction, epochStartMs: number): ModeChoice {
  const s = scheduleTransfers(plan, job, fleet, network, { epochStartMs })
  const atOnce = { latencyMs: scheduled.latencyMs, p95LatencyMs: scheduled.p95LatencyMs }
  // the scheduler predicts the mean; its spread around the mean is taken as the cost model's
  const slots = s.ok ? { latencyMs: s.schedule.latencyMs + s.schedule.waitMs, p95LatencyMs: scheduled.p95LatencyMs + (s.schedule.latencyMs + s.schedule.waitMs - scheduled.latencyMs) } : null
  const useSlots = slots !== null && slots.latencyMs < atOnce.latencyMs
  return { mode: useSlots ? 'slots' : 'at-once', schedule: s.ok ? s.schedule : null, slots, atOnce }
}
