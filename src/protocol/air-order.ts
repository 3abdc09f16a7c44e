/**
 * The order in which the hub's grant desk serves asks for the air (topics.md § Air grants): the
 * shortest ask (`airMs`) first, ties in order of asking; asks passed over for MAX_PASSED_OVER_MS
 * or more go before the others, the one whose device got the air longest ago first (then the
 * oldest ask), so no transfer starves and a device with many old asks cannot keep the others
 * waiting for all its grants. Pure: the desk (hub/air-grants.ts) and the simulator's granted air
 * (planner/replay/medium.ts) both pick with it, so the simulator serves the air as a run does.
 */

/** An ask that has waited this long goes before shorter ones (no transfer starves), ms. */
export const MAX_PASSED_OVER_MS = 1000

export interface AirAskOrder {
  readonly device: string
  /** The device's estimate of the transfer's air time, ms (only compared with other asks). */
  readonly airMs: number
  readonly askedAtMs: number
}

/**
 * Index of the ask to grant next in `asks` (in order of asking; -1 when empty), at `nowMs`;
 * `lastGrantMs` says when a device last got the air (-Infinity: never).
 */
export function nextAsk(asks: readonly AirAskOrder[], nowMs: number, lastGrantMs: (device: string) => number): number {
  const passed = (a: AirAskOrder) => nowMs - a.askedAtMs >= MAX_PASSED_OVER_MS
  let k = asks.length ? 0 : -1
  for (let i = 1; i < asks.length; i++) {
    const a = asks[i]!
    const b = asks[k]!
    if (passed(a) !== passed(b)) {
      if (passed(a)) k = i
    } else if (passed(a) ? lastGrantMs(a.device) < lastGrantMs(b.device) : a.airMs < b.airMs) k = i
  }
  return k
}
