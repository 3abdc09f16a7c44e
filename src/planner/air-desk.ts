/**
 * The air in the hub grant desk's order (protocol/air-order.ts), from the first come, first served
 * waits of air-queue.ts's correlated visits. Pure.
 *
 * Under hub grants the air is one server, but not first come, first served: the access point's
 * forwarding asks for nothing and takes the air as soon as it is free (before any ask), and the
 * devices' asks are granted shortest first, an ask overtaken MAX_OVERTAKEN times going before
 * shorter ones. So, from each visit's first come, first served wait w (air-queue.ts):
 * - the access point relaying its own transfer's device hop finds, when that hop ends, the
 *   forwarding that came while the hop was on the air (rho_fwd x its air time; forwarding that came
 *   earlier went before the hop), or else, if an ask came during the hop's wait and air, the ask
 *   the desk picked the instant the air was free (its mean air time with its grant), less the
 *   broker's relay gap: not the work that queued behind the hop, which first come, first served
 *   charges it;
 * - any other forwarding waits as the first class of a non-preemptive priority queue (Cobham):
 *   R / (1 - rho_fwd), R the mean residual of the hop on the air;
 * - an ask of class k (one class per air time estimate, shortest first, after the forwarding)
 *   waits w times Cobham's wait over first come, first served's for independent arrivals,
 *   R / ((1 - sigma_k-1)(1 - sigma_k)) / (R / (1 - rho)), at most (R / (1 - rho) + MAX_OVERTAKEN x
 *   the shorter asks' mean air) / (1 - rho_fwd): the bound on overtakes, the forwarding that comes
 *   meanwhile still going first; the visit's own w keeps the correlation of a micro-batch's visits
 *   as air-queue.ts found it.
 * Never more than first come, first served for the forwarding. Checked per visit against the
 * simulator's granted medium (which picks with the desk's own function) and per plan on random
 * fleets at 50-80% air (BENCHMARKS.md, "Hub grants: the cost model in the desk's order").
 * Renormalising the asks' waits so that the air-time-weighted waits keep their first come, first
 * served sum (Kleinrock's conservation, exact for independent arrivals) was tried and over-predicts:
 * a relay's arrival is its own device hop's departure, which the order moves, so the sum is not
 * kept here.
 */
import { MAX_OVERTAKEN } from '../protocol/air-order.js'
import type { Wait } from './latency.js'

/** The desk's key of the access point's forwarding: before every ask. */
export const FORWARD_KEY = -1

/** One visit of the air as the first come, first served walk found it (per micro-batch, weighted). */
export interface DeskVisit {
  /** Probability per micro-batch (its route's share and its replicas' weights). */
  readonly p: number
  /** Air time (with its grant's round trip), s. */
  readonly s: number
  /** Its wait, first come, first served, s. */
  readonly w: number
  /** The desk's key: the ask's air time estimate (s), or FORWARD_KEY for the access point's forwarding. */
  readonly key: number
  /** The access point relaying its own transfer's device hop: that hop's wait + air, its air, and the time off the air since, s. */
  readonly after?: { readonly sojournS: number; readonly airS: number; readonly gapS: number }
}

/**
 * Sum of the visits' waits per micro-batch in the desk's order, s, for `batchesPerS` micro-batches
 * a second, air utilisation `rho` and mean residual R of the hop on the air (s).
 */
export function deskWaitS(visits: readonly DeskVisit[], batchesPerS: number, rho: number, residualS: number): number {
  const sum = (vs: readonly DeskVisit[], f: (v: DeskVisit) => number) => vs.reduce((a, v) => a + v.p * f(v), 0)
  const asks = visits.filter((v) => v.key !== FORWARD_KEY)
  const forwards = visits.filter((v) => v.key === FORWARD_KEY)
  if (!asks.length || !(rho > 0) || rho >= 1) return sum(visits, (v) => v.w)
  const rhoFwd = batchesPerS * sum(forwards, (v) => v.s)
  const fwdPerS = batchesPerS * sum(forwards, () => 1)
  const askPerS = batchesPerS * sum(asks, () => 1)
  const askMeanS = sum(asks, (v) => v.s) / sum(asks, () => 1)
  const fwdWait = (v: DeskVisit): number => {
    if (!v.after) return Math.min(v.w, residualS / Math.max(1e-9, 1 - rhoFwd))
    const { sojournS, airS, gapS } = v.after
    const picked = Math.exp(-fwdPerS * airS) * (1 - Math.exp(-askPerS * sojournS))
    return Math.min(v.w, Math.max(0, rhoFwd * airS - gapS) + picked * Math.max(0, askMeanS - gapS))
  }
  const factor = askFactors(asks, batchesPerS, rho, rhoFwd, residualS)
  return sum(forwards, fwdWait) + sum(asks, (v) => factor.get(v.key)! * v.w)
}

/** Each ask class's wait in the desk's order over first come, first served (Cobham's, bounded by the overtakes), by key. */
function askFactors(asks: readonly DeskVisit[], batchesPerS: number, rho: number, rhoFwd: number, residualS: number): Map<number, number> {
  const fcfsS = residualS / (1 - rho)
  const factor = new Map<number, number>()
  let sigma = rhoFwd
  let shorter = 0
  let shorterAirS = 0
  for (const key of [...new Set(asks.map((v) => v.key))].sort((a, b) => a - b)) {
    let n = 0
    let airS = 0
    for (const v of asks) if (v.key === key) (n += v.p), (airS += v.p * v.s)
    const before = sigma
    sigma += batchesPerS * airS
    const cobhamS = before < 1 && sigma < 1 ? residualS / ((1 - before) * (1 - sigma)) : Infinity
    const boundS = (fcfsS + (shorter > 0 ? (MAX_OVERTAKEN * shorterAirS) / shorter : 0)) / Math.max(1e-9, 1 - rhoFwd)
    factor.set(key, Math.min(cobhamS, boundS) / fcfsS)
    shorter += n
    shorterAirS += airS
  }
  return factor
}

/**
 * The air's share of the p95 (a micro-batch's summed air waits) under hub grants: the desk's
 * order lowers the mean wait (deskWaitS), but by letting short asks and the forwarding go first;
 * the long asks, which set the tail, wait at least as long as first come, first served. So the
 * wait keeps first come, first served's length given a wait, and only the chance of waiting falls
 * to give the desk's mean. On random plans with the air busiest (24 per band), against taking the
 * desk's mean through the same shape: p95 within 10% on fewer plans at 50-65% air, but the p95
 * optimistic by more than 10% on 1 and 4 plans at 65% and 80% air instead of 3 and 11 (first come,
 * first served: 1 and 2; BENCHMARKS.md, "Hub grants: the cost model in the desk's order").
 */
export function deskTail(desk: Wait, fcfs: Wait): Wait {
  const meanMs = desk.p * desk.thetaMs
  if (!(fcfs.thetaMs > desk.thetaMs) || !Number.isFinite(fcfs.thetaMs)) return desk
  return { p: meanMs / fcfs.thetaMs, thetaMs: fcfs.thetaMs }
}
