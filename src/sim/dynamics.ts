/**
 * Runtime dynamics in the simulator (EMULATION): a scripted list of events (a device leaves or
 * comes back, a battery falls, other traffic takes airtime for a while, a source changes its
 * rate) played against three policies on the same requests:
 * - static: the plan chosen at the start, for ever;
 * - replan: the partitioner from scratch on every event, switching to its chosen plan;
 * - adapter: Dora's runtime adapter (adapt.ts: re-cost, compose, re-plan only when needed);
 * - baseline (when asked for): a baseline planner run as the hub runs one (planner/adapt/fixed.ts:
 *   its plan as is, made anew only when devices come or go).
 * Between events the fleet is steady, so each policy's plans run in the discrete-event
 * simulator for that segment (a mix of plans shares the requests by weight) and the segment's
 * figures form one row of the timeline. A request whose plan uses a departed device is lost
 * under the static policy (nobody moves it); under the others the hub re-sends the requests in
 * flight on that device (it keeps each request until its result), so they count as re-sent, not
 * lost. Pure and deterministic for a seed.
 */
import { simulate, type SimResult } from './simulate.js'
import { meanAndP95 } from '../shared/stats.js'
import { sum } from '../planner/replay/energy.js'
import { partition } from '../planner/partition.js'
import { adapt, INITIAL_STATE, type AdapterState } from '../planner/adapt/adapter.js'
import { fixedDecision } from '../planner/adapt/fixed.js'
import type { BaselineName } from '../planner/baselines/index.js'
import { stageComputeMs } from '../planner/cost.js'
import { planRouting, replicaLoad } from '../planner/routing.js'
import { jobForFleet, jobSources, type Fleet, type Network, type DeviceProfile, type Job, type Plan } from '../planner/types.js'

export type DynamicEvent =
  | { readonly atS: number; readonly kind: 'leave'; readonly device: string }
  | { readonly atS: number; readonly kind: 'return'; readonly device: string }
  | { readonly atS: number; readonly kind: 'battery'; readonly device: string; readonly levelPct: number }
  | { readonly atS: number; readonly kind: 'airtime'; readonly availableAirtime: number; readonly durationS: number }
  | { readonly atS: number; readonly kind: 'rate'; readonly source: string | null; readonly rateRps: number }

export type CorePolicy = 'static' | 'replan' | 'adapter'
export type Policy = CorePolicy | 'baseline'
/** The policies every run plays; `baseline` is played when a baseline planner is given. */
export const POLICIES: readonly CorePolicy[] = ['static', 'replan', 'adapter']

type PolicyRow = {
  readonly plans: string
  readonly action: string
  readonly latencyMs: number
  readonly p95LatencyMs: number
  readonly energyJPerRequest: number
  readonly requests: number
  readonly lost: number
  readonly resent: number
  readonly qoeMet: boolean
}
type PolicyTotals = { violationS: number; lost: number; resent: number; energyJ: number; replans: number }

export interface SegmentRow {
  readonly fromS: number
  readonly toS: number
  /** What changed at the segment's start. */
  readonly event: string
  readonly policies: Readonly<Record<CorePolicy, PolicyRow>> & { readonly baseline?: PolicyRow }
}

export interface DynamicsResult {
  readonly emulated: true
  /** The policies played, in order (POLICIES, then `baseline` when one was given). */
  readonly policies: readonly Policy[]
  /** The baseline planner the `baseline` policy ran (absent: not played). */
  readonly baseline?: BaselineName
  readonly rows: readonly SegmentRow[]
  readonly totals: Readonly<Record<CorePolicy, PolicyTotals>> & { readonly baseline?: PolicyTotals }
}

interface World {
  fleet: Fleet
  network: Network
  job: Job
}

const describe = (e: DynamicEvent): string => {
  switch (e.kind) {
    case 'leave': return `${e.device} leaves`
    case 'return': return `${e.device} comes back`
    case 'battery': return `${e.device} battery at ${e.levelPct}%`
    case 'airtime': return `other traffic: ${(e.availableAirtime * 100).toFixed(0)}% of the air left for ${e.durationS} s`
    case 'rate': return `${e.source ?? 'the job'} now sends ${e.rateRps} req/s`
  }
}

/** The timeline's cut points (every event, and the end of every airtime episode) and the world at any time. */
function timeline(initial: World, events: readonly DynamicEvent[], durationS: number): { cuts: number[]; worldAt: (t: number) => World } {
  const all = initial.fleet.devices
  const edges = new Set<number>([0, durationS])
  for (const e of events) {
    if (e.atS > 0 && e.atS < durationS) edges.add(e.atS)
    if (e.kind === 'airtime' && e.atS + e.durationS < durationS) edges.add(e.atS + e.durationS)
  }
  const worldAt = (t: number): World => {
    const present = new Map<string, DeviceProfile>(all)
    let network = initial.network
    let job = initial.job
    for (const e of events) {
      if (e.atS > t) continue
      if (e.kind === 'leave') present.delete(e.device)
      if (e.kind === 'return' && all.has(e.device)) present.set(e.device, all.get(e.device)!)
      if (e.kind === 'battery' && present.has(e.device)) {
        const d = present.get(e.device)!
        if (d.battery) present.set(e.device, { ...d, battery: { ...d.battery, levelPct: e.levelPct } })
      }
      if (e.kind === 'airtime' && t < e.atS + e.durationS) network = { ...network, availableAirtime: e.availableAirtime }
      if (e.kind === 'rate') job = withRate(job, e.source, e.rateRps)
    }
    // a source that left sends nothing until it is back
    return { fleet: { devices: present }, network, job: jobForFleet(job, present) ?? { ...job, rateRps: 1e-9 } }
  }
  return { cuts: [...edges].sort((a, b) => a - b), worldAt }
}

/** A plan mix and what the policy did at the segment's start. */
type Mix = { parts: Array<{ plan: Plan; weight: number }>; action: string }
type Totals = Record<Policy, PolicyTotals>

/**
 * The three policies over the segments. Neither `static` nor `replan` is the fixed/baseline
 * policy of planner/adapt/fixed.ts (a baseline planner's plan, re-made when devices come or go),
 * and on purpose: this experiment isolates what Dora's adapter adds to Dora's own partitioner,
 * so both comparison policies run the partitioner's plan, one never re-planned (devices leaving
 * included: what a system without any runtime adaptation loses) and one re-planned from scratch
 * on every event. The baselines run through fixed.ts on a real hub (`planner:` of a hub job).
 */
class Policies {
  private adapterState: AdapterState = INITIAL_STATE
  private baselineState: AdapterState = INITIAL_STATE
  private readonly staticPlan: Plan | null
  private replanPlan: Plan | null

  constructor(first: World, private readonly totals: Totals, private readonly baseline?: BaselineName) {
    const start = partition(first.job, first.fleet, { network: first.network })
    this.staticPlan = start.ok ? start.chosen.plan : (start.closest[0]?.plan ?? null)
    this.replanPlan = this.staticPlan
  }

  /** Each policy's plans for segment k, which starts with `label` in world `w`. */
  mixes(k: number, w: World, fromS: number, label: string): Partial<Record<Policy, Mix>> & Record<CorePolicy, Mix> {
    const decision = adapt(this.adapterState, w, fromS * 1000, label)
    this.adapterState = decision.state
    if (decision.action === 'replan') this.totals.adapter.replans++
    if (k > 0) {
      const r = partition(w.job, w.fleet, { network: w.network })
      this.replanPlan = r.ok ? r.chosen.plan : (r.closest[0]?.plan ?? null)
      this.totals.replan.replans++
    }
    return {
      static: { parts: this.staticPlan ? [{ plan: this.staticPlan, weight: 1 }] : [], action: 'none' },
      replan: { parts: this.replanPlan ? [{ plan: this.replanPlan, weight: 1 }] : [], action: k > 0 ? 're-planned' : 'planned' },
      adapter: { parts: [...(this.adapterState.current?.parts ?? [])], action: decision.action },
      ...(this.baseline ? { baseline: this.baselineMix(w, fromS, label) } : {}),
    }
  }

  /** The hub's fixed-planner policy (planner/adapt/fixed.ts) for the baseline. */
  private baselineMix(w: World, fromS: number, label: string): Mix {
    const decision = fixedDecision(this.baselineState, this.baseline!, w.job, w.fleet, w.network, fromS * 1000, label)
    this.baselineState = decision.state
    if (decision.action === 'replan') this.totals.baseline.replans++
    return { parts: [...(this.baselineState.current?.parts ?? [])], action: decision.action }
  }
}

/** `baseline`: also play that baseline planner as the hub runs it (fixed.ts). */
export function simulateDynamics(initial: World, events: readonly DynamicEvent[], durationS: number, seed: number, baseline?: BaselineName): DynamicsResult {
  const { cuts, worldAt } = timeline(initial, events, durationS)
  const first = worldAt(0)
  const played: Policy[] = [...POLICIES, ...(baseline ? ['baseline' as const] : [])]
  const totals = Object.fromEntries(played.map((p) => [p, { violationS: 0, lost: 0, resent: 0, energyJ: 0, replans: 0 }])) as Totals
  const policies = new Policies(first, totals, baseline)
  const rows: SegmentRow[] = []
  let prevFleet = first.fleet
  // each policy's plans in the segment before (what was in flight when a device left)
  const previous: Record<Policy, ReadonlyArray<{ plan: Plan; weight: number }>> = { static: [], replan: [], adapter: [], baseline: [] }

  for (let k = 0; k + 1 < cuts.length; k++) {
    const fromS = cuts[k]!
    const toS = cuts[k + 1]!
    const w = worldAt(fromS)
    const happened = events.filter((e) => e.atS === fromS || (e.kind === 'airtime' && e.atS + e.durationS === fromS))
    const label = k === 0 ? 'start' : happened.map((e) => (e.kind === 'airtime' && e.atS !== fromS ? 'other traffic ends' : describe(e))).join('; ')
    const departed = [...prevFleet.devices.keys()].filter((id) => !w.fleet.devices.has(id))
    prevFleet = w.fleet
    const mixes = policies.mixes(k, w, fromS, label)
    const row = {} as Record<Policy, PolicyRow & { energyJ: number }>
    for (const p of played) {
      row[p] = segmentFigures(p, mixes[p]!, w, { fromS, toS, seed: seed + k }, departed.length ? inFlightS(previous[p], departed, initial.fleet, w.job) : 0)
      if (!row[p].qoeMet) totals[p].violationS += toS - fromS
      totals[p].lost += row[p].lost
      totals[p].resent += row[p].resent
      totals[p].energyJ += row[p].energyJ
    }
    for (const p of played) previous[p] = mixes[p]!.parts
    rows.push({ fromS, toS, event: label, policies: Object.fromEntries(played.map((p) => [p, withoutEnergy(row[p])])) as SegmentRow['policies'] })
  }
  return { emulated: true, policies: played, ...(baseline ? { baseline } : {}), rows, totals }
}

/** A policy's row for one segment (plus the segment's energy, for the totals). */
function segmentFigures(p: Policy, mix: Mix, w: World, at: { fromS: number; toS: number; seed: number }, inFlight: number): PolicyRow & { energyJ: number } {
  const { parts, action } = mix
  const lengthS = at.toS - at.fromS
  // a plan that still routes requests to a departed device loses those (only the static
  // policy keeps such a plan); the rest run on the replicas that remain
  const { kept, lostShare } = withoutDeparted(parts, w)
  const seg = runSegment(kept, { ...w, job: { ...w.job, rateRps: w.job.rateRps * (1 - lostShare) } }, lengthS, at.seed)
  const offered = Math.round(w.job.rateRps * lengthS)
  const lost = Math.round(offered * lostShare)
  // requests in flight on a device that left are re-sent by the hub (other policies)
  const resent = p !== 'static' && inFlight ? Math.round(w.job.rateRps * inFlight) : 0
  const battery = parts.some((x) => x.plan.stages.some((s) => s.devices.some((id) => {
    const d = w.fleet.devices.get(id)
    return d?.battery ? d.battery.levelPct < d.battery.minPct : false
  })))
  return {
    plans: parts.map((x) => `${x.plan.stages.map((s) => s.devices.join('+')).join('>')}${parts.length > 1 ? ` x${x.weight.toFixed(2)}` : ''}`).join(' | ') || 'none',
    action, latencyMs: seg.latencyMs, p95LatencyMs: seg.p95LatencyMs,
    energyJPerRequest: seg.energyJPerRequest, requests: offered, lost, resent, qoeMet: lostShare === 0 && !battery && seg.qoeMet,
    energyJ: Number.isFinite(seg.energyJ) ? seg.energyJ : 0,
  }
}

function withoutEnergy(r: PolicyRow & { energyJ: number }): PolicyRow {
  const { energyJ: _, ...row } = r
  return row
}

function withRate(job: Job, source: string | null, rateRps: number): Job {
  if (!job.sources) return { ...job, rateRps }
  const rates = job.sources.map((x) => (x.device === source ? rateRps : x.share * job.rateRps))
  const total = sum(rates)
  return { ...job, rateRps: total, sources: job.sources.map((x, i) => ({ ...x, share: rates[i]! / total })) }
}

/**
 * A mix with the departed devices taken out: the share of requests that a plan still routes to
 * them (lost), and the plans reduced to the replicas that remain (dropped when a stage has none).
 */
function withoutDeparted(parts: ReadonlyArray<{ plan: Plan; weight: number }>, w: World): { kept: Array<{ plan: Plan; weight: number }>; lostShare: number } {
  // a policy without a plan serves nothing: every request is lost
  if (!parts.length) return { kept: [], lostShare: 1 }
  let lostShare = 0
  const kept: Array<{ plan: Plan; weight: number }> = []
  const sources = jobSources(w.job).map((x) => ({ d: x.device ? w.fleet.devices.get(x.device) ?? null : null, share: x.share }))
  for (const p of parts) {
    let alive = 1
    for (const [k, st] of p.plan.stages.entries()) {
      const here = st.devices.filter((id) => w.fleet.devices.has(id))
      if (here.length === st.devices.length) continue
      if (!here.length) {
        alive = 0
        break
      }
      // the requests routed to the departed replicas (as the run routes them: routing.ts)
      const known = new Map(w.fleet.devices)
      for (const id of st.devices) if (!known.has(id)) known.set(id, { id } as DeviceProfile)
      const routing = planRouting({ ...p.plan, stages: [st] }, k === 0 ? w.job : { ...w.job, sources: undefined, sourceDevice: null }, { devices: known }, (d, layers) => (w.fleet.devices.has(d.id) ? stageComputeMs(w.job, d, layers, p.plan.microBatch) : 1e9))
      alive *= 1 - st.devices.reduce((a, id, r) => a + (w.fleet.devices.has(id) ? 0 : replicaLoad(routing, 0, r)), 0)
    }
    lostShare += p.weight * (1 - alive)
    if (alive > 0) kept.push({ plan: { ...p.plan, stages: p.plan.stages.map((st) => ({ ...st, devices: st.devices.filter((id) => w.fleet.devices.has(id)) })) }, weight: p.weight * alive })
  }
  const keptTotal = sum(kept.map((x) => x.weight))
  return { kept: kept.map((x) => ({ ...x, weight: x.weight / Math.max(keptTotal, 1e-12) })), lostShare }
}

/** Seconds a request spends computing on the departed devices (Little: in flight = rate x this). */
function inFlightS(parts: ReadonlyArray<{ plan: Plan; weight: number }>, departed: readonly string[], before: Fleet, job: Job): number {
  let s = 0
  for (const p of parts) {
    for (const st of p.plan.stages) {
      const gone = st.devices.filter((id) => departed.includes(id))
      for (const id of gone) s += (p.weight * stageComputeMs(job, before.devices.get(id)!, st.layers, p.plan.microBatch)) / 1000 / st.devices.length
    }
  }
  return s
}

/** One segment of a mix: each plan takes its weight of the requests; latencies pooled. */
function runSegment(parts: ReadonlyArray<{ plan: Plan; weight: number }>, w: World, lengthS: number, seed: number) {
  const runnable = parts.filter((x) => x.weight > 0 && x.plan.stages.every((s) => s.devices.every((id) => w.fleet.devices.has(id))))
  if (!runnable.length) return { latencyMs: Infinity, p95LatencyMs: Infinity, energyJPerRequest: Infinity, energyJ: 0, requests: Math.round(w.job.rateRps * lengthS), qoeMet: false }
  const results: SimResult[] = runnable.map((x) => simulate(x.plan, { ...w.job, rateRps: w.job.rateRps * x.weight }, w.fleet, w.network, { durationS: lengthS, warmupS: Math.min(5, lengthS / 10), seed, computeJitter: 0.05 }))
  const samples = results.flatMap((r) => [...r.samplesMs])
  const { mean, p95 } = meanAndP95(samples)
  const energyJ = sum(results.map((r) => r.energyJPerRequest * r.completed))
  const requests = sum(results.map((r) => r.requests))
  const q = w.job.qoe
  const qoeMet = results.every((r) => r.completed >= r.requests * 0.99) &&
    (q.latencyMs === undefined || mean <= q.latencyMs) && (q.p95LatencyMs === undefined || p95 <= q.p95LatencyMs) &&
    (q.energyJPerRequest === undefined || energyJ / Math.max(1, samples.length) <= q.energyJPerRequest)
  return { latencyMs: mean, p95LatencyMs: p95, energyJPerRequest: energyJ / Math.max(1, samples.length), energyJ, requests, qoeMet }
}
