/**
 * The shared Wi-Fi medium of event-driven runs (the simulator and the training replay). Each transfer is a sequence of air hops (hopsBetween
 * in cost.ts: one per wireless endpoint, through the hub's broker). Stations, not transfers,
 * contend: each station sends its queued hops one after another (the access point sends every
 * hop towards a device).
 * - scheduled: one hop on the air at a time, first come first served, at its station's solo rate
 *   (the network scheduler's timed slots, or the hub's grants: with `network.grants` each hop a
 *   device sends first holds the air through its grant's round trip, network/grants.ts, and the
 *   devices' hops are served in the hub's grant desk's order, protocol/air-order.ts: shortest
 *   ask first, an ask overtaken MAX_OVERTAKEN times before the others; the access
 *   point's forwarding asks for nothing, so the desk holds it back for no ask: it takes the air
 *   as soon as it is free, first come, first served);
 * - contended: every station with a queued hop sends at once and they share the air as the DCF
 *   model says (equal frame rates, so a slow station drags the others, plus collision loss); the
 *   medium is re-shared whenever a hop starts or ends. At once (Network.dcf, no grants: the
 *   planner's at-once prediction, adapt/transfer-mode.ts predictAtOnce) the devices send as soon
 *   as data is ready, so the medium is this one (airShared): the training replay's at-once step
 *   is the simulator's `--uncoordinated` step, not one hop whole after another.
 * A wired hop takes its own link (transport.ts: framed bytes at the wired rate plus a latency per
 * message) and the broker relays every chunk; a transfer's chunks pipeline through its hops and
 * the relay as in the cost model (network/pipeline.ts, cost.ts pipelinedTransfer): the time off
 * the air before, between and after its air hops is waited, each air hop goes whole on the
 * medium (its air occupancy); the air carries framed bytes and each chunk message's PUBACK
 * (cost.ts hopAirBits).
 * Other traffic leaves `availableAirtime` of the channel on average: steadily, or (with
 * `network.background`) as seeded random bursts from other stations. Radio energy is counted per
 * byte.
 */
import type { EventHeap } from './event-heap.js'
import { hopAirBits, hopsBetween, pipelinedTransfer, type Hop } from '../cost.js'
import { grantHoldS } from '../network/grants.js'
import { granted as overtook, nextAsk, type AirAskOrder } from '../../protocol/air-order.js'
import type { AirSplit } from '../network/pipeline.js'
import { contendedThroughputsBps, soloEfficiency } from '../network/wifi.js'
import type { Fleet, Network, DeviceProfile } from '../types.js'

interface Flow {
  /** False for other networks' traffic (background), which no schedule of ours holds back. */
  own: boolean
  bitsLeft: number
  rateBps: number
  /** Its slot: it may not start before this (scheduled transfers only). */
  notBefore: number
  /** With grants: the ask-grant round trip it holds the air for before it sends, s. */
  grantS: number
  /** With grants, a device's hop: its ask as the desk orders it (air time estimate, time of asking, ms). */
  ask?: AirAskOrder
  /** For the trace: what it carries, and when it first got the air. */
  label?: string
  hop?: Hop
  startedS?: number
  station: string
  onDone: () => void
  /** Its current share of the air, bits per second (0 until the medium first shares it). */
  rate: number
  /** The MAC efficiency of its rate when alone on the air (soloEfficiency, looked up once). */
  solo: number
}

/** Pipelined splits per network (pure in the network and the key), shared by the runs on it, bounded. */
const splitsByNetwork = new WeakMap<Network, Map<string, AirSplit>>()

function splitsOf(network: Network): Map<string, AirSplit> {
  let splits = splitsByNetwork.get(network)
  if (!splits || splits.size > 4096) splitsByNetwork.set(network, (splits = new Map()))
  return splits
}

/** The pipelined split of a transfer's hops (cost.ts pipelinedTransfer): it depends on the hops' bytes, rates and directions and on the network only. */
function cachedSplit(splits: Map<string, AirSplit>, from: DeviceProfile | null, to: DeviceProfile | null, bytes: number, hops: readonly Hop[], network: Network): AirSplit {
  const key = `${from ? (from.linkRateBps ?? 'wired') : '-'}|${to ? (to.linkRateBps ?? 'wired') : '-'}|${bytes}`
  let split = splits.get(key)
  if (!split) splits.set(key, (split = pipelinedTransfer(hops, network)))
  return split
}

/** transfer's split of `hops` (hopsBetween(from, to, bytes)), from the cache the runs on `network` share. */
export function transferSplit(from: DeviceProfile | null, to: DeviceProfile | null, bytes: number, hops: readonly Hop[], network: Network): AirSplit {
  return cachedSplit(splitsOf(network), from, to, bytes, hops, network)
}

/**
 * Whether the stations with hops waiting send at once and share the air as DCF does: contended
 * coordination, or at once (Network.dcf without grants; types.ts Network.dcf).
 */
export function airShared(network: Network): boolean {
  return network.coordination === 'contended' || (network.dcf === true && network.grants !== true)
}

export class Medium {
  readonly radioJ = new Map<string, number>()
  /** Seconds during which something was on the air. */
  busyS = 0
  private readonly active = new Set<Flow>()
  private readonly waiting: Flow[] = []
  private readonly arriving: Flow[] = []
  private readonly queues = new Map<string, Flow[]>()
  private lastUpdate = 0
  private wakeAt = -1
  private version = 0

  constructor(
    private readonly heap: EventHeap<() => void>,
    private readonly clock: () => number,
    private readonly fleet: Fleet,
    private readonly network: Network,
  ) {
    this.splits = splitsOf(network)
    this.scheduled = !airShared(network)
    const bg = network.background
    this.baseAirtime = bg ? Math.min(1, network.availableAirtime / (1 - bg.airShare)) : network.availableAirtime
  }

  /** The share of the air not taken by steady other traffic (the stochastic background apart). */
  private readonly baseAirtime: number
  /** One hop on the air at a time (not airShared). */
  private readonly scheduled: boolean

  /**
   * Starts the network's background traffic (if any) until `untilS`: bursts of `burstBytes` from
   * other stations, Poisson arrivals (seeded) at the rate that takes `airShare` of the air when
   * alone, each contending per the DCF model with whatever else is sending.
   */
  startBackground(untilS: number, rand: () => number): void {
    const bg = this.network.background
    if (!bg || bg.airShare <= 0) return
    const burstS = (bg.burstBytes * 8) / (bg.rateBps * soloEfficiency(this.network.standard, bg.rateBps) * this.baseAirtime)
    const perS = bg.airShare / burstS
    let n = 0
    const solo = soloEfficiency(this.network.standard, bg.rateBps)
    const arrive = () => {
      this.arriving.push({ own: false, bitsLeft: bg.burstBytes * 8, rateBps: bg.rateBps, notBefore: 0, grantS: 0, station: `background-${n++}`, onDone: () => {}, rate: 0, solo })
      this.reshare()
      const next = this.clock() - Math.log(1 - rand()) / perS
      if (next < untilS) this.heap.push(next, arrive)
    }
    this.heap.push(-Math.log(1 - rand()) / perS, arrive)
  }

  /**
   * Sends `bytes` from one endpoint to another (null: the hub, wired), then calls `then`. With
   * `slotOf`, hop i waits for its slot's start (scheduled transfers: data late for its slot goes
   * as soon as the air is free, never over another transfer).
   */
  transfer(from: DeviceProfile | null, to: DeviceProfile | null, bytes: number, then: () => void, slotOf?: (hop: number) => number, label = ''): void {
    const hops = hopsBetween(from, to, bytes)
    if (!hops.length) return then()
    for (const h of hops) this.countRadio(h)
    // the chunks pipeline through the hops and the broker's relay (network/pipeline.ts): off the
    // air before, between and after the air hops, each air hop whole on the medium
    const split = cachedSplit(this.splits, from, to, bytes, hops, this.network)
    const later = (s: number, f: () => void) => (s > 0 ? this.heap.push(this.clock() + s, f) : f())
    const step = (j: number): void => {
      if (j === split.airHops.length) return later(split.tailS, then)
      const i = split.airHops[j]!
      later(split.gapsS[j]!, () => this.send(hops[i]!, () => step(j + 1), slotOf?.(i) ?? 0, label, !slotOf))
    }
    step(0)
  }

  /** Pipelined splits of the transfers seen (a run repeats the same few; so do the runs on one network). */
  private readonly splits: Map<string, AirSplit>

  /** Called with every own hop once it has left the air (for schedules built by replay). */
  trace: ((x: { hop: Hop; label: string; startS: number; endS: number }) => void) | null = null

  private addRadio(id: string | null, tx: boolean, bytes: number): void {
    if (!id) return
    const d = this.fleet.devices.get(id)!
    this.radioJ.set(id, (this.radioJ.get(id) ?? 0) + bytes * (tx ? d.txJPerByte : d.rxJPerByte))
  }

  private countRadio(hop: Hop): void {
    this.addRadio(hop.txDevice, true, hop.bytes)
    this.addRadio(hop.rxDevice, false, hop.bytes)
  }

  /** Puts an air hop on the medium (whole: its air occupancy), then calls `then`. */
  private send(hop: Hop, then: () => void, notBefore: number, label = '', granted = false): void {
    const station = hop.txDevice ?? 'access-point'
    const grantS = granted ? grantHoldS(hop, this.network) : 0
    const flow: Flow = { own: true, bitsLeft: hopAirBits(hop, this.network), rateBps: hop.rateBps, notBefore, grantS, station, onDone: then, label, hop, rate: 0, solo: soloEfficiency(this.network.standard, hop.rateBps) }
    // the device's estimate of its air time (runtime/air-grants.ts linkAirMs, up to its constant factor, which the order ignores)
    if (granted && hop.txDevice !== null && this.network.grants) flow.ask = { device: hop.txDevice, airMs: ((hop.bytes * 8) / hop.rateBps) * 1000, overtaken: 0 }
    if (this.scheduled) this.waiting.push(flow)
    else {
      let q = this.queues.get(station)
      if (!q) this.queues.set(station, (q = []))
      q.push(flow)
    }
    this.reshare()
  }

  /** When each device was last granted the air, ms (the desk's order among asks overtaken MAX_OVERTAKEN times). */
  private readonly lastGrantMs = new Map<string, number>()

  /**
   * The waiting flow to start now (-1: none eligible) and the earliest slot still ahead. Without
   * grants: the earliest slot, then first come, first served. With grants: the access point's
   * hops first (no ask holds them back), first come; then the devices' asks in the desk's order
   * (protocol/air-order.ts).
   */
  private pickWaiting(now: number): { pick: number; wake: number } {
    const waiting = this.waiting
    let pick = -1
    let wake = Infinity
    const asks: AirAskOrder[] = []
    const askAt: number[] = []
    for (let i = 0; i < waiting.length; i++) {
      const f = waiting[i]!
      if (f.notBefore > now + 1e-12) wake = Math.min(wake, f.notBefore)
      else if (f.ask) {
        asks.push(f.ask)
        askAt.push(i)
      } else if (pick < 0 || f.notBefore < waiting[pick]!.notBefore) pick = i
    }
    if (pick < 0 && asks.length) {
      const k = nextAsk(asks, (d) => this.lastGrantMs.get(d) ?? -Infinity)
      overtook(asks, k)
      pick = askAt[k]!
    }
    return { pick, wake }
  }

  /** A granted flow holds the air through its grant's round trip, then sends; others send at once. */
  private granting: Flow | null = null
  private start(f: Flow, now: number): void {
    if (f.ask) this.lastGrantMs.set(f.ask.device, now * 1000)
    if (f.grantS <= 0) return void this.active.add(f)
    this.granting = f
    this.heap.push(now + f.grantS, () => {
      this.granting = null
      f.grantS = 0
      this.active.add(f)
      this.reshare()
    })
  }

  /** Whether one of our own flows is on the air. */
  private ownActive(): boolean {
    for (const f of this.active) if (f.own) return true
    return false
  }

  private reshare(): void {
    const now = this.clock()
    const dt = now - this.lastUpdate
    if (this.active.size) this.busyS += dt
    for (const f of this.active) f.bitsLeft -= f.rate * dt
    this.lastUpdate = now
    // (deleting the flow being visited is safe in a Set's iteration, and no other is touched)
    for (const f of this.active) {
      // done when less than a nanosecond of sending is left (time steps below that vanish in rounding)
      if (f.bitsLeft <= f.rate * 1e-9 + 1e-6) {
        this.active.delete(f)
        f.rate = 0
        if (f.own && this.trace) this.trace({ hop: f.hop!, label: f.label ?? '', startS: f.startedS ?? now, endS: now })
        this.heap.push(now, f.onDone) // after this re-share, never inside it
      }
    }
    // other stations' bursts start at once (after the time before them was accounted)
    if (this.arriving.length) {
      for (const f of this.arriving) this.active.add(f)
      this.arriving.length = 0
    }
    const scheduled = this.scheduled
    if (scheduled) {
      if (this.waiting.length && !this.granting && !this.ownActive()) {
        const { pick, wake } = this.pickWaiting(now)
        const waiting = this.waiting
        if (pick >= 0) {
          const f = waiting[pick]!
          // (splice without its array of the removed)
          for (let j = pick + 1; j < waiting.length; j++) waiting[j - 1] = waiting[j]!
          waiting.pop()
          this.start(f, now)
        }
        else if (Number.isFinite(wake) && wake !== this.wakeAt) {
          this.wakeAt = wake
          this.heap.push(wake, () => this.reshare())
        }
      }
    } else {
      const sending = new Set([...this.active].map((f) => f.station))
      for (const [station, q] of this.queues) if (q.length && !sending.has(station)) this.active.add(q.shift()!)
    }
    let alone = scheduled
    for (const f of this.active) {
      f.startedS ??= now
      if (!f.own) alone = false
    }
    const std = this.network.standard
    // background traffic contends with whatever is on the air, slots or not
    if (alone) for (const f of this.active) f.rate = f.rateBps * f.solo * this.baseAirtime
    else {
      const flows = [...this.active]
      const shares = contendedThroughputsBps(std, flows.map((f) => f.rateBps))
      flows.forEach((f, i) => (f.rate = shares[i]! * this.baseAirtime))
    }
    const v = ++this.version
    let next = Infinity
    for (const f of this.active) next = Math.min(next, f.bitsLeft / f.rate)
    if (Number.isFinite(next)) this.heap.push(now + next, () => v === this.version && this.reshare())
  }
}
