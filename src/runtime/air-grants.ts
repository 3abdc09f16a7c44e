/**
 * A device's side of hub-granted air (topics.md § Air grants): before a transfer it asks the hub
 * for the air (`ask` with the bytes and its own estimate of their air time), sends when the
 * grant comes, and gives the air back (`done`) when the broker has the transfer. What a grant
 * costs is measured: the round trip (ask to grant, less the time the ask queued at the hub
 * behind other grants), kept for the device's reports and the benchmarks.
 *
 * Fail-open: a grant that does not come within `timeoutMs` (hub gone, message lost) lets the
 * transfer go anyway (counted), so a lost hub never stalls the data plane.
 */
import { encodeCbor, decodeCbor } from '../protocol/codec.js'
import { CBOR_BUDGETS } from '../protocol/cbor-budgets.js'
import { airGrantSchema, type AirMessage } from '../protocol/payloads.js'
import { PROTOCOL_VERSION, topics } from '../protocol/topics.js'

export interface AirGrantsDeps {
  readonly deviceId: string
  readonly publish: (topic: string, payload: Buffer, qos: 0 | 1) => Promise<void>
  readonly clock: () => number
  /** How long to wait for a grant before sending anyway, ms. */
  readonly timeoutMs: number
  /** This device's estimate of the air time of `bytes` it sends, ms (wall clock); null: a wired device, which needs no air. */
  readonly estimateMs: (bytes: number) => number | null
}

export interface GrantStats {
  granted: number
  /** Transfers that went without a grant (none came in time). */
  timedOut: number
  /** Round trips (ask to grant, less the hub's queueing), ms, the most recent up to 1,000. */
  roundTripsMs: number[]
  /** Time asks queued at the hub behind other grants, ms, the most recent up to 1,000. */
  queuedMs: number[]
}

const KEEP = 1000

export class AirGrants {
  private seq = 0
  private readonly pending = new Map<number, { askedAt: number; resolve: () => void; timer: NodeJS.Timeout }>()
  /** Round trips since the last takeRoundTrips (for the heartbeat), ms, at most KEEP. */
  private fresh: number[] = []
  readonly stats: GrantStats = { granted: 0, timedOut: 0, roundTripsMs: [], queuedMs: [] }

  constructor(private readonly d: AirGrantsDeps) {}

  /** A message on this device's grant topic (anything malformed is ignored). */
  onGrant(payload: Uint8Array): void {
    const decoded = decodeCbor(payload, CBOR_BUDGETS.grant)
    const g = decoded.ok ? airGrantSchema.safeParse(decoded.value) : null
    if (!g?.success) return
    const p = this.pending.get(g.data.seq)
    if (!p) return
    this.pending.delete(g.data.seq)
    clearTimeout(p.timer)
    this.stats.granted++
    const rtt = Math.max(0, this.d.clock() - p.askedAt - g.data.queuedMs)
    push(this.stats.roundTripsMs, rtt)
    push(this.fresh, rtt)
    push(this.stats.queuedMs, g.data.queuedMs)
    p.resolve()
  }

  /**
   * Runs `send` with the air: asks, waits for the grant (or the timeout), sends, gives the air
   * back. A wired device sends at once.
   */
  async withAir<T>(bytes: number, send: () => Promise<T>): Promise<T> {
    const airMs = this.d.estimateMs(bytes)
    if (airMs === null) return send()
    const seq = (this.seq = (this.seq + 1) % 2 ** 31)
    const granted = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(seq)) return
        this.stats.timedOut++
        resolve()
      }, this.d.timeoutMs)
      this.pending.set(seq, { askedAt: this.d.clock(), resolve, timer })
    })
    const ask: AirMessage = { v: PROTOCOL_VERSION, kind: 'ask', seq, bytes: Math.max(1, Math.round(bytes)), airMs: Math.min(10_000, Math.max(0.01, airMs)) }
    // not awaited: a publish to an unreachable broker may never settle (mqtt.js), the timeout covers it
    this.d.publish(topics.device(this.d.deviceId, 'air'), encodeCbor(ask), 1).catch(() => undefined)
    await granted
    try {
      return await send()
    } finally {
      const done: AirMessage = { v: PROTOCOL_VERSION, kind: 'done', seq }
      this.d.publish(topics.device(this.d.deviceId, 'air'), encodeCbor(done), 0).catch(() => undefined)
    }
  }

  /** The round trips measured since the last call (ms, wall clock; the most recent up to 1,000). */
  takeRoundTrips(): number[] {
    const out = this.fresh
    this.fresh = []
    return out
  }

  /** Ends every wait (the device is stopping): the waiting transfers go at once. */
  stop(): void {
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer)
      this.pending.delete(seq)
      p.resolve()
    }
  }
}

function push(xs: number[], x: number): void {
  xs.push(x)
  if (xs.length > KEEP) xs.splice(0, xs.length - KEEP)
}

/** Estimated air time of `bytes` on a link of `linkRateBps` (null: wired), ms of wall clock on an emulation clock of `timeScale`. */
export function linkAirMs(bytes: number, linkRateBps: number | null, timeScale = 1): number | null {
  if (linkRateBps === null || !Number.isFinite(linkRateBps) || linkRateBps <= 0) return null
  // framing and the DCF's per-frame overheads: about a third more than the bits (our estimate)
  return ((bytes * 8 * 1.3) / linkRateBps) * 1000 * timeScale
}

/** A device's grants: its id, its link (null: wired, no grants needed), its clock and emulation clock, and its publish. */
export function deviceAirGrants(deviceId: string, linkRateBps: number | null, rt: { clock: () => number; timeScale: number }, publish: AirGrantsDeps['publish']): AirGrants {
  return new AirGrants({ deviceId, clock: rt.clock, publish, timeoutMs: Math.min(60_000, 10_000 * rt.timeScale), estimateMs: (bytes) => linkAirMs(bytes, linkRateBps, rt.timeScale) })
}
