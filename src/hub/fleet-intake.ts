/**
 * Devices' caps, availability and heartbeats from the broker into the registry (topics.md §
 * Device registry), with what the hub's own connection means for them: a last will is believed
 * only when the broker is still serving after it (will-gate.ts), and silence is timed only while
 * the hub can listen (no sweep while it is disconnected; the heartbeat timeout counts from its
 * reconnection).
 */
import type { DoraClient } from '../mqtt/client.js'
import type { Registry, Outcome } from '../registry/registry.js'
import { AVAILABILITY, parseTopic, topics } from '../protocol/topics.js'
import { WillGate } from './will-gate.js'
import type { Logger } from '../log.js'

export interface FleetIntakeDeps {
  readonly registry: Registry
  readonly client: DoraClient
  readonly clock: () => number
  readonly log: Logger
  /** A payload the registry refused (answered and counted by the hub). */
  readonly refused: (deviceId: string, topic: string, outcome: Extract<Outcome, { ok: false }>) => void
}

const OFFLINE = Buffer.from(AVAILABILITY.offline)

export class FleetIntake {
  readonly wills: WillGate
  /** Since when the hub's connection has been up (its last (re)connection). */
  private listeningSinceMs: number

  constructor(private readonly d: FleetIntakeDeps) {
    this.listeningSinceMs = d.clock()
    this.wills = new WillGate({
      link: () => ({ connected: d.client.connected, connection: d.client.connection }),
      // the hub's own retained `online` again: idempotent, and acknowledged only by a broker that serves
      probe: () => d.client.publish(topics.hubAvailability, AVAILABILITY.online, { qos: 1, retain: true }),
      trust: (deviceId) => void d.registry.handleAvailability(deviceId, OFFLINE, d.clock()),
      log: d.log,
    })
  }

  async start(): Promise<void> {
    const route = (topic: string, payload: Buffer, retained: boolean) => this.onMessage(topic, payload, retained)
    for (const kind of ['caps', 'availability', 'heartbeat'] as const) await this.d.client.subscribe(topics.allDevices(kind), route)
  }

  /** The hub's connection is back (the client restores the subscriptions). */
  reconnected(): void {
    this.listeningSinceMs = this.d.clock()
  }

  /** Marks silent devices offline; not while the hub cannot hear them. */
  sweep(): void {
    if (this.d.client.connected) this.d.registry.sweep(this.d.clock(), this.listeningSinceMs)
  }

  stop(): void {
    this.wills.stop()
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    const parsed = parseTopic(topic)
    if (!parsed || parsed.scope !== 'device') return
    const { deviceId } = parsed
    const now = this.d.clock()
    const r = this.d.registry
    const offline = parsed.kind === 'availability' && payload.equals(OFFLINE)
    let outcome: Outcome
    switch (parsed.kind) {
      case 'caps':
        outcome = r.handleCaps(deviceId, payload, now)
        break
      case 'heartbeat':
        outcome = r.handleHeartbeat(deviceId, payload, now)
        break
      case 'availability':
        if (offline && r.get(deviceId)?.status === 'online') return this.wills.offline(deviceId, retained)
        outcome = r.handleAvailability(deviceId, payload, now)
        break
      default:
        return
    }
    if (!outcome.ok) return this.d.refused(deviceId, topic, outcome)
    // a message the registry took is a sign of life: a will of the device not yet judged is out of date
    if (!offline) this.wills.alive(deviceId)
  }
}
