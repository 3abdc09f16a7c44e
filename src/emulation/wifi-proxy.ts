/**
 * The emulated shared Wi-Fi (EMULATION): a TCP proxy between emulated devices and the broker in
 * which every Wi-Fi connection draws on one airtime budget. Each station (an emulated device) gets
 * its own listening port on 127.0.0.1; what it sends (uplink) and what the access point sends it
 * (downlink) are paced at the station's link rate, and when several are on the air together they
 * share it as the 802.11 DCF model says (network/wifi.ts: equal frame rates, so a slow station
 * drags the fast ones, plus collision loss). A wired station has its own link at its rate, shared
 * with nobody. Real sockets carry real bytes, only later.
 *
 * What crosses the air is counted as the air model counts it (the calibration test holds the two
 * within 5%): every byte of the MQTT stream (MQTT and chunk headers included) plus TCP/IP headers
 * (40 bytes a 1,460-byte segment); bulk data at the sender's rate times the single-sender DCF
 * efficiency (A-MPDU aggregates); a short message (an acknowledgement, a heartbeat: at most
 * SMALL_BYTES waiting) goes at once as one short frame whose air time (backoff, headers, ACK,
 * DIFS: network/wifi.ts shortFrameAirS) the bulk flows lose.
 *
 * Pacing: every `tickMs` the proxy replays the time since the last tick as the DCF model would
 * have run it: flows join at the moment their bytes arrived, share the air with the flows active
 * with them, and when one empties its queue the others go on with its share (no air is lost to the
 * tick: the medium is work-conserving, as DCF is).
 */
import net from 'node:net'
import { contendedThroughputsBps, shortFrameAirS, soloEfficiency, type WifiStandard } from '../planner/network/wifi.js'

/** Waiting bytes at or below which a flow sends one short frame rather than bulk (about one Wi-Fi frame). */
const SMALL_BYTES = 1600
/** A tick this late (the process was starved of CPU) replays at most this much wall time; the rest is lost air, counted in `stalledMs`. */
const MAX_CATCH_UP_MS = 2000
/** TCP/IP: 40 header bytes for every 1,460 bytes of stream. */
const TCP_WIRE_FACTOR = 1500 / 1460

export interface ProxyOptions {
  /** The broker the stations really talk to. */
  readonly brokerHost: string
  readonly brokerPort: number
  readonly standard: WifiStandard
  /** Share of the air left by other traffic (1: the channel is ours). */
  readonly availableAirtime?: number
  readonly tickMs?: number
  /** Emulation clock: every rate is divided by this factor (devices' compute is stretched alike). */
  readonly timeScale?: number
}

interface Flow {
  readonly station: string
  readonly rateBps: number
  readonly wired: boolean
  readonly out: net.Socket
  queue: Buffer[]
  queued: number
  /** When the queue last went from empty to not empty (ms, performance.now()). */
  readySinceMs: number
  /** Fraction of a byte carried over from the last tick. */
  credit: number
}

export class WifiProxy {
  private readonly servers = new Map<string, net.Server>()
  private readonly flows = new Set<Flow>()
  private readonly sockets = new Set<net.Socket>()
  private timer: NodeJS.Timeout | null = null
  private lastTick = 0
  /** Air already spent on short frames past the last tick, in seconds of air (profile time). */
  private airDebtS = 0
  /** Bytes carried per station, both directions (for reports and tests). */
  readonly carried = new Map<string, number>()
  /** Seconds of air (profile time) the Wi-Fi stations used, bulk and short frames (for tests). */
  airUsedS = 0
  /** Wall ms the proxy could not replay (ticks later than MAX_CATCH_UP_MS: this process was starved); reported by the demo. */
  stalledMs = 0

  constructor(private readonly o: ProxyOptions) {}

  /** Opens a station at `rateBps` and returns the local port its device connects to. `wired`: its own link, no shared air. */
  async addStation(id: string, rateBps: number, o: { wired?: boolean } = {}): Promise<number> {
    if (this.servers.has(id)) throw new Error(`station ${id} exists already`)
    if (!(rateBps > 0) || !Number.isFinite(rateBps)) throw new RangeError(`station ${id}: link rate must be positive, not ${rateBps}`)
    const server = net.createServer((device) => this.connect(id, rateBps, o.wired ?? false, device))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    this.servers.set(id, server)
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.o.tickMs ?? 2)
      this.lastTick = performance.now()
    }
    return (server.address() as net.AddressInfo).port
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    for (const s of this.sockets) s.destroy()
    await Promise.all([...this.servers.values()].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
    this.servers.clear()
  }

  private connect(station: string, rateBps: number, wired: boolean, device: net.Socket): void {
    const broker = net.connect(this.o.brokerPort, this.o.brokerHost)
    device.setNoDelay(true)
    broker.setNoDelay(true)
    this.sockets.add(device).add(broker)
    const flow = (out: net.Socket): Flow => ({ station, rateBps, wired, out, queue: [], queued: 0, readySinceMs: 0, credit: 0 })
    const up = flow(broker)
    const down = flow(device)
    this.flows.add(up).add(down)
    const enqueue = (f: Flow) => (chunk: Buffer) => {
      if (f.queued === 0) f.readySinceMs = performance.now()
      f.queue.push(chunk)
      f.queued += chunk.length
    }
    device.on('data', enqueue(up))
    broker.on('data', enqueue(down))
    const end = () => {
      this.flows.delete(up)
      this.flows.delete(down)
      device.destroy()
      broker.destroy()
      this.sockets.delete(device)
      this.sockets.delete(broker)
    }
    device.on('close', end).on('error', end)
    broker.on('close', end).on('error', end)
  }

  private tick(): void {
    const now = performance.now()
    // a late tick (a busy machine) still hands out the air time that passed, up to MAX_CATCH_UP_MS
    const from = Math.max(this.lastTick, now - MAX_CATCH_UP_MS)
    this.stalledMs += from - this.lastTick
    this.lastTick = now
    const k = this.o.timeScale ?? 1
    const waiting = [...this.flows].filter((f) => f.queued > 0)
    for (const f of waiting.filter((x) => x.wired)) this.paceWired(f, from, now, k)
    const air = waiting.filter((f) => !f.wired)
    // short messages go at once, each as one short frame; the bulk flows lose its air time
    for (const f of air) {
      if (f.queued > SMALL_BYTES) continue
      const spent = shortFrameAirS(this.o.standard, f.queued * TCP_WIRE_FACTOR, f.rateBps)
      this.airDebtS += spent
      this.airUsedS += spent
      this.write(f, f.queued)
    }
    this.paceAir(air.filter((f) => f.queued > 0), from, now, k)
  }

  /** A wired link: the station's own rate, from when its bytes arrived. */
  private paceWired(f: Flow, from: number, now: number, k: number): void {
    const s = (now - Math.max(from, f.readySinceMs)) / 1000 / k
    f.credit += (s * f.rateBps) / 8 / TCP_WIRE_FACTOR
    this.spend(f)
  }

  /**
   * Replays [from, now) on the shared air: flows join when their bytes arrived, active flows send
   * at their DCF shares, and a flow that empties leaves its share to the others at once.
   */
  private paceAir(flows: Flow[], from: number, now: number, k: number): void {
    if (!flows.length) {
      this.airDebtS = Math.max(0, this.airDebtS - (now - from) / 1000 / k)
      return
    }
    if (this.airDebtS < 0) this.airDebtS = 0
    // the air short frames took comes first
    const paid = Math.min(this.airDebtS * k * 1000, now - from)
    this.airDebtS -= paid / 1000 / k
    // wire bits still to send (the credit already earned is sent)
    const bits = flows.map((f) => Math.max(0, (f.queued - f.credit) * 8 * TCP_WIRE_FACTOR))
    const r = replayAir(flows.map((f, i) => ({ rateBps: f.rateBps, readySinceMs: f.readySinceMs, bits: bits[i]! })), from + paid, now, { k, availableAirtime: this.o.availableAirtime ?? 1, standard: this.o.standard })
    flows.forEach((f, i) => (f.credit += r.sentBits[i]! / 8 / TCP_WIRE_FACTOR))
    this.airUsedS += r.airS
    for (const f of flows) this.spend(f)
  }

  /** Writes the whole bytes a flow's credit allows; an emptied flow banks no credit. */
  private spend(f: Flow): void {
    const budget = Math.floor(f.credit + 1e-9)
    f.credit -= budget
    this.write(f, budget)
    if (!f.queue.length) f.credit = 0
  }

  /** Writes up to `budget` queued bytes of a flow on. */
  private write(f: Flow, budget: number): void {
    while (budget > 0 && f.queue.length) {
      const head = f.queue[0]!
      const n = Math.min(budget, head.length)
      f.out.write(n === head.length ? head : head.subarray(0, n))
      if (n === head.length) f.queue.shift()
      else f.queue[0] = head.subarray(n)
      f.queued -= n
      budget -= n
      this.carried.set(f.station, (this.carried.get(f.station) ?? 0) + n)
    }
  }
}

/**
 * Replays [t, now) (wall ms) on the shared air (pure): flows join when their bytes arrived
 * (`readySinceMs`), active flows send at their DCF shares, and a flow that empties leaves its share
 * to the others at once. The bits each flow sent, and the seconds of air (profile time) used.
 * Every step either ends the replay, lets a flow join, or empties a flow (one whose remaining time
 * is below the clock's resolution included: at 400 s of performance.now() a few bits left once
 * gave no step at all, and the loop never ended).
 */
export function replayAir(flows: ReadonlyArray<{ readonly rateBps: number; readonly readySinceMs: number; readonly bits: number }>, from: number, now: number, o: { readonly k: number; readonly availableAirtime: number; readonly standard: WifiStandard }): { sentBits: number[]; airS: number } {
  const { k, availableAirtime: avail } = o
  const left = flows.map((f) => Math.max(0, f.bits))
  const sentBits = flows.map(() => 0)
  let airS = 0
  let t = from
  const byArrival = flows.map((_, i) => i).sort((a, b) => flows[a]!.readySinceMs - flows[b]!.readySinceMs)
  const pending = byArrival.filter((i) => flows[i]!.readySinceMs > t && left[i]! > 0)
  let active = byArrival.filter((i) => flows[i]!.readySinceMs <= t && left[i]! > 0)
  while (t < now && (active.length || pending.length)) {
    if (!active.length) {
      t = Math.max(t, flows[pending[0]!]!.readySinceMs)
      active.push(pending.shift()!)
      continue
    }
    const shares = active.length === 1
      ? [flows[active[0]!]!.rateBps * soloEfficiency(o.standard, flows[active[0]!]!.rateBps)]
      : contendedThroughputsBps(o.standard, active.map((i) => flows[i]!.rateBps))
    // the next event: a flow empties, another joins, or the replay ends
    const emptyAt = active.map((i, j) => t + ((left[i]! / shares[j]!) / avail) * k * 1000)
    const until = Math.min(now, pending.length ? flows[pending[0]!]!.readySinceMs : Infinity, ...emptyAt)
    const dtAir = ((until - t) / 1000 / k) * avail
    active.forEach((i, j) => {
      // a flow whose end is reached sends all it has left (rounding never leaves it a sliver)
      const b = emptyAt[j]! <= until ? left[i]! : Math.min(left[i]!, shares[j]! * dtAir)
      left[i]! -= b
      sentBits[i]! += b
    })
    airS += dtAir
    t = until
    active = active.filter((i) => left[i]! > 1e-6)
    while (pending.length && flows[pending[0]!]!.readySinceMs <= t) active.push(pending.shift()!)
  }
  return { sentBits, airS }
}
