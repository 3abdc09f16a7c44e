/**
 * A fixed planner's epoch (pure): a baseline's plan for the fleet as it stands, run as is, with
 * the transfer mode predicted fastest (judgeAsRun: slots, grants or at once), and no QoE adaptation: what a system
 * built on that baseline would run. Used to execute the baselines for real on the same fleet as
 * Dora (`planner:` of a hub job), through fixedDecision, the policy that re-plans only when
 * devices come or go.
 */
import { BASELINES, type BaselineName } from '../baselines/index.js'
import { BudgetExceeded } from '../baselines/budget.js'
import { hybridDp } from '../baselines/hybrid-dp.js'
import { withinErrorBound } from '../compression.js'
import { jobForFleet, type Fleet, type Network, type Job } from '../types.js'
import { judgeAsRun } from './transfer-mode.js'
import { type AdaptDecision, type AdapterState, type PlanEpoch } from './adapter.js'

/** `microBatches`: the sizes a baseline that batches (hybrid-dp) may choose (default: its own). */
export function fixedEpoch(planner: BaselineName, jobIn: Job, fleet: Fleet, network: Network, epoch: number, nowMs: number, why: string, microBatches?: readonly number[]): PlanEpoch | null {
  const job = jobForFleet(jobIn, fleet.devices)
  if (!job) return null
  const found = planner === 'hybrid-dp' && microBatches ? hybridDp(job, fleet, network, microBatches) : BASELINES[planner](job, fleet, network)
  if (!found) return null
  // a baseline's cuts send lighter where their compression errors add above the job's bound, as Dora's do
  const plan = withinErrorBound(job.model, { ...found.plan, id: `${planner}-${epoch}` })
  const { prediction: p, modes } = judgeAsRun(plan, job, fleet, network, { epochStartMs: nowMs })
  const assignments: Record<string, Array<{ planId: string; stage: number; layers: readonly [number, number] }>> = {}
  plan.stages.forEach((st, k) => {
    for (const id of st.devices) (assignments[id] ??= []).push({ planId: plan.id, stage: k, layers: st.layers })
  })
  return {
    epoch,
    activateAtMs: nowMs,
    parts: [{ plan, weight: 1, schedule: modes.schedule, modes }],
    assignments,
    predicted: { latencyMs: p.latencyMs, p95LatencyMs: p.p95LatencyMs, energyJPerRequest: p.energyJPerRequest },
    reason: `${why}: ${planner}'s plan (a baseline, run as is)`,
  }
}

/**
 * The fixed-planner policy (pure): a baseline's plan as is, made anew only when devices come or
 * go (no QoE adaptation). The hub runs it for a job whose `planner:` is a baseline.
 */
export function fixedDecision(state: AdapterState, planner: BaselineName, job: Job, fleet: Fleet, network: Network, nowMs: number, why: string, microBatches?: readonly number[]): AdaptDecision {
  const ids = [...fleet.devices.keys()].sort()
  if (state.current && JSON.stringify(ids) === JSON.stringify([...state.known].sort())) {
    return { action: 'keep', state, epoch: null, reason: `${why}: ${planner} re-plans only when devices come or go` }
  }
  let epoch: PlanEpoch | null
  try {
    epoch = fixedEpoch(planner, job, fleet, network, (state.current?.epoch ?? 0) + 1, nowMs, why, microBatches)
  } catch (err) {
    // a baseline whose search outgrows its step budget finds no plan, and says why
    if (!(err instanceof BudgetExceeded)) throw err
    return { action: 'infeasible', state: { ...state, known: ids }, epoch: null, reason: `${why}: ${err.message}` }
  }
  if (!epoch) return { action: 'infeasible', state: { ...state, known: ids }, epoch: null, reason: `${why}: ${planner} finds no plan on this fleet` }
  return { action: 'replan', state: { ...state, current: epoch, known: [...fleet.devices.keys()] }, epoch, reason: epoch.reason }
}
