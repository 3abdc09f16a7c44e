/**
 * The order in which the hub's grant desk serves asks for the air (topics.md § Air grants): the
 * shortest ask (`airMs`) first, ties in order of asking; an ask that later asks have overtaken
 * MAX_OVERTAKEN times goes before the others (among such asks, the one whose device got the air
 * longest ago first, then the oldest), so no transfer waits for more than the grants queued
 * before it plus MAX_OVERTAKEN, and a device with many old asks cannot keep the others waiting
 * for all its grants. The bound counts grants, not time: the same on any clock (a run on an
 * emulation clock, the simulator's). Pure: the desk (hub/air-grants.ts) and the simulator's
 * granted air (planner/replay/medium.ts) both pick with it and count overtakes with `granted`,
 * so the simulator serves the air as a run does.
 */

/**
 * Times later asks may be granted before an ask; then it goes before shorter ones (no transfer
 * starves). 4: where the air is the busiest resource of random plans, the mean / p95 latency are
 * 1.0 / 2.2% (65% air) and 3.5 / 3.8% (80%) above the 1 s passed-over rule it replaces, on
 * average (a bounded wait's price; 2 was slower still; BENCHMARKS.md, "Hub grants: a bound in
 * grants").
 */
export const MAX_OVERTAKEN = 4

export interface AirAskOrder {
  readonly device: string
  /** The device's estimate of the transfer's air time, ms (only compared with other asks). */
  readonly airMs: number
  /** Grants given to asks that came after this one while it waited (`granted` counts them). */
  overtaken: number
}

/**
 * Index of the ask to grant next in `asks` (in order of asking; -1 when empty); `lastGrantMs`
 * says when a device last got the air (-Infinity: never; any clock, only compared).
 */
export function nextAsk(asks: readonly AirAskOrder[], lastGrantMs: (device: string) => number): number {
  const due = (a: AirAskOrder) => a.overtaken >= MAX_OVERTAKEN
  let k = asks.length ? 0 : -1
  for (let i = 1; i < asks.length; i++) {
    const a = asks[i]!
    const b = asks[k]!
    if (due(a) !== due(b)) {
      if (due(a)) k = i
    } else if (due(a) ? lastGrantMs(a.device) < lastGrantMs(b.device) : a.airMs < b.airMs) k = i
  }
  return k
}

/** Counts the grant of `asks[k]` (in order of asking): every ask before it was overtaken once more. */
export function granted(asks: readonly AirAskOrder[], k: number): void {
  for (let i = 0; i < k; i++) asks[i]!.overtaken++
}
