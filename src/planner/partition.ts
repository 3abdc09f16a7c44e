/**
 * Dora's heterogeneity-aware partitioner. Pure.
 *
 * Devices with identical profiles form a type (as in PipeEdge's DP). A plan is a sequence of
 * stages; stage k takes layers [i, j) on r devices of one type (r > 1: replicas sharing its
 * requests). Dynamic programming over states (layers done i, devices used per type, type of the
 * last stage) keeps, per state, a Pareto set of partial plans over four objectives:
 * pipeline period so far (slowest stage), latency so far (compute + transfers), energy so far
 * (idle + active compute + radio) and air time per request (the shared Wi-Fi, which bounds the period
 * too). Sets are thinned to `frontSize` points (extremes kept), so the search is
 * O(L^2 x T x R x states x frontSize) for L layers, T types, R replication degrees.
 *
 * The search lives in partition-dp.ts (its partial plans in partition-labels.ts). Complete plans
 * are then costed exactly (cost.ts: queueing, contention, idle power, memory), non-compliant ones dropped, and the compliant ones thinned into a small Pareto front over
 * (goal metric, energy). "No feasible plan" is a result with the reasons of the closest plans.
 */
import { boundGap, distanceToBounds } from './cost.js'
import type { Fleet, Network, Compliance, Job, Plan, Prediction } from './types.js'
import { explore, searchSpace } from './partition-dp.js'
import { judgeAsRun, type ModeChoice } from './adapt/transfer-mode.js'

export { deviceTypes, sourceFirstTypes, type DeviceType } from './partition-dp.js'

export interface PartitionOptions {
  readonly network: Network
  readonly maxStages?: number
  /** Micro-batch sizes to try (default: 1, and also 2, 4, 8 for a throughput goal). */
  readonly microBatches?: readonly number[]
  /** Points kept per DP state. */
  readonly frontSize?: number
  /** Partial plans expanded per layer boundary (beam): the Pareto-best across all usage states, each
   * objective's best kept; bounds the search where usage states multiply (product of devices per type + 1). */
  readonly beamWidth?: number
  /** Plans returned at most. */
  readonly maxPlans?: number
  /**
   * Devices whose every figure is within this fraction of each other's share one type in the
   * search, with the worst of their figures (device-groups.ts); the plans found are costed per
   * device. 0: only identical profiles (the search before). Default DEFAULT_GROUP_TOLERANCE.
   */
  readonly groupTolerance?: number
  /** false: the search before issue 18 (beam 24, 8 points per state; now 12 and 4, and for training the partial plan of least estimated step time kept too: BENCHMARKS.md). */
  readonly fast?: boolean
}

export interface PlanCandidate {
  readonly plan: Plan
  /** The prediction of the transfer mode the plan runs (adapt/transfer-mode.ts judgeAsRun). */
  readonly prediction: Prediction
  /** The QoE bounds judged on that prediction. */
  readonly compliance: Compliance
  /** Each transfer mode's prediction and the one the plan runs (absent: a baseline's own costing). */
  readonly modes?: ModeChoice
}

export type PartitionResult =
  | { readonly ok: true; readonly candidates: readonly PlanCandidate[]; readonly chosen: PlanCandidate; readonly explored: number }
  | { readonly ok: false; readonly reasons: readonly string[]; readonly closest: readonly PlanCandidate[]; readonly explored: number }

export function partition(job: Job, fleet: Fleet, options: PartitionOptions): PartitionResult {
  const space = searchSpace(job, fleet, options)
  const counter = { explored: 0 }
  // a search with the early pruning by bounds; when nothing complies, one without it, so that the
  // closest plans and their reasons can be reported
  let candidates = explore(space, true, counter)
  if (!candidates.some((c) => c.compliance.compliant)) candidates = explore(space, false, counter)
  const explored = counter.explored
  const usable = space.usable

  const goalValue = (c: PlanCandidate) =>
    job.goal === 'throughput' ? -c.prediction.capacityRps : job.goal === 'energy' ? c.prediction.energyJPerRequest : c.prediction.latencyMs
  // the plans offered are judged as they will run (judgeAsRun; the p95 worked out there, where the
  // search left it out), the search's estimates only rank them
  const judge = (c: PlanCandidate): PlanCandidate => judgeAsRun(c.plan, space.job, space.fleet, space.net, Number.isNaN(c.prediction.p95LatencyMs) ? {} : { scheduled: c.prediction })
  // the front runs along speed (latency, or capacity for a throughput goal) against energy, whatever
  // the goal: the adapter mixes its plans; the goal only picks the chosen one
  const speed = (c: PlanCandidate) => (job.goal === 'throughput' ? -c.prediction.capacityRps : c.prediction.latencyMs)
  const asRun = frontAsRun(candidates.filter((c) => c.compliance.compliant), judge, (cs) => paretoFront(cs, speed, options.maxPlans ?? 6, job.goal === 'throughput'))
  if (asRun.length === 0) {
    // closest first (as they will run): the least summed gap to the bounds, each relative to its limit
    const closest = [...candidates].sort((a, b) => distanceToBounds(a.compliance) - distanceToBounds(b.compliance) || goalValue(a) - goalValue(b)).slice(0, 6).map(judge)
      .sort((a, b) => distanceToBounds(a.compliance) - distanceToBounds(b.compliance) || goalValue(a) - goalValue(b)).slice(0, 3)
    const reasons = closest.length
      ? closest[0]!.compliance.violations.map((v) => `${v.bound}${v.device ? ` on ${v.device}` : ''}: predicted ${fmt(v.predicted)}, bound ${fmt(v.limit)} (${Number.isFinite(v.predicted) ? `${(boundGap(v) * 100).toFixed(0)}% off` : 'unbounded'})`)
      : [usable.length === 0 ? 'no usable device (all excluded by battery caps)' : 'no device can hold any stage within its memory bound']
    return { ok: false, reasons, closest, explored }
  }
  const front = asRun.map((c, k) => ({ ...c, plan: { ...c.plan, id: `dora-${k}` } }))
  const chosen = front.reduce((a, b) => (goalValue(b) < goalValue(a) ? b : a))
  return { ok: true, candidates: front, chosen, explored }
}

/**
 * The front of the plans compliant as they will run, judging lazily: the front of the estimates is
 * taken, its plans not yet judged are judged as they run (their prediction and compliance become
 * their transfer mode's), those that fail leave, and the front is taken again, until every plan on
 * it was judged. A plan the estimate finds non-compliant is not offered.
 */
function frontAsRun(compliant: readonly PlanCandidate[], judge: (c: PlanCandidate) => PlanCandidate, frontOf: (cs: readonly PlanCandidate[]) => PlanCandidate[]): PlanCandidate[] {
  let pool = [...compliant]
  for (;;) {
    const front = frontOf(pool)
    const fresh = new Set(front.filter((c) => !c.modes))
    if (!fresh.size) return front
    pool = pool.map((c) => (fresh.has(c) ? judge(c) : c)).filter((c) => c.compliance.compliant)
  }
}

/**
 * Plans no other compliant plan dominates (at least as fast, as frugal and, for a throughput goal,
 * of as much capacity, better on one), in order of `speed`, thinned evenly to `max` (extremes kept).
 */
function paretoFront(cs: readonly PlanCandidate[], speed: (c: PlanCandidate) => number, max: number, withCapacity: boolean): PlanCandidate[] {
  const sorted = [...cs].sort((a, b) => speed(a) - speed(b) || a.prediction.energyJPerRequest - b.prediction.energyJPerRequest)
  const front = sorted.filter((c) => !cs.some((o) => o !== c && dominatesPlan(o, c, withCapacity)))
  // equal plans (same figures) once
  const unique = front.filter((c, k) => front.findIndex((o) => sameFigures(o, c)) === k)
  if (unique.length <= max) return unique
  return Array.from({ length: max }, (_, k) => unique[Math.round((k * (unique.length - 1)) / (max - 1))]!).filter((c, k, arr) => arr.indexOf(c) === k)
}

function sameFigures(a: PlanCandidate, b: PlanCandidate): boolean {
  return a.prediction.latencyMs === b.prediction.latencyMs && a.prediction.energyJPerRequest === b.prediction.energyJPerRequest && a.prediction.capacityRps === b.prediction.capacityRps
}

/** True when plan a is at least as good as b on latency and energy (and capacity), and better on one. */
export function dominatesPlan(a: PlanCandidate, b: PlanCandidate, withCapacity = false): boolean {
  const x = a.prediction
  const y = b.prediction
  const le = x.latencyMs <= y.latencyMs && x.energyJPerRequest <= y.energyJPerRequest && (!withCapacity || x.capacityRps >= y.capacityRps)
  const lt = x.latencyMs < y.latencyMs || x.energyJPerRequest < y.energyJPerRequest || (withCapacity && x.capacityRps > y.capacityRps)
  return le && lt
}

function fmt(x: number): string {
  return Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3)) : 'unbounded'
}
