/**
 * The grant round trip the hub plans with (topics.md § Air grants; the heartbeat's `grants`):
 * devices that sent with grants report the round trips they measured (ask to grant, less the
 * hub's queueing, in profile time); the planner prices every grant with the fleet's figure
 * (`network.grantRoundTripMs`, planner/network/grants.ts) instead of the modelled one.
 *
 * A device cannot steer the planner with what it reports (hub/plausibility.ts):
 * - a report counts only as many round trips as the hub's desk granted the device since its last
 *   report (a device that never asked has nothing to report);
 * - its mean must lie within REPORT_FACTOR of the round trip the model gives the device's link
 *   (both ways): beyond, the report is refused, not clamped;
 * - it counts at most as the mean time the hub saw the device hold its latest grants (grant sent
 *   to `done` back, hub/air-grants.ts: the grant's way there and the `done`'s way back, so never
 *   less than an honest round trip): a device that claims slow grants must hold the air that long;
 * - the fleet's figure is the median of the devices' own figures (each an EWMA of its reports,
 *   alpha 0.5) padded with the model's figure up to MIN_REPORTERS: one device alone moves
 *   nothing, and among honest devices one device moves it no further than they reach (one liar
 *   and one honest device: the honest device's figure or the model's, whichever is nearer it).
 * A figure more than `driftThreshold` away from the one the running epoch was planned with (the
 * model's, before any measurement) is a reason to plan again: the transfer mode is re-chosen.
 */
import type { GrantsObserved } from './air-grants.js'
import { grantRoundTripPlausible } from './plausibility.js'

export interface GrantRoundTripOptions {
  readonly driftThreshold: number
  /** What the hub's desk saw of the device's grants so far (null: the hub grants nothing, every report is refused). */
  readonly observed: ((deviceId: string) => GrantsObserved) | null
  readonly onImplausible?: ((deviceId: string, what: string) => void) | undefined
}

/** Devices whose figures the fleet's takes before it leaves the model's (fewer: padded with the model's figure). */
export const MIN_REPORTERS = 3

/** Most devices whose figures are kept (the hub's fleet is bounded far below this; a guard). */
const MAX_DEVICES = 4096

export class GrantRoundTrips {
  /** Per device: its figure (EWMA of its reports, ms) and the model's for its link. */
  private readonly devices = new Map<string, { ms: number; modelledMs: number }>()
  /** Per device: the desk's grant count at its last report, and that report's heartbeat (a heartbeat read twice counts once). */
  private readonly seen = new Map<string, { grants: number; seq: number }>()
  /** The figure the running epoch was planned with (null: the model's). */
  private planned: number | null = null

  constructor(private readonly o: GrantRoundTripOptions) {}

  /**
   * A device's report (`count` round trips, mean `meanMs`) against the model's round trip on its
   * link (`modelledMs`), from the device's heartbeat `seq`; returns a reason to plan again, or null.
   */
  report(deviceId: string, r: { meanMs: number; count: number }, modelledMs: number, seq: number): string | null {
    const last = this.seen.get(deviceId)
    if (last?.seq === seq) return null
    const seen = this.o.observed?.(deviceId)
    const given = seen?.granted ?? 0
    const newGrants = given - (last?.grants ?? 0)
    if (this.seen.size < MAX_DEVICES || last) this.seen.set(deviceId, { grants: given, seq })
    if (!seen || !(r.count <= newGrants)) {
      this.o.onImplausible?.(deviceId, `${r.count} grant round trips reported, the hub granted it ${Math.max(0, newGrants)} since its last report (ignored)`)
      return null
    }
    if (!grantRoundTripPlausible(r.meanMs, modelledMs)) {
      this.o.onImplausible?.(deviceId, `grant round trip of ${r.meanMs} ms against ${modelledMs.toFixed(2)} ms modelled for its link (ignored)`)
      return null
    }
    // none of its grants ended yet (its `done` still on its way): nothing to check the report against
    if (seen.meanHoldMs === undefined) return null
    const meanMs = Math.min(r.meanMs, seen.meanHoldMs)
    if (meanMs < r.meanMs) this.o.onImplausible?.(deviceId, `grant round trip of ${r.meanMs} ms, longer than the ${seen.meanHoldMs.toFixed(2)} ms the hub saw it hold its grants (counted as ${meanMs.toFixed(2)} ms)`)
    const d = this.devices.get(deviceId)
    if (d) d.ms = Math.min(0.5 * d.ms + 0.5 * meanMs, seen.meanHoldMs)
    else if (this.devices.size < MAX_DEVICES) this.devices.set(deviceId, { ms: meanMs, modelledMs })
    const now = this.figureMs()
    const modelled = this.planned === null
    const was = this.planned ?? median([...this.devices.values()].map((x) => x.modelledMs))
    if (now === undefined || !(was > 0) || Math.abs(now / was - 1) <= this.o.driftThreshold) return null
    this.planned = now
    return `grants measured at ${now.toFixed(2)} ms a round trip (planned with ${was.toFixed(2)} ms${modelled ? ', modelled' : ''})`
  }

  /** A device left: its figure no longer counts. */
  forget(deviceId: string): void {
    this.devices.delete(deviceId)
  }

  /**
   * The fleet's measured round trip, ms: the median of the devices' figures, padded with the
   * model's figure (the median of the reporters' modelled round trips) up to MIN_REPORTERS;
   * undefined before any plausible report, or while the median is the padding (the model's).
   */
  figureMs(): number | undefined {
    const xs = [...this.devices.values()]
    if (!xs.length) return undefined
    const pads = Math.max(0, MIN_REPORTERS - xs.length)
    if (!pads) return median(xs.map((x) => x.ms))
    // MIN_REPORTERS values in all, an odd count: the median is one of them
    const pad = median(xs.map((x) => x.modelledMs))
    const all = [...xs.map((x) => ({ ms: x.ms, pad: false })), ...Array.from({ length: pads }, () => ({ ms: pad, pad: true }))].sort((a, b) => a.ms - b.ms || Number(a.pad) - Number(b.pad))
    const mid = all[all.length >> 1]!
    return mid.pad ? undefined : mid.ms
  }

  /** The figure to plan with now (undefined: the model's), marked as planned with. */
  toPlan(): number | undefined {
    const f = this.figureMs()
    this.planned = f ?? null
    return f
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
