/**
 * The device agent (first part of issue 6): joins a hub's broker as one device, publishes its caps
 * (retained) and heartbeats, sets its last will, and follows the plan: it keeps the assignment the
 * hub publishes for it and reports the epoch it holds in its heartbeats. It does not run stages
 * yet (fetching stage models and executing them come next).
 *
 * Its caps come either from a profile (an emulated device: a scenario file's device, labelled
 * emulated in its caps) or from this machine (the onnxruntime micro-benchmark, memory, the power
 * figures given).
 */
import os from 'node:os'
import mqtt, { type MqttClient } from 'mqtt'
import { decodeCbor, encodeCbor } from '../src/protocol/codec.js'
import { AVAILABILITY, PROTOCOL_VERSION, topics } from '../src/protocol/topics.js'
import { assignmentSchema, formatIssues, type AssignmentPayload, type Caps, type Heartbeat } from '../src/protocol/payloads.js'
import type { DeviceProfile } from '../src/planner/types.js'

export interface AgentOptions {
  readonly url: string
  readonly id: string
  readonly username?: string
  readonly password?: string
  readonly profile: DeviceProfile
  readonly heartbeatMs?: number
  /** Called with every accepted assignment, and with every rejected one's reason. */
  readonly onAssignment?: (a: AssignmentPayload) => void
  readonly onError?: (message: string) => void
}

/** A device profile as caps (what a device announces). */
export function capsFromProfile(p: DeviceProfile): Caps {
  return {
    v: PROTOCOL_VERSION,
    deviceId: p.id,
    kind: p.kind,
    emulated: p.emulated,
    compute: { cores: os.availableParallelism(), flopsPerSec: { ...p.flopsPerSec }, accelerators: [] },
    memory: { totalBytes: p.memoryBytes, availableBytes: p.memoryBytes },
    power: { idleW: p.idleW, activeW: p.activeW, battery: p.battery ? { capacityWh: p.battery.capacityWh, levelPct: p.battery.levelPct, charging: false } : null },
    network: { linkRateBps: p.linkRateBps ?? 1e9, interface: p.linkRateBps === null ? 'ethernet' : 'wifi', standard: p.linkRateBps === null ? null : 'wifi5' },
    runtime: { dora: '0.1.0', onnxruntime: '1.30' },
  }
}

export class DeviceAgent {
  private client: MqttClient | null = null
  private timer: NodeJS.Timeout | null = null
  private seq = 0
  /** The latest assignment per job. */
  readonly assignments = new Map<string, AssignmentPayload>()

  constructor(private readonly o: AgentOptions) {}

  async start(): Promise<void> {
    const { id } = this.o
    const client = mqtt.connect(this.o.url, {
      clientId: `dora-device-${id}`,
      username: this.o.username ?? id,
      ...(this.o.password !== undefined ? { password: this.o.password } : {}),
      reconnectPeriod: 1000,
      will: { topic: topics.device(id, 'availability'), payload: Buffer.from(AVAILABILITY.offline), qos: 1, retain: true },
    })
    this.client = client
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve())
      client.once('error', (err) => reject(new Error(`device ${id} cannot connect to ${this.o.url}: ${err.message}`)))
    })
    client.on('message', (topic, payload) => this.onMessage(topic, payload))
    await client.subscribeAsync(topics.device(id, 'assignment'), { qos: 1 })
    await client.publishAsync(topics.device(id, 'caps'), encodeCbor(capsFromProfile(this.o.profile)), { qos: 1, retain: true })
    await client.publishAsync(topics.device(id, 'availability'), AVAILABILITY.online, { qos: 1, retain: true })
    this.timer = setInterval(() => this.heartbeat().catch((err: Error) => this.o.onError?.(`heartbeat: ${err.message}`)), this.o.heartbeatMs ?? 5000)
    await this.heartbeat()
  }

  /** Leaves cleanly: announces offline (the hub re-plans at once) and disconnects. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    const c = this.client
    this.client = null
    if (!c) return
    if (c.connected) await c.publishAsync(topics.device(this.o.id, 'availability'), AVAILABILITY.offline, { qos: 1, retain: true }).catch(() => undefined)
    await c.endAsync()
  }

  /** Drops the connection without a word (the broker sends the last will), as a crash would. */
  crash(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    this.client?.stream.destroy()
    this.client?.end(true)
    this.client = null
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic !== topics.device(this.o.id, 'assignment')) return
    const d = decodeCbor(payload)
    if (!d.ok) return this.o.onError?.(`assignment: ${d.error}`)
    const parsed = assignmentSchema.safeParse(d.value)
    if (!parsed.success) return this.o.onError?.(`assignment: ${formatIssues(parsed.error)}`)
    const prev = this.assignments.get(parsed.data.jobId)
    if (prev && prev.epoch > parsed.data.epoch) return // a stale epoch (retained, reordered): ignore it
    this.assignments.set(parsed.data.jobId, parsed.data)
    this.o.onAssignment?.(parsed.data)
  }

  private async heartbeat(): Promise<void> {
    if (!this.client?.connected) return
    const epochs = [...this.assignments.values()].map((a) => a.epoch)
    const hb: Heartbeat = {
      v: PROTOCOL_VERSION,
      seq: this.seq++,
      timeMs: Date.now(),
      load: Math.min(1, os.loadavg()[0]! / os.availableParallelism()),
      freeMemoryBytes: os.freemem(),
      batteryPct: this.o.profile.battery?.levelPct ?? null,
      linkThroughputBps: null,
      queueDepth: 0,
      epoch: epochs.length ? Math.max(...epochs) : null,
      stageTimings: [],
    }
    await this.client.publishAsync(topics.device(this.o.id, 'heartbeat'), encodeCbor(hb), { qos: 0 })
  }
}
