/**
 * Warm-start re-planning when devices join or leave (issue 18). Pure.
 *
 * The kept candidate plans (the last search's front) are edited instead of searched again:
 * - a join: the newcomer becomes an extra replica of a stage, takes the place of one of its
 *   devices, or runs a run of consecutive stages merged into one (up to the whole model), alone or
 *   with one of their devices (every stage of every kept plan): a newcomer of a faster or more
 *   frugal kind takes the layers the kept plans spread over slower devices, as the search would;
 * - a leave: the departed device is dropped from its stages; a stage left empty is filled with a
 *   device the plan does not use, or its layers go to the stage before or after it.
 * Every variant is costed by the cost model's estimate (the QoE bounds, the p95 margin, the
 * utilisation cap), the best few are improved by a local search
 * (cuts re-balanced one layer at a time, a replica dropped or added; a plan that breaks a bound
 * also grows onto an idle device as a split stage), and the Pareto front of the compliant ones is
 * returned, each judged as it will run (transfer-mode.ts judgeAsRun), for the adapter to compose
 * with the kept plans. The full search can follow later.
 */
import { compliance, distanceToBounds, predict } from '../cost.js'
import { dominatesPlan, type PlanCandidate } from '../partition.js'
import type { Fleet, Job, Network, Plan, Stage } from '../types.js'
import { composable } from './compose.js'
import { judgeAsRun } from './transfer-mode.js'

export interface WarmStartInputs {
  readonly job: Job
  readonly fleet: Fleet
  readonly network: Network
  /** Measured over predicted latency (the adapter's calibration). */
  readonly latencyScale: number
}

/**
 * Variants offered at most (the goal's best among them). Each is judged as it will run (costPlan,
 * tens of ms on 48 devices, most of a quick decision's time), so fewer than the partitioner's
 * front: the full search that follows offers the rest.
 */
const MAX_PLANS = 3
/** Variants improved by the local search (improve). */
const POLISHED = 3

/** A plan costed and judged as it will run (its transfer mode's prediction, with the calibration): as the adapter judges the kept ones. */
export function costPlan(plan: Plan, w: WarmStartInputs): PlanCandidate {
  return judgeAsRun(plan, w.job, w.fleet, w.network, { latencyScale: w.latencyScale })
}

/**
 * The warm start's estimate of a variant (the cost model on the adapter's network, transfers in
 * turn, with the calibration): it ranks and polishes variants, dearer judging (costPlan) is kept
 * for the few it returns.
 */
function estimate(plan: Plan, w: WarmStartInputs): PlanCandidate {
  const raw = predict(plan, w.job, w.fleet, w.network)
  const prediction = w.latencyScale === 1 ? raw : { ...raw, latencyMs: raw.latencyMs * w.latencyScale, p95LatencyMs: raw.p95LatencyMs * w.latencyScale }
  return { plan, prediction, compliance: compliance(w.job, w.fleet, prediction) }
}

/**
 * Whether a plan breaks a bound the partitioner never relaxes (a stage beyond a device's memory,
 * a device under its battery cap): such a variant is dropped, as the search never offers it,
 * even as the closest plan when nothing complies.
 */
function outOfBounds(c: PlanCandidate): boolean {
  return c.compliance.violations.some((v) => v.bound === 'memory' || v.bound === 'battery')
}

/** The goal's figure (lower is better). */
function goalValue(job: Job, c: PlanCandidate): number {
  return job.goal === 'throughput' ? -c.prediction.capacityRps : job.goal === 'energy' ? c.prediction.energyJPerRequest : c.prediction.latencyMs
}

/** Whether a is better than b: composable first (meets the bounds a mix cannot average), then the goal, else nearer the bounds. */
function better(job: Job, a: PlanCandidate, b: PlanCandidate): boolean {
  const ca = composable(a)
  const cb = composable(b)
  if (ca !== cb) return ca
  if (!ca) {
    const da = distanceToBounds(a.compliance)
    const db = distanceToBounds(b.compliance)
    if (da !== db) return da < db
  }
  return goalValue(job, a) < goalValue(job, b)
}

/** A plan's identity (replicas in any order are one plan). */
const key = (p: Plan) => JSON.stringify([p.stages.map((s) => [s.layers, [...s.devices].sort()]), p.microBatch])

/**
 * The kept plans with each newcomer as an extra replica of a stage, in place of one of a stage's
 * devices, or alone running a run of consecutive stages (one stage, several, the whole model): a
 * newcomer faster or more frugal than the devices planned takes their layers, their devices idle.
 */
export function joinEdits(plans: readonly Plan[], newcomers: readonly string[]): Plan[] {
  const out: Plan[] = []
  for (const plan of plans) {
    const used = new Set(plan.stages.flatMap((s) => s.devices))
    for (const n of newcomers) {
      if (used.has(n)) continue
      plan.stages.forEach((s, k) => {
        out.push(withStage(plan, k, { ...s, devices: [...s.devices, n] }))
        for (const d of s.devices) out.push(withStage(plan, k, { ...s, devices: s.devices.map((x) => (x === d ? n : x)) }))
        for (let j = k; j < plan.stages.length; j++) out.push(...takeOvers(plan, k, j, n))
      })
    }
  }
  return out
}

/** Stages i..j (inclusive) merged into one stage on device n, alone or with one of their devices as a replica. */
function takeOvers(plan: Plan, i: number, j: number, n: string): Plan[] {
  const layers: readonly [number, number] = [plan.stages[i]!.layers[0], plan.stages[j]!.layers[1]]
  const displaced = plan.stages.slice(i, j + 1).flatMap((s) => s.devices)
  return [[n], ...displaced.map((d) => [n, d])].map((devices) => ({ ...plan, stages: [...plan.stages.slice(0, i), { layers, devices }, ...plan.stages.slice(j + 1)] }))
}

/**
 * The kept plans that name a departed device, repaired: the device dropped from its stages (a
 * stage that keeps other replicas runs on them, or on a spare device in its place); a stage left
 * empty is filled by one spare device (each in turn), or
 * merged into the stage before or after it. Further empty stages (several devices of one plan
 * gone at once) are merged into a neighbour.
 */
export function leaveEdits(plans: readonly Plan[], fleet: Fleet): Plan[] {
  const out: Plan[] = []
  for (const plan of plans) {
    if (plan.stages.every((s) => s.devices.every((id) => fleet.devices.has(id)))) continue
    const dropped = dropGone(plan, fleet)
    const starts = [dropped, ...replacements(plan, fleet)]
    for (const p of starts) {
      if (p.stages.every((s) => s.devices.length > 0)) out.push(p)
      else out.push(...fillFirstEmpty(p, fleet).map(mergeEmpty))
    }
  }
  return out
}

/** Departed replicas of stages that keep other devices, each replaced by one device the plan does not use (spareDevices). */
function replacements(plan: Plan, fleet: Fleet): Plan[] {
  const idle = spareDevices(plan, fleet)
  const out: Plan[] = []
  plan.stages.forEach((s, k) => {
    const gone = s.devices.filter((id) => !fleet.devices.has(id))
    const kept = s.devices.filter((id) => fleet.devices.has(id))
    if (gone.length !== 1 || !kept.length) return
    for (const id of idle) out.push(withStage(dropGone(plan, fleet), k, { ...s, devices: [...kept, id] }))
  })
  return out
}

function dropGone(plan: Plan, fleet: Fleet): Plan {
  return { ...plan, stages: plan.stages.map((s) => ({ ...s, devices: s.devices.filter((id) => fleet.devices.has(id)) })) }
}

/** The first empty stage filled by each of the plan's spare devices (spareDevices), or merged into a neighbour. */
function fillFirstEmpty(plan: Plan, fleet: Fleet): Plan[] {
  const k = plan.stages.findIndex((s) => s.devices.length === 0)
  const s = plan.stages[k]!
  const out: Plan[] = spareDevices(plan, fleet).map((id) => withStage(plan, k, { ...s, devices: [id] }))
  if (k > 0) out.push(mergeInto(plan, k, k - 1))
  if (k < plan.stages.length - 1) out.push(mergeInto(plan, k, k + 1))
  return out
}

/** Every empty stage's layers merged into the stage before it (the first stage's into the one after). */
function mergeEmpty(plan: Plan): Plan {
  let p = plan
  for (let k = p.stages.findIndex((s) => s.devices.length === 0); k >= 0 && p.stages.length > 1; k = p.stages.findIndex((s) => s.devices.length === 0)) p = mergeInto(p, k, k > 0 ? k - 1 : k + 1)
  return p
}

/** Stage k's layers given to stage `into` (a neighbour), stage k removed. */
function mergeInto(plan: Plan, k: number, into: number): Plan {
  const s = plan.stages[k]!
  const t = plan.stages[into]!
  const layers: readonly [number, number] = [Math.min(t.layers[0], s.layers[0]), Math.max(t.layers[1], s.layers[1])]
  return { ...plan, stages: plan.stages.flatMap((x, j) => (j === k ? [] : j === into ? [{ ...x, layers }] : [x])) }
}

function withStage(plan: Plan, k: number, stage: Stage): Plan {
  return { ...plan, stages: plan.stages.map((s, j) => (j === k ? stage : s)) }
}

/**
 * Local search from a variant: each round takes the best of these moves while one makes the plan
 * better (cost.ts judges every move): a cut moved by one layer, a replica dropped, a device the
 * plan does not use added as a replica of a stage; and while the plan breaks a bound a mix cannot
 * average away, also such a device taking the second half of a stage (a split). Those devices are
 * the few fastest and most efficient of the fleet's idle ones (spareDevices), so a round costs
 * tens of predictions.
 */
export function improve(start: PlanCandidate, w: WarmStartInputs): PlanCandidate {
  let best = start
  for (let round = 0; round < 2 * w.job.model.layers.length; round++) {
    let next = best
    for (const plan of moves(best, w)) {
      const cand = estimate(plan, w)
      if (!outOfBounds(cand) && better(w.job, cand, next)) next = cand
    }
    if (next === best) break
    best = next
  }
  return best
}

function moves(c: PlanCandidate, w: WarmStartInputs): Plan[] {
  const plan = c.plan
  const out: Plan[] = []
  plan.stages.forEach((a, k) => {
    const b = plan.stages[k + 1]
    if (!b) return
    for (const cut of [a.layers[1] - 1, a.layers[1] + 1]) {
      if (cut <= a.layers[0] || cut >= b.layers[1]) continue
      out.push({ ...plan, stages: plan.stages.map((s, j) => (j === k ? { ...s, layers: [s.layers[0], cut] as const } : j === k + 1 ? { ...s, layers: [cut, s.layers[1]] as const } : s)) })
    }
  })
  // a replica dropped: a plan grown for a slower fleet may not need it (its energy, idle or active)
  plan.stages.forEach((s, k) => {
    if (s.devices.length > 1) for (const d of s.devices) out.push(withStage(plan, k, { ...s, devices: s.devices.filter((x) => x !== d) }))
  })
  // a replica added (a few idle devices, spareDevices): a compliant plan may gain on its goal too;
  // a split stage only while the plan breaks a bound
  const grow = !composable(c)
  const spare = spareDevices(plan, w.fleet)
  plan.stages.forEach((s, k) => {
    for (const id of spare) {
      out.push(withStage(plan, k, { ...s, devices: [...s.devices, id] }))
      if (!grow) continue
      const mid = Math.floor((s.layers[0] + s.layers[1]) / 2)
      if (mid > s.layers[0]) out.push({ ...plan, stages: plan.stages.flatMap((x, j) => (j === k ? [{ ...x, layers: [x.layers[0], mid] as const }, { layers: [mid, x.layers[1]] as const, devices: [id] }] : [x])) })
    }
  })
  return out
}

/** Spare devices a plan may be repaired or grown onto, per criterion. */
const SPARE_DEVICES = 3

/**
 * The plan's idle devices worth trying (a few, so that a repair costs tens of predictions on any
 * fleet): the SPARE_DEVICES fastest, those of most FLOPs per active watt, and those of most
 * memory (ties by id).
 */
function spareDevices(plan: Plan, fleet: Fleet): string[] {
  const used = new Set(plan.stages.flatMap((s) => s.devices))
  const idle = [...fleet.devices.values()].filter((d) => !used.has(d.id))
  const speed = (d: (typeof idle)[number]) => d.flopsPerSec.conv + d.flopsPerSec.matmul + d.flopsPerSec.elementwise
  const top = (f: (d: (typeof idle)[number]) => number) => [...idle].sort((a, b) => f(b) - f(a) || (a.id < b.id ? -1 : 1)).slice(0, SPARE_DEVICES).map((d) => d.id)
  return [...new Set([...top(speed), ...top((d) => speed(d) / Math.max(d.activeW, 1e-9)), ...top((d) => d.memoryBytes)])]
}

/**
 * The warm start: the kept plans edited for the devices that joined and left, costed, the best
 * improved (improve), and the front of the compliant ones (or the closest few when none complies), not
 * repeating a kept plan. Plan ids: `${prefix}-${k}`.
 */
export function warmStart(kept: readonly Plan[], newcomers: readonly string[], w: WarmStartInputs, prefix: string): PlanCandidate[] {
  const seen = new Set(kept.filter((p) => p.stages.every((s) => s.devices.every((id) => w.fleet.devices.has(id)))).map(key))
  const costed = new Map<string, PlanCandidate>()
  const cost = (p: Plan) => {
    const k = key(p)
    let c = costed.get(k)
    if (!c) costed.set(k, (c = estimate(p, w)))
    return c
  }
  const runnable = kept.filter((p) => p.stages.every((s) => s.devices.every((id) => w.fleet.devices.has(id))))
  const edits = [...joinEdits(runnable, newcomers.filter((id) => w.fleet.devices.has(id))), ...leaveEdits(kept, w.fleet)]
  const all = edits.filter((p) => p.stages.every((s) => s.devices.length > 0) && !seen.has(key(p))).map(cost).filter((c) => !outOfBounds(c))
  const ranked = [...new Map(all.map((c) => [key(c.plan), c])).values()].sort((a, b) => (better(w.job, a, b) ? -1 : better(w.job, b, a) ? 1 : 0))
  // the best few improved: the compliant ones' cuts, or (none complies) the closest ones grown too
  const polished = (ranked.some(composable) ? ranked.filter(composable) : ranked).slice(0, POLISHED).map((c) => improve(c, w))
  const pool = [...new Map([...polished, ...ranked].filter((c) => !seen.has(key(c.plan))).map((c) => [key(c.plan), c])).values()]
  const ok = pool.filter(composable)
  const withCapacity = w.job.goal === 'throughput'
  const chosen = ok.length ? front(ok, w.job, withCapacity) : pool.slice(0, 3)
  // offered as they will run: each judged in its transfer mode (the adapter composes on that)
  return chosen.map((c, k) => costPlan({ ...c.plan, id: `${prefix}-${k}` }, w))
}

/** The composable variants no other dominates, the goal's best first, at most MAX_PLANS (evenly thinned, extremes kept). */
function front(cs: readonly PlanCandidate[], job: Job, withCapacity: boolean): PlanCandidate[] {
  const nd = cs.filter((c) => !cs.some((o) => o !== c && dominatesPlan(o, c, withCapacity)))
  const sorted = [...nd].sort((a, b) => a.prediction.latencyMs - b.prediction.latencyMs || a.prediction.energyJPerRequest - b.prediction.energyJPerRequest)
  const unique = sorted.filter((c, k) => k === 0 || key(c.plan) !== key(sorted[k - 1]!.plan))
  const best = unique.reduce((a, c) => (goalValue(job, c) < goalValue(job, a) ? c : a))
  if (unique.length <= MAX_PLANS) return [best, ...unique.filter((c) => c !== best)]
  const thinned = Array.from({ length: MAX_PLANS }, (_, k) => unique[Math.round((k * (unique.length - 1)) / (MAX_PLANS - 1))]!)
  return [...new Set([best, ...thinned])]
}
