/**
 * Hub-granted air (topics.md § Air grants): devices ask the hub for the air before a transfer
 * and give it back after; the hub grants it to one transfer at a time, the shortest ask first
 * (a result of a few kilobytes never waits behind a frame; ties in order of asking; an ask that
 * later asks overtook MAX_OVERTAKEN times goes before the others: a bound counted in grants, so
 * the same on an emulation clock as on the simulator's). This is the run's form of the simulator's granted
 * medium (planner/replay/medium.ts, `network.grants`): one own transfer on the air at a time,
 * each paying the ask-grant round trip, picked in the same order (protocol/air-order.ts, which
 * both use).
 *
 * Bounded against hostile or broken devices: at most MAX_ASKS_PER_DEVICE asks of one device
 * wait at once (more are refused, so one device cannot fill the queue), a grant lasts at most
 * its lease (twice the device's own estimate plus a margin, never over MAX_GRANT_LEASE_MS) and
 * then passes on whether or not the device gave it back, and a device that leaves loses its
 * asks and its grant. Among asks overtaken MAX_OVERTAKEN times, the device granted longest ago goes first (so a
 * device with many old asks cannot keep the others waiting for all its leases), and each grant
 * a device lets run out halves its next leases (back to full once it gives one back).
 * Malformed messages are refused by schema (the caller reports them).
 */
import { airGrantSchema, airMessageSchema, MAX_GRANT_LEASE_MS, type AirGrant } from '../protocol/payloads.js'
import { PROTOCOL_VERSION, parseTopic, topics } from '../protocol/topics.js'
import { CBOR_BUDGETS } from '../protocol/cbor-budgets.js'
import { decodeCbor, encodeCbor } from '../protocol/codec.js'
import { MAX_OVERTAKEN, granted, nextAsk } from '../protocol/air-order.js'
import type { DoraClient } from '../mqtt/client.js'

/** Asks one device may have waiting at once. */
export const MAX_ASKS_PER_DEVICE = 16
/** Added to twice a device's estimate in a lease, ms (clock error, scheduling on a loaded host). */
export const LEASE_MARGIN_MS = 50
/** A device's most recent grants whose hold the desk keeps (hub/grant-round-trips.ts clamps its reports to their mean). */
export const HOLDS_KEPT = 32
export { MAX_OVERTAKEN }

interface Ask {
  readonly device: string
  readonly seq: number
  readonly airMs: number
  readonly leaseMs: number
  readonly askedAtMs: number
  /** Later asks granted while this one waited (protocol/air-order.ts). */
  overtaken: number
}

/** What the desk itself saw of a device's grants: how many it gave, and the mean hold of the latest that ended. */
export interface GrantsObserved {
  readonly granted: number
  /**
   * Mean time from sending a grant to the device's `done` (or to the lease's end) over its latest
   * HOLDS_KEPT grants that ended, ms of the hub's clock (undefined: none ended yet). It holds the
   * grant's way to the device and the `done`'s way back, so it bounds the round trip from above.
   */
  readonly meanHoldMs: number | undefined
}

export interface GrantDeskCounts {
  granted: number
  /** Grants that ended by their lease, not by the device giving the air back. */
  expired: number
  /** Asks refused: malformed, or beyond a device's MAX_ASKS_PER_DEVICE. */
  refused: number
  /** Sum of the time asks waited for their grant at the hub, ms (queueing, not the round trip). */
  waitedMs: number
}

export interface GrantDeskDeps {
  readonly clock: () => number
  /** Sends a grant to a device (the caller publishes it on the device's grant topic). */
  readonly send: (device: string, grant: AirGrant) => void
  readonly setTimer: (fn: () => void, ms: number) => { cancel: () => void }
}

export class GrantDesk {
  private readonly queue: Ask[] = []
  private holder: (Ask & { cancel: () => void; grantedAtMs: number }) | null = null
  readonly counts: GrantDeskCounts = { granted: 0, expired: 0, refused: 0, waitedMs: 0 }
  /** Grants given per device so far (a device's reported round trips count only up to these: hub/grant-round-trips.ts). */
  private readonly given = new Map<string, number>()
  /** When each device last got the air, and how many of its grants in a row ran out. */
  private readonly lastGrantMs = new Map<string, number>()
  private readonly expiries = new Map<string, number>()
  /** Per device: how long its latest grants were held, grant sent to `done` or lease end, ms (at most HOLDS_KEPT). */
  private readonly holds = new Map<string, number[]>()

  constructor(private readonly d: GrantDeskDeps) {}

  /** A message on a device's air topic. Returns an error text when it is refused. */
  onMessage(device: string, payload: Uint8Array): string | null {
    // over 1 KiB or its budget of items, refused unread (cbor-budgets.ts)
    const decoded = decodeCbor(payload, CBOR_BUDGETS.air)
    const m = decoded.ok ? airMessageSchema.safeParse(decoded.value) : null
    if (!m?.success) {
      this.counts.refused++
      return decoded.ok ? `air message does not match the schema: ${m?.error.issues[0]?.message ?? ''}` : decoded.error
    }
    if (m.data.kind === 'done') {
      if (this.holder && this.holder.device === device && this.holder.seq === m.data.seq) {
        this.expiries.delete(device)
        this.next(false)
      } else {
        // a device that waited longer than its timeout sent without the grant: its ask goes, never granted after
        const i = this.queue.findIndex((a) => a.device === device && a.seq === m.data.seq)
        if (i >= 0) this.queue.splice(i, 1)
      }
      return null
    }
    if (this.queue.filter((a) => a.device === device).length >= MAX_ASKS_PER_DEVICE) {
      this.counts.refused++
      return `more than ${MAX_ASKS_PER_DEVICE} asks for the air waiting`
    }
    const full = Math.min(MAX_GRANT_LEASE_MS, 2 * m.data.airMs + LEASE_MARGIN_MS)
    const leaseMs = Math.max(Math.min(full, LEASE_MARGIN_MS), full / 2 ** Math.min(30, this.expiries.get(device) ?? 0))
    this.queue.push({ device, seq: m.data.seq, airMs: m.data.airMs, leaseMs, askedAtMs: this.d.clock(), overtaken: 0 })
    if (!this.holder) this.next(false)
    return null
  }

  /** A device left: its asks go, and its grant ends. */
  forget(device: string): void {
    this.lastGrantMs.delete(device)
    this.expiries.delete(device)
    for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i]!.device === device) this.queue.splice(i, 1)
    if (this.holder?.device === device) this.next(false)
    this.holds.delete(device)
  }

  /** Grants given to `device` so far. */
  grantedTo(device: string): number {
    return this.given.get(device) ?? 0
  }

  /** What the desk saw of `device`'s grants (hub/grant-round-trips.ts checks its reports against it). */
  observed(device: string): GrantsObserved {
    const h = this.holds.get(device)
    return { granted: this.grantedTo(device), meanHoldMs: h?.length ? h.reduce((a, x) => a + x, 0) / h.length : undefined }
  }

  get waiting(): number {
    return this.queue.length
  }

  stop(): void {
    this.holder?.cancel()
    this.holder = null
    this.queue.length = 0
  }

  private next(expired: boolean): void {
    if (expired && this.holder) {
      this.counts.expired++
      this.expiries.set(this.holder.device, (this.expiries.get(this.holder.device) ?? 0) + 1)
    }
    if (this.holder) this.held(this.holder.device, this.d.clock() - this.holder.grantedAtMs)
    this.holder?.cancel()
    this.holder = null
    if (!this.queue.length) return
    const k = nextAsk(this.queue, (device) => this.lastGrantMs.get(device) ?? -Infinity)
    granted(this.queue, k)
    const ask = this.queue.splice(k, 1)[0]!
    this.lastGrantMs.set(ask.device, this.d.clock())
    const timer = this.d.setTimer(() => this.holder?.seq === ask.seq && this.holder.device === ask.device && this.next(true), ask.leaseMs)
    this.holder = { ...ask, cancel: timer.cancel, grantedAtMs: this.d.clock() }
    this.counts.granted++
    this.given.set(ask.device, (this.given.get(ask.device) ?? 0) + 1)
    const queuedMs = this.d.clock() - ask.askedAtMs
    this.counts.waitedMs += queuedMs
    this.d.send(ask.device, airGrantSchema.parse({ v: PROTOCOL_VERSION, seq: ask.seq, leaseMs: ask.leaseMs, queuedMs }))
  }

  private held(device: string, ms: number): void {
    const h = this.holds.get(device) ?? []
    h.push(Math.max(0, ms))
    if (h.length > HOLDS_KEPT) h.shift()
    this.holds.set(device, h)
  }
}

/**
 * Serves grants on a hub's client: reads every device's air topic, publishes each grant on the
 * device's grant topic (QoS 1, control lane). `refused` hears of a refused message.
 */
export async function serveGrants(client: DoraClient, clock: () => number, refused: (device: string, topic: string, error: string) => void): Promise<GrantDesk> {
  const desk = new GrantDesk({
    clock,
    send: (device, grant) => {
      client.publish(topics.device(device, 'grant'), encodeCbor(grant), { qos: 1 }).catch(() => undefined)
    },
    setTimer: (fn, ms) => {
      const t = setTimeout(fn, ms)
      return { cancel: () => clearTimeout(t) }
    },
  })
  await client.subscribe(topics.allDevices('air'), (topic, payload) => {
    const t = parseTopic(topic)
    if (t?.scope !== 'device' || t.kind !== 'air') return
    const error = desk.onMessage(t.deviceId, payload)
    if (error) refused(t.deviceId, topic, error)
  })
  return desk
}
