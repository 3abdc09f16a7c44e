/**
 * The emulated shared Wi-Fi (EMULATION): a TCP proxy between emulated devices and the broker in
 * which every connection draws on one airtime budget. Each station (an emulated device) gets its
 * own listening port on 127.0.0.1; what it sends (uplink) and what the access point sends it
 * (downlink) are paced at the station's link rate, and when several are on the air together they
 * share it as the 802.11 DCF model says (equal frame rates: a slow station drags the fast ones,
 * plus collision loss; network/wifi.ts). Real sockets carry real bytes, only later.
 *
 * Pacing: every `tickMs` the proxy finds the flows with bytes waiting (a station's uplink, or
 * the access point's downlink to a station), gives each its DCF share of the tick (or, alone, its
 * solo rate) times the airtime left by other traffic, and writes that many bytes on.
 */
import net from 'node:net'
import { contendedThroughputsBps, soloEfficiency, type WifiStandard } from '../planner/network/wifi.js'

/** Waiting bytes at or below which a flow is not a contender (about one full Wi-Fi frame). */
const SMALL_BYTES = 1600

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
  readonly out: net.Socket
  queue: Buffer[]
  queued: number
  /** Fraction of a byte carried over from the last tick. */
  credit: number
  /** Bytes carried (for reports). */
  sentBytes: number
}

export class WifiProxy {
  private readonly servers = new Map<string, net.Server>()
  private readonly flows = new Set<Flow>()
  private readonly sockets = new Set<net.Socket>()
  private timer: NodeJS.Timeout | null = null
  private lastTick = 0
  /** Bytes carried per station, both directions (for reports and tests). */
  readonly carried = new Map<string, number>()

  constructor(private readonly o: ProxyOptions) {}

  /** Opens a station at `rateBps` and returns the local port its device connects to. */
  async addStation(id: string, rateBps: number): Promise<number> {
    if (this.servers.has(id)) throw new Error(`station ${id} exists already`)
    if (!(rateBps > 0)) throw new RangeError(`station ${id}: link rate must be positive, not ${rateBps}`)
    const server = net.createServer((device) => this.connect(id, rateBps, device))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    this.servers.set(id, server)
    this.timer ??= setInterval(() => this.tick(), this.o.tickMs ?? 2)
    this.lastTick = performance.now()
    return (server.address() as net.AddressInfo).port
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    for (const s of this.sockets) s.destroy()
    await Promise.all([...this.servers.values()].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
    this.servers.clear()
  }

  private connect(station: string, rateBps: number, device: net.Socket): void {
    const broker = net.connect(this.o.brokerPort, this.o.brokerHost)
    device.setNoDelay(true)
    broker.setNoDelay(true)
    this.sockets.add(device).add(broker)
    const up: Flow = { station, rateBps, out: broker, queue: [], queued: 0, credit: 0, sentBytes: 0 }
    const down: Flow = { station, rateBps, out: device, queue: [], queued: 0, credit: 0, sentBytes: 0 }
    this.flows.add(up).add(down)
    const enqueue = (f: Flow) => (chunk: Buffer) => {
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
    // a late tick (a busy machine) still hands out the air time that passed, up to half a second
    const dtS = Math.min(0.5, (now - this.lastTick) / 1000)
    this.lastTick = now
    // a flow with no more than a frame or two waiting (acknowledgements, heartbeats) goes at once:
    // its air time is negligible, and counting it as a contender would waste a full share of the
    // tick on a few bytes (DCF stations with little to send leave the air to the others)
    const waiting = [...this.flows].filter((f) => f.queued > 0)
    for (const f of waiting) if (f.queued <= SMALL_BYTES) this.write(f, f.queued)
    const active = waiting.filter((f) => f.queued > 0)
    if (!active.length) return
    const std = this.o.standard
    const shares = active.length === 1
      ? [active[0]!.rateBps * soloEfficiency(std, active[0]!.rateBps)]
      : contendedThroughputsBps(std, active.map((f) => f.rateBps))
    active.forEach((f, i) => {
      f.credit += (shares[i]! * (this.o.availableAirtime ?? 1) * dtS) / 8 / (this.o.timeScale ?? 1)
      const budget = Math.floor(f.credit)
      f.credit -= budget
      this.write(f, budget)
      if (!f.queue.length) f.credit = 0 // an idle flow banks no airtime
    })
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
      f.sentBytes += n
      budget -= n
      this.carried.set(f.station, (this.carried.get(f.station) ?? 0) + n)
    }
  }
}
