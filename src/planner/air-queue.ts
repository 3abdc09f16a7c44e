/**
 * The shared air as one server, first come first served, visited several times by each
 * micro-batch (every air hop of its transfers, in order along its route). Pure.
 *
 * A visit's wait is the air's unfinished work when its hop joins the queue. The visits of one
 * micro-batch are not independent arrivals: the second hop of a transfer (access point to
 * receiver) joins the queue the moment the first one left it, and a stage that computes briefly
 * sends its output soon after its input came off the air, so such a visit finds the work that
 * queued up behind its previous hop. Hence, for an air utilisation rho:
 * - a visit with no air hop of its own before it (a request's first transfer) arrives at random
 *   and sees the time-average work V = R + lambda E[s w] (Brumelle's H = lambda G for a
 *   work-conserving server: the mean residual of the hop on the air, R = lambda E[s^2] / 2, plus
 *   the work of the hops waiting, each visit's air time times its wait, summed over a
 *   micro-batch's visits at the micro-batches' rate lambda; a big hop that waits little adds
 *   little);
 * - a visit whose micro-batch left the air `gap` seconds before, after waiting w and sending s,
 *   finds what became of the work that queued behind its previous hop, x0 = rho (w + s): that
 *   work relaxes towards the time average V, V + (x0 - V) exp(-gap / tau), with tau = 1.5 V / rho
 *   (AIR_RELAXATION); it cannot drain faster than the air serves, x0 - (1 - rho) gap. Right after its own hop (the relay's second hop) a visit finds
 *   x0 itself, less than a random arrival where the previous hop waited little, more where it
 *   waited long; a visit after a compute lies in between, nearer V the longer the compute.
 *   (Before 2026-12-01 every later visit was floored at V: per visit against the simulator,
 *   that over-predicted the visits after a compute on the plans whose air is busy.)
 * V depends on every visit's wait, so the figures are solved together (a contraction: a few
 * iterations). Under the simulator's runs this follows the measured waits per visit within a few
 * per cent where independent M/G/1 visits (each waiting R / (1 - rho)) miss by 30-60%
 * (BENCHMARKS.md, "The air's visits after a compute and after a hop").
 * Under hub grants the air is served in the grant desk's order, not first come, first served:
 * hops that carry the desk's key are re-ordered from these waits by air-desk.ts.
 */

import { deskWaitS, type DeskVisit } from './air-desk.js'

/** One air hop of a transfer: its air time, and the time off the air just before it (relay, wired hop), s. */
export interface AirHop {
  readonly s: number
  readonly gapS: number
  /** Under hub grants, the desk's key (air-desk.ts: the ask's air time estimate, s, or FORWARD_KEY); none: first come, first served. */
  readonly key?: number
}

/** A transfer as the air sees it: its air hops in order, and the time off the air after the last one, s. */
export interface AirTransfer {
  readonly hops: readonly AirHop[]
  readonly tailS: number
}

/** One stage of a source's route: which replica takes its micro-batches, how they reach it, and how long they stay. */
export interface AirStep {
  /** Probability of each replica. */
  readonly weights: readonly number[]
  /** into[r][q]: the transfer into replica r from replica q of the step before (q = 0: the source, at step 0). */
  readonly into: ReadonlyArray<ReadonlyArray<AirTransfer>>
  /** Results from replica r to the source (none: no hops). */
  readonly out: readonly AirTransfer[]
  /** Time a micro-batch spends at replica r (its queue's mean wait and its compute), s. */
  readonly stayS: readonly number[]
}

export interface AirRoute {
  readonly share: number
  readonly steps: readonly AirStep[]
}

/** Where a micro-batch stands after its last air visit: that visit's wait + air time, and the time since, s. */
interface Since {
  end: number
  gap: number
}

/**
 * The air's relaxation time in units of V / rho: the time the arrivals (work at rate rho) would
 * take to bring the time-average work V back to an emptied air. Right after a hop the air is often
 * still busy with what queued behind it, so the work comes back slower than that: at least 1. The
 * factor is chosen on the development plans of bench/accuracy.ts (seeds 1-500; 1.5 the best of
 * 0.5, 0.75, 1, 1.5, 2 and 3), not fitted per plan (BENCHMARKS.md, "The air's visits after a
 * compute and after a hop").
 */
export const AIR_RELAXATION = 1.5

/**
 * Mean air wait per micro-batch (s) over the routes, for `batchesPerS` micro-batches a second,
 * air utilisation `rho` and mean residual R of the hop on the air (s).
 */
export function airWaitS(routes: readonly AirRoute[], rho: number, residualS: number): { waitS: number; fcfsS: number } {
  if (rho <= 0) return { waitS: 0, fcfsS: 0 }
  if (rho >= 1) return { waitS: Infinity, fcfsS: Infinity }
  let fresh = residualS / (1 - rho)
  let x = walk(routes, rho, fresh)
  for (let it = 0; it < 60; it++) {
    if (!(x.airS > 0)) break
    const next = residualS + (rho / x.airS) * x.workS
    if (Math.abs(next - fresh) <= 1e-9 + 1e-6 * fresh) break
    fresh = next
    x = walk(routes, rho, fresh)
  }
  // under hub grants the same work on the air, in the desk's order (air-desk.ts)
  return { waitS: x.desk.length && x.airS > 0 ? deskWaitS(x.desk, rho / x.airS, rho, residualS) : x.waitS, fcfsS: x.waitS }
}

/**
 * The waits of every visit along the routes, given the wait of a random arrival (the time-average
 * work), s: their sum per micro-batch, the visits, the air time and the air time x wait.
 */
function walk(routes: readonly AirRoute[], rho: number, fresh: number): { waitS: number; visits: number; airS: number; workS: number; desk: DeskVisit[] } {
  // how long the work behind a hop takes to relax to the time average (see AIR_RELAXATION)
  const tauS = (AIR_RELAXATION * fresh) / rho
  let waitS = 0
  let visits = 0
  let airS = 0
  let workS = 0
  const desk: DeskVisit[] = []
  const send = (t: AirTransfer, from: Since, weight: number): Since => {
    let at = { ...from }
    let lastS = 0
    t.hops.forEach((h, j) => {
      const gap = at.gap + h.gapS
      let w = fresh
      if (at.end > 0) {
        const x0 = rho * at.end
        const relaxed = fresh + (x0 - fresh) * Math.exp(-gap / tauS)
        w = Math.max(0, x0 - (1 - rho) * gap, relaxed)
      }
      waitS += weight * w
      visits += weight
      airS += weight * h.s
      workS += weight * h.s * w
      if (h.key !== undefined && weight > 0) desk.push({ p: weight, s: h.s, w, key: h.key, ...(j > 0 ? { after: { sojournS: at.end, airS: lastS, gapS: gap } } : {}) })
      at = { end: w + h.s, gap: 0 }
      lastS = h.s
    })
    at.gap += t.tailS
    return at
  }
  for (const route of routes) {
    // where the micro-batch stands at each replica of the step before (the source: fresh)
    let before: Since[] = [{ end: 0, gap: 0 }]
    let beforeWeights: readonly number[] = [1]
    for (const step of route.steps) {
      before = step.weights.map((w, r) => {
        const mix: Since = { end: 0, gap: 0 }
        beforeWeights.forEach((pw, q) => {
          if (pw <= 0) return
          const at = send(step.into[r]![q]!, before[q]!, route.share * w * pw)
          mix.end += pw * at.end
          mix.gap += pw * at.gap
        })
        mix.gap += step.stayS[r]!
        if (w > 0) send(step.out[r]!, mix, route.share * w)
        return mix
      })
      beforeWeights = step.weights
    }
  }
  return { waitS, visits, airS, workS, desk }
}

/**
 * Squared coefficient of variation of a micro-batch's whole air time over the routes (its
 * source by share, each step's replica by weight): the air's customer as the arrivals see it,
 * since a micro-batch's visits come and go together. 0 where every micro-batch takes the same way.
 */
export function batchAirScv(routes: readonly AirRoute[]): number {
  const air = (t: AirTransfer) => t.hops.reduce((a, h) => a + h.s, 0)
  let m1 = 0
  let m2 = 0
  for (const route of routes) {
    // per replica of the step before: probability, and its share of E[A] and E[A^2] so far
    let at = [{ p: 1, a1: 0, a2: 0 }]
    for (const step of route.steps) {
      at = step.weights.map((w, r) => {
        const next = { p: 0, a1: 0, a2: 0 }
        if (w <= 0) return next
        at.forEach((x, q) => {
          if (x.p <= 0) return
          const a = air(step.into[r]![q]!) + air(step.out[r]!)
          next.p += w * x.p
          next.a1 += w * (x.a1 + a * x.p)
          next.a2 += w * (x.a2 + 2 * a * x.a1 + a * a * x.p)
        })
        return next
      })
    }
    for (const x of at) {
      m1 += route.share * x.a1
      m2 += route.share * x.a2
    }
  }
  return m1 > 0 ? Math.max(0, m2 / (m1 * m1) - 1) : 0
}
