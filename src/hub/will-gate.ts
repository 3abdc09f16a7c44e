/**
 * Whether to believe a device's `offline` availability (its MQTT last will). A broker that shuts
 * down (a Mosquitto restart) publishes every client's last will as it closes their connections,
 * the hub's own included: the hub reads its devices' wills an instant before its own connection
 * drops, though the devices are fine and rejoin as soon as the broker is back. Believed, those
 * wills re-plan the job onto nothing and halt it, and its source's outstanding requests are lost.
 *
 * So a will counts only when the broker that delivered it is still serving after it: the hub sends
 * one QoS 1 publish through the broker (a probe: its own retained `online`) and trusts the wills
 * that arrived before it once the broker acknowledges it on the same connection the wills came on.
 * A broker that is going down never acknowledges it (Mosquitto sends the wills after its loop has
 * stopped reading), so those wills are doubted. A retained `offline` read on any connection after
 * the hub's first (of a device it has online) is a will published while it could not listen:
 * doubted too (on the first connection it is the device's last known state, and counts). A doubted will changes nothing: the device stays listed and
 * its heartbeats decide (the registry's heartbeat timeout, counted from the hub's reconnection).
 *
 * Bounded: at most one entry per device the registry has online, one probe in flight.
 */
import type { Logger } from '../log.js'

export interface WillGateDeps {
  /** The hub's broker connection now: whether it is up, and which one it is (CONNACKs so far). */
  readonly link: () => { connected: boolean; connection: number }
  /** One QoS 1 publish through the broker; resolves on its acknowledgement. */
  readonly probe: () => Promise<void>
  /** Applies a will the gate trusts (the registry marks the device departed). */
  readonly trust: (deviceId: string) => void
  readonly log: Logger
}

export class WillGate {
  /** Device -> the connection its will arrived on, awaiting a probe. */
  private readonly pending = new Map<string, number>()
  private probing = false
  private stopped = false
  /** Wills trusted, doubted, and made out of date by the device speaking before they were judged. */
  readonly counts = { trusted: 0, doubted: 0, superseded: 0 }

  constructor(private readonly d: WillGateDeps) {}

  /** An `offline` availability of a device the registry has online. */
  offline(deviceId: string, retained: boolean): void {
    if (this.stopped) return
    // (mqtt.js may deliver the restored subscriptions' retained messages before it tells of the reconnection)
    if (retained) return this.d.link().connection > 0 ? this.doubt(deviceId, 'published while the hub was disconnected') : this.trusted(deviceId)
    if (!this.pending.has(deviceId)) this.pending.set(deviceId, this.d.link().connection)
    void this.probeNext()
  }

  /** The device spoke (caps, `online`, a heartbeat): a will of it not yet judged is out of date. */
  alive(deviceId: string): void {
    if (!this.pending.delete(deviceId)) return
    this.counts.superseded++
    this.d.log.info({ deviceId }, 'last will out of date: the device spoke after it, so it stays listed')
  }

  stop(): void {
    this.stopped = true
    this.pending.clear()
  }

  /** One probe at a time; the wills that arrived before it was sent are judged by it. */
  private async probeNext(): Promise<void> {
    if (this.probing || this.stopped || this.pending.size === 0) return
    this.probing = true
    const batch = new Map(this.pending)
    let acknowledged = true
    try {
      await this.d.probe()
    } catch {
      acknowledged = false
    }
    this.probing = false
    if (this.stopped) return
    const link = this.d.link()
    for (const [deviceId, connection] of batch) {
      if (this.pending.get(deviceId) !== connection) continue // it spoke since, or came again on another connection
      this.pending.delete(deviceId)
      if (acknowledged && link.connected && link.connection === connection) this.trusted(deviceId)
      else this.doubt(deviceId, 'the broker did not acknowledge the hub on that connection after it')
    }
    void this.probeNext()
  }

  private trusted(deviceId: string): void {
    this.counts.trusted++
    this.d.trust(deviceId)
  }

  private doubt(deviceId: string, why: string): void {
    this.counts.doubted++
    this.d.log.warn({ deviceId, why }, 'last will not trusted: the device stays listed until its heartbeats stop')
  }
}
