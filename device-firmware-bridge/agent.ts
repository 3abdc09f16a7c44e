/**
 * The device agent (first part of issue 6): joins a hub's broker as one device, publishes its caps
 * (retained) and heartbeats, sets its last will, and follows the plan: it keeps the assignment the
 * hub publishes for it and reports the epoch it holds in its heartbeats; for each stage it is
 * given it fetches the stage model (model-cache.ts: chunks over MQTT, sha256, disk cache) and
 * opens its onnxruntime session ahead of the epoch. Running requests comes next.
 *
 * Its caps come either from a profile (an emulated device: a scenario file's device, labelled
 * emulated in its caps) or from this machine (the onnxruntime micro-benchmark, memory, the power
 * figures given).
 */
import os from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { ModelCache } from './model-cache.js'
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
  /** Where stage models are cached (default: ~/.cache/dora/models). */
  readonly cacheDir?: string
  /** Called when a stage's model is verified and its onnxruntime session open. */
  readonly onStageReady?: (x: { jobId: string; epoch: number; sha256: string; inputs: readonly string[]; outputs: readonly string[] }) => void
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
  /** Open onnxruntime sessions of stage models, by sha256. */
  readonly sessions = new Map<string, ort.InferenceSession>()
  readonly models: ModelCache

  constructor(private readonly o: AgentOptions) {
    this.models = new ModelCache(o.cacheDir ?? join(os.homedir(), '.cache', 'dora', 'models'), () => this.client)
  }

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
    for (const s of this.sessions.values()) await s.release()
    this.sessions.clear()
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
    for (const s of this.sessions.values()) s.release().catch(() => undefined)
    this.sessions.clear()
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
    this.prepare(parsed.data).catch((err: Error) => this.o.onError?.(`job ${parsed.data.jobId} epoch ${parsed.data.epoch}: ${err.message}`))
  }

  /** Fetches (or finds in the cache) every stage model of an assignment and opens its session. */
  private async prepare(a: AssignmentPayload): Promise<void> {
    for (const s of a.stages) {
      if (!s.model || this.sessions.has(s.model.sha256)) continue
      const bytes = await this.models.get(s.model)
      let session: ort.InferenceSession
      try {
        session = await ort.InferenceSession.create(bytes)
      } catch (err) {
        throw new Error(`stage model ${s.model.sha256} does not load in onnxruntime: ${(err as Error).message}`)
      }
      this.sessions.set(s.model.sha256, session)
      this.o.onStageReady?.({ jobId: a.jobId, epoch: a.epoch, sha256: s.model.sha256, inputs: session.inputNames, outputs: session.outputNames })
    }
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
