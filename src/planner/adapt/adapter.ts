/**
 * The runtime adapter: keeps a job's plans compliant as the fleet changes. Pure: the caller
 * (the hub's service shell, or the simulator) gives the fleet as it is now and the time.
 *
 * On every event (device left or joined, battery fell, measured compute or link rate drifted,
 * measured latency broke its bound, periodic re-costing):
 * 0. a measured latency of the running epoch calibrates every candidate's predicted latency
 *    (measured / predicted), so the plans are judged as they run;
 * 1. re-cost the kept candidate plans against the fleet as it is now (plans on departed devices
 *    drop out);
 * 2. compose them (compose.ts: the least-energy, or least-latency, time-sharing mix whose mean
 *    QoE holds);
 * 3. if no mix complies, or a device joined that no candidate uses, run the partitioner again and
 *    compose its plans; with `quick` (warm start, incremental.ts), a join or a leave of a planned
 *    device first edits the kept plans instead (the newcomer as a replica or in place of a
 *    device; the departed device dropped, replaced or its stage merged), and the decision says
 *    `needsFull`: the next call runs the full search (state.searchPending), whose plans then
 *    replace the quick ones only through the same hysteresis;
 * 4. hysteresis: a still-compliant current mix is kept unless the new one is better by more than
 *    `hysteresis` (default 10%), so that plans do not flap on measurement noise; with no
 *    compliant mix, the running epoch (on online devices) is kept unless the closest plan is
 *    nearer the bounds by more than that (distanceToBounds), else the closest plan runs;
 * 5. a change becomes a new epoch, activated at the first period boundary of the old epoch at
 *    least `leadMs` ahead (devices finish requests of the old epoch on the old plan).
 */
import { boundGap, compliance, distanceToBounds, predict } from '../cost.js'
import { jobForFleet, jobSources, type Compliance, type DeviceProfile, type Fleet, type Network, type Job, type Plan } from '../types.js'
import { partition, type PlanCandidate } from '../partition.js'
import { compose, type Composition } from './compose.js'
import type { Schedule } from '../network/scheduler.js'
import { judgeAsRun, predictionOf, restamp, type ModeChoice, type ModePrediction } from './transfer-mode.js'
import { costPlan, warmStart, type WarmStartInputs } from './incremental.js'

export interface PlanEpoch {
  readonly epoch: number
  readonly activateAtMs: number
  /**
   * The plans, the share of requests (time) each runs, and its transfer schedule (null: none):
   * each plan runs the transfer mode predicted faster (transfer-mode.ts: `modes.mode`; in
   * `at-once` mode devices get no slots and the schedule is only shown).
   */
  readonly parts: ReadonlyArray<{ readonly plan: Plan; readonly weight: number; readonly schedule: Schedule | null; readonly modes?: ModeChoice }>
  /** Per device: the stages it holds in each plan of the mix. */
  readonly assignments: Readonly<Record<string, ReadonlyArray<{ planId: string; stage: number; layers: readonly [number, number] }>>>
  readonly predicted: { readonly latencyMs: number; readonly p95LatencyMs: number; readonly energyJPerRequest: number }
  readonly reason: string
  /** The measured grant round trip the transfer modes were chosen with, ms (absent: the modelled one; Network.grantRoundTripMs). */
  readonly grantRoundTripMs?: number
  /**
   * Present when no plan meets the QoE bounds and the epoch runs the closest one: every bound its
   * plan breaks (as predicted) and how far off, per cent of the bound (null: unbounded).
   */
  readonly closest?: readonly QoeGap[]
}

export interface QoeGap {
  readonly bound: string
  readonly device: string | null
  readonly offPct: number | null
}

/** The bounds a plan breaks and how far off (its compliance), for an epoch that runs the closest plan. */
export function qoeGaps(c: Compliance): QoeGap[] {
  return c.violations.map((v) => ({ bound: v.bound, device: v.device, offPct: Number.isFinite(v.predicted) ? Math.round(boundGap(v) * 100) : null }))
}

/** "latencyMs 23% off, utilisation on cam 4% off": the gaps as one line. */
export function gapsText(gaps: readonly QoeGap[]): string {
  return gaps.map((g) => `${g.bound}${g.device ? ` on ${g.device}` : ''} ${g.offPct === null ? 'unbounded' : `${g.offPct}% off`}`).join(', ')
}

export interface AdapterState {
  readonly candidates: readonly Plan[]
  readonly current: PlanEpoch | null
  /** The current mix's objective when it was chosen (energy per request, or latency). */
  readonly objective: number | null
  /** Cycle of the current epoch's period boundaries, ms (0: activate at once). */
  readonly cycleMs: number
  /** The devices of the fleet at the last call (a new one may allow better plans). */
  readonly known: readonly string[]
  /** Measured over predicted latency of the running epoch (1 until measured). */
  readonly latencyScale?: number
  /** A quick decision stood in for a search: the next call runs the full search. */
  readonly searchPending?: boolean
}

export interface AdapterOptions {
  readonly hysteresis?: number
  readonly leadMs?: number
  /** The partitioner's search when it re-plans (default: the fast search). */
  readonly fastSearch?: boolean
  /** Micro-batch sizes the partitioner may choose (default: its own, partition.ts); the hub passes what its devices run. */
  readonly microBatches?: readonly number[]
  /**
   * Warm start: a join or a leave of a planned device edits the kept plans (a quick decision,
   * milliseconds) in place of the search, and the decision says `needsFull`; the caller publishes
   * it and calls again for the full search.
   */
  readonly quick?: boolean
}

/** `quick`: the plans changed by a warm start's quick decision (incremental.ts). */
export type AdaptAction = 'keep' | 'recompose' | 'replan' | 'quick' | 'infeasible'

export interface AdaptDecision {
  readonly action: AdaptAction
  readonly state: AdapterState
  /** The new epoch, when the action changed the plans. */
  readonly epoch: PlanEpoch | null
  readonly reason: string
  /** A quick decision stood in for the full search: call again (state.searchPending) to run it. */
  readonly needsFull?: boolean
}

export const INITIAL_STATE: AdapterState = { candidates: [], current: null, objective: null, cycleMs: 0, known: [] }

export interface AdaptInputs {
  readonly job: Job
  readonly fleet: Fleet
  readonly network: Network
  /**
   * The running epoch's measured mean latency, ms, when known: its ratio to the prediction
   * becomes a calibration of every candidate's latency (the cost model's error, here and now).
   */
  readonly measuredLatencyMs?: number
}

export function adapt(state: AdapterState, inputs: AdaptInputs, nowMs: number, why: string, options: AdapterOptions = {}): AdaptDecision {
  const d = decide(state, inputs, nowMs, why, options)
  // a search left pending by this call (not one pending from before: that call searched, or found nothing to serve)
  return d.state.searchPending && !state.searchPending ? { ...d, needsFull: true } : d
}

function decide(state: AdapterState, inputs: AdaptInputs, nowMs: number, why: string, options: AdapterOptions): AdaptDecision {
  const hysteresis = options.hysteresis ?? 0.1
  const { fleet, network } = inputs
  const job = jobForFleet(inputs.job, fleet.devices)
  if (!job) return { action: 'keep', state: { ...state, known: [...fleet.devices.keys()] }, epoch: null, reason: `${why}: no source of the job is present; nothing to serve` }
  // calibration: the running epoch measured slower (or faster) than predicted
  let scale = state.latencyScale ?? 1
  if (inputs.measuredLatencyMs !== undefined && state.current && state.current.predicted.latencyMs > 0) {
    scale = Math.min(50, Math.max(0.02, inputs.measuredLatencyMs / (state.current.predicted.latencyMs / scale)))
  }
  const warm = { job, fleet, network, latencyScale: scale }
  const recost = (plans: readonly Plan[]): PlanCandidate[] => plans.filter((p) => p.stages.every((s) => s.devices.every((id) => fleet.devices.has(id)))).map((plan) => costPlan(plan, warm))
  const { candidates, mix, how } = widen(state, recost, warm, nowMs, options)
  const replanned = how === 'search'
  const needsFull = how === 'quick'
  const nextState = (current: PlanEpoch | null, objective: number | null): AdapterState => ({ candidates: candidates.map((c) => c.plan), current, objective, cycleMs: state.cycleMs, known: [...fleet.devices.keys()], latencyScale: scale, ...(needsFull ? { searchPending: true } : {}) })

  if (!mix) {
    // never keep or publish an epoch that names a device that is gone: run the closest plan on
    // the devices that are online, and say so
    const online = (id: string) => {
      const d = fleet.devices.get(id)
      return d !== undefined && (!d.battery || d.battery.levelPct >= d.battery.minPct)
    }
    const runnable = state.current?.parts.every((p) => p.plan.stages.every((s) => s.devices.every(online)))
    const closest = candidates.filter((c) => c.plan.stages.every((s) => s.devices.every(online))).sort((a, b) => distanceToBounds(a.compliance) - distanceToBounds(b.compliance))[0]
    // the running epoch's worst plan, re-costed: how far off it now is
    const worst = state.current && runnable ? recost(state.current.parts.map((p) => p.plan)).sort((a, b) => distanceToBounds(b.compliance) - distanceToBounds(a.compliance))[0] : undefined
    // it stays unless the closest plan is clearly nearer the bounds (a rate surge can overload it)
    if (state.current && runnable && !(closest && worst && clearlyNearer(closest.compliance, worst.compliance, hysteresis))) {
      const current = { ...state.current, closest: worst ? qoeGaps(worst.compliance) : [] }
      return { action: 'infeasible', state: nextState(current, state.objective), epoch: null, reason: `${why}: no plan or mix meets the QoE bounds; the current epoch stays (it runs on online devices${current.closest.length ? `; ${gapsText(current.closest)}` : ''})` }
    }
    if (!closest) return { action: 'infeasible', state: nextState(null, null), epoch: null, reason: `${why}: no plan runs on the online devices; requests are not served` }
    const gaps = qoeGaps(closest.compliance)
    const only: Composition = { parts: [{ candidate: closest, weight: 1 }], latencyMs: closest.prediction.latencyMs, energyJPerRequest: closest.prediction.energyJPerRequest, objective: Infinity }
    const epoch = { ...toEpoch(only, (state.current?.epoch ?? 0) + 1, nowMs, `${why}: no plan meets the QoE bounds; running the closest plan on the online devices (${gapsText(gaps)})`, { job, fleet, network }), closest: gaps }
    return { action: 'infeasible', state: nextState(epoch, null), epoch, reason: epoch.reason }
  }
  // is the running mix still good? (re-costed; its parts must still exist and comply on average)
  // (its parts came from the candidates, so they are still candidates exactly when they survive re-costing)
  const running = state.current ? recost(state.current.parts.map((p) => p.plan)) : []
  const current = state.current && running.length === state.current.parts.length ? compose(running, job) : null
  if (state.current && current && mix.objective >= current.objective * (1 - hysteresis)) {
    // it meets the bounds again (if it was running as the closest plan, it no longer is)
    const { closest: _was, ...kept } = state.current
    if (kept.grantRoundTripMs !== network.grantRoundTripMs) return rechooseModes(kept, current, inputs, nextState(kept, current.objective), why, activation(state, nowMs, options.leadMs ?? 0))
    return { action: 'keep', state: nextState(kept, current.objective), epoch: null, reason: `${why}: the current plans still meet the bounds (within ${(hysteresis * 100).toFixed(0)}% of the best mix)` }
  }
  const activateAtMs = activation(state, nowMs, options.leadMs ?? 0)
  const done = replanned ? 're-planned' : needsFull ? 'quick decision (the kept plans edited for the devices that came or went; the full search follows)' : 'recomposed'
  const epoch = toEpoch(mix, (state.current?.epoch ?? 0) + 1, activateAtMs, `${why}: ${done}`, { job, fleet, network })
  // the new epoch's period boundaries: every cycle of its longest schedule
  const cycleMs = Math.max(0, ...epoch.parts.map((p) => p.schedule?.cycleMs ?? 0))
  return { action: replanned ? 'replan' : needsFull ? 'quick' : 'recompose', state: { ...nextState(epoch, mix.objective), cycleMs }, epoch, reason: epoch.reason }
}

/**
 * The candidates to compose: the kept ones re-costed, and when a device joined that the last
 * search could not use, no mix complies, or nothing was searched yet, the partitioner's plans
 * with them ('search'); with `options.quick`, a join or a leave of a planned device edits the
 * kept plans instead ('quick', incremental.ts) and the search waits for the next call.
 */
function widen(state: AdapterState, recost: (plans: readonly Plan[]) => PlanCandidate[], w: WarmStartInputs, nowMs: number, options: AdapterOptions): { candidates: PlanCandidate[]; mix: Composition | null; how: 'kept' | 'quick' | 'search' } {
  const { job, fleet, network } = w
  const kept = recost(state.candidates)
  const mix = compose(kept, job)
  const newcomers = state.known.length > 0 ? [...fleet.devices.keys()].filter((id) => !state.known.includes(id)) : []
  // incremental: a newcomer with an idle twin (same profile, known at the last search, in no
  // candidate) adds no device kind or count the last search lacked: its plans stand (no re-plan)
  const joined = newcomers.filter((id) => !hasIdleTwin(id, state, fleet, job))
  const planned = new Set(state.candidates.flatMap((p) => p.stages.flatMap((s) => s.devices)))
  const lost = state.known.some((id) => !fleet.devices.has(id) && planned.has(id))
  if (options.quick && state.candidates.length > 0 && !state.searchPending && (joined.length > 0 || lost)) {
    const candidates = [...warmStart(state.candidates, joined, w, `q${nowMs.toFixed(0)}`), ...kept]
    return { candidates, mix: compose(candidates, job), how: 'quick' }
  }
  if (mix && !joined.length && state.candidates.length && !state.searchPending) return { candidates: kept, mix, how: 'kept' }
  const res = partition(job, fleet, { network, ...(options.fastSearch !== undefined ? { fast: options.fastSearch } : {}), ...(options.microBatches ? { microBatches: options.microBatches } : {}) })
  const fresh = res.ok ? res.candidates : res.closest
  // keep the old candidates that still run, next to the new ones (more plans to mix)
  const ids = new Set(fresh.map((c) => JSON.stringify(c.plan.stages)))
  // the new plans judged as the old ones are: with the calibration
  const candidates = [...recost(fresh.map((c, k) => ({ ...c.plan, id: `p${nowMs.toFixed(0)}-${k}` }))), ...kept.filter((c) => !ids.has(JSON.stringify(c.plan.stages)))]
  return { candidates, mix: compose(candidates, job), how: 'search' }
}

/**
 * The plans stay but the grant round trip changed (measured): each plan's transfer mode is chosen
 * again with it. A mode that changes, or a plan running grants (whose prediction moved), makes a
 * new epoch of the same plans; otherwise the epoch stays, its modes' predictions updated.
 */
function rechooseModes(kept: PlanEpoch, mix: Composition, inputs: AdaptInputs, state: AdapterState, why: string, activateAtMs: number): AdaptDecision {
  const rtt = inputs.network.grantRoundTripMs
  const reason = `${why}: transfer modes chosen again with a grant round trip of ${rtt === undefined ? 'the model\'s' : `${rtt.toFixed(2)} ms (measured)`}`
  const epoch = toEpoch(mix, kept.epoch + 1, activateAtMs, reason, inputs)
  const was = (id: string) => kept.parts.find((p) => p.plan.id === id)?.modes?.mode
  const moved = epoch.parts.length !== kept.parts.length || epoch.parts.some((p) => p.modes?.mode !== was(p.plan.id) || p.modes?.mode === 'grants')
  if (moved) return { action: 'recompose', state: { ...state, current: epoch, cycleMs: Math.max(0, ...epoch.parts.map((p) => p.schedule?.cycleMs ?? 0)) }, epoch, reason }
  const { grantRoundTripMs: _old, ...rest } = kept
  const current: PlanEpoch = { ...rest, ...(rtt !== undefined ? { grantRoundTripMs: rtt } : {}), parts: kept.parts.map((p) => ({ ...p, modes: epoch.parts.find((q) => q.plan.id === p.plan.id)?.modes ?? p.modes })) }
  return { action: 'keep', state: { ...state, current }, epoch: null, reason: `${reason}: the modes stand` }
}

/** The first period boundary of the running epoch at least `leadMs` from now. */
function activation(state: AdapterState, nowMs: number, leadMs: number): number {
  const at = nowMs + leadMs
  if (!state.current || state.cycleMs <= 0) return at
  const k = Math.ceil((at - state.current.activateAtMs) / state.cycleMs)
  return state.current.activateAtMs + Math.max(0, k) * state.cycleMs
}

function toEpoch(mix: Composition, epoch: number, activateAtMs: number, reason: string, inputs: AdaptInputs): PlanEpoch {
  const assignments: Record<string, Array<{ planId: string; stage: number; layers: readonly [number, number] }>> = {}
  for (const p of mix.parts) {
    p.candidate.plan.stages.forEach((s, k) => {
      for (const id of s.devices) (assignments[id] ??= []).push({ planId: p.candidate.plan.id, stage: k, layers: s.layers })
    })
  }
  // each plan runs the mode it was judged in (costPlan: judgeAsRun), its slots from this epoch's start
  const parts = mix.parts.map((p) => ({ ...p, modes: restamp(p.candidate.modes ?? judgeAsRun(p.candidate.plan, inputs.job, inputs.fleet, inputs.network).modes, activateAtMs) }))
  return {
    epoch,
    activateAtMs,
    parts: parts.map((p) => ({ plan: p.candidate.plan, weight: p.weight, schedule: p.modes.schedule, modes: p.modes })),
    assignments,
    predicted: { latencyMs: mix.latencyMs, p95LatencyMs: Math.max(...parts.map((p) => p.candidate.prediction.p95LatencyMs)), energyJPerRequest: mix.energyJPerRequest },
    reason,
    ...(inputs.network.grantRoundTripMs !== undefined ? { grantRoundTripMs: inputs.network.grantRoundTripMs } : {}),
  }
}

/** The prediction of the mode a plan runs. */
export function ran(m: ModeChoice): ModePrediction {
  return predictionOf(m)
}

/** Profile of a device without its id, as the partitioner groups devices into types. */
function profileKey(d: DeviceProfile): string {
  const { id: _id, ...rest } = d
  return JSON.stringify(rest)
}

/**
 * Whether `a` is nearer its bounds than `b` by more than the hysteresis: fewer unbounded gaps (an
 * overloaded plan's latency), then the summed finite gaps (distanceToBounds without the 1e6s;
 * an overload's own gap, rate over capacity, says how overloaded).
 */
function clearlyNearer(a: Compliance, b: Compliance, hysteresis: number): boolean {
  const split = (c: Compliance) => c.violations.map(boundGap).reduce((acc, g) => (g >= 1e6 ? { ...acc, unbounded: acc.unbounded + 1 } : { ...acc, finite: acc.finite + g }), { unbounded: 0, finite: 0 })
  const x = split(a)
  const y = split(b)
  return x.unbounded !== y.unbounded ? x.unbounded < y.unbounded : x.finite < y.finite * (1 - hysteresis)
}

/** Whether a joined device has a twin that the last search could already use and did not. */
function hasIdleTwin(id: string, state: AdapterState, fleet: Fleet, job: Job): boolean {
  const d = fleet.devices.get(id)
  if (!d || jobSources(job).some((x) => x.device === id)) return false
  const used = new Set(state.candidates.flatMap((p) => p.stages.flatMap((s) => s.devices)))
  const key = profileKey(d)
  return state.known.some((k) => k !== id && !used.has(k) && fleet.devices.has(k) && profileKey(fleet.devices.get(k)!) === key)
}
