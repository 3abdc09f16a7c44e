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
 * - the fleet's figure is the median of the devices' own figures (each an EWMA of its reports,
 *   alpha 0.5), so one device among honest ones moves it no further than they reach.
 * A figure more than `driftThreshold` away from the one the running epoch was planned with (the
 * model's, before any measurement) is a reason to plan again: the transfer mode is re-chosen.
 */
import { grantRoundTripPlausible } from './plausibility.js'

export interface GrantRoundTripOptions {
  readonly driftThreshold: number
  /** Grants the hub's desk has given the device so far (null: the hub grants nothing, every report is refused). */
  readonly grantsGiven: ((deviceId: string) => number) | null
  readonly onImplausible?: ((deviceId: string, what: string) => void) | undefined
}

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
    const given = this.o.grantsGiven?.(deviceId) ?? 0
    const newGrants = given - (last?.grants ?? 0)
    if (this.seen.size < MAX_DEVICES || last) this.seen.set(deviceId, { grants: given, seq })
    if (!this.o.grantsGiven || !(r.count <= newGrants)) {
      this.o.onImplausible?.(deviceId, `${r.count} grant round trips reported, the hub granted it ${Math.max(0, newGrants)} since its last report (ignored)`)
      return null
    }
    if (!grantRoundTripPlausible(r.meanMs, modelledMs)) {
      this.o.onImplausible?.(deviceId, `grant round trip of ${r.meanMs} ms against ${modelledMs.toFixed(2)} ms modelled for its link (ignored)`)
      return null
    }
    const d = this.devices.get(deviceId)
    if (d) d.ms = 0.5 * d.ms + 0.5 * r.meanMs
    else if (this.devices.size < MAX_DEVICES) this.devices.set(deviceId, { ms: r.meanMs, modelledMs })
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

  /** The fleet's measured round trip, ms (the median of the devices' figures), or undefined before any plausible report. */
  figureMs(): number | undefined {
    return this.devices.size ? median([...this.devices.values()].map((x) => x.ms)) : undefined
  }

  /** The figure to plan with now (undefined: the model's), marked as planned with. */
  toPlan(): number | undefined {
    const f = this.figureMs()
    if (f !== undefined) this.planned = f
    return f
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
