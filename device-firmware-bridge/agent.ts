/**
 * The device agent (issue 6): joins a hub's broker as one device, publishes its caps (retained)
 * and heartbeats, sets its last will, and follows the plan: it keeps the assignments the hub
 * publishes for it (the last few epochs, so old requests finish on old stages); for each stage
 * it fetches the stage model (model-cache.ts: chunks over MQTT, sha256, disk cache) and opens its
 * onnxruntime session ahead of the epoch, and reports in its heartbeat the newest epoch it is
 * ready for. Requests run in executor.ts; a device that is a job's source (a camera) also sends
 * requests (src/runtime/requester.ts) and reports their latency in its heartbeats.
 *
 * Its caps come either from a profile (an emulated device: a scenario file's device, labelled
 * emulated in its caps) or from this machine (the onnxruntime micro-benchmark, memory, the power
 * figures given).
 */
import os from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { ModelCache } from './model-cache.js'
import { StageExecutor, type ExecutorDeps } from './executor.js'
import { TrainingExecutor } from './training.js'
import { DeviceRuntime } from './runtime.js'
import { TrainingSource } from './training-source.js'
import { StageTrainer } from '../src/runtime/trainer.js'
import { Requester, outstandingCap, type InputsFn } from '../src/runtime/requester.js'
import { randomWireInputs } from '../src/runtime/inputs.js'
import { ResultSink } from '../src/runtime/result-sink.js'
import { meanAndP95 } from '../src/shared/stats.js'
import mqtt, { type MqttClient } from 'mqtt'
import { decodeCbor, encodeCbor } from '../src/protocol/codec.js'
import { AVAILABILITY, PROTOCOL_VERSION, topics, filters, parseTopic } from '../src/protocol/topics.js'
import { assignmentSchema, formatIssues, planEpochSchema, trainingStepSchema, type AssignmentPayload, type Caps, type Heartbeat, type PlanEpochPayload } from '../src/protocol/payloads.js'
import { ChunkBatcher, batcherOptions } from '../src/runtime/chunk-batcher.js'
import { storeWithoutCopy, payloadFor } from '../src/mqtt/no-copy-publish.js'
import type { DeviceProfile } from '../src/shared/device-profile.js'
import { firstConnect, reportOutages, withTimeout } from './connection.js'
import { DoraError, ErrorCodes } from '../src/errors.js'

export interface AgentOptions {
  readonly url: string
  readonly id: string
  readonly username?: string
  readonly password?: string
  /** CA certificate(s) to trust for an mqtts:// broker with a private certificate authority. */
  readonly ca?: Buffer
  readonly profile: DeviceProfile
  readonly heartbeatMs?: number
  /** Called with every accepted assignment, and with every rejected one's reason. */
  readonly onAssignment?: (a: AssignmentPayload) => void
  /** Where stage models are cached (default: ~/.cache/dora/models). */
  readonly cacheDir?: string
  /** Called when a stage's model is verified and its onnxruntime session open. */
  readonly onStageReady?: (x: { jobId: string; epoch: number; sha256: string; inputs: readonly string[]; outputs: readonly string[] }) => void
  readonly onError?: (message: string) => void
  /** Emulated devices wait after each run until their profile's time (default: when emulated). */
  readonly dilate?: boolean
  /** `slots` (default): send inside the hub's slots; `none`: send at once (uncoordinated). */
  readonly coordination?: 'slots' | 'none'
  readonly chunkBytes?: number
  readonly reassemblyTimeoutMs?: number
  /** Bounds on tensors held for requests waiting for their inputs or epoch (executor.ts). */
  readonly maxHeld?: ExecutorDeps['maxHeld']
  readonly trace?: ExecutorDeps['trace']
  /**
   * Emulation clock for hosts slower than the profiles: every profile time (compute waits,
   * slots) is stretched by this factor, and the times this device reports are divided by it.
   */
  readonly timeScale?: number
}

/** Epochs kept per job: requests of an older epoch than these are refused (the source re-sends). */
const EPOCHS_KEPT = 4

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
  /** Busy time at the last heartbeat (an emulated device's load is its busy share since then). */
  private lastLoad: { atMs: number; busyMs: number } | null = null
  /** The latest assignment per job. */
  readonly assignments = new Map<string, AssignmentPayload>()
  /** Recent assignments and plan epochs per job, by epoch. */
  private readonly history = new Map<string, { assignments: Map<number, AssignmentPayload>; plans: Map<number, PlanEpochPayload> }>()
  /** Open onnxruntime sessions of stage models, by sha256 (loading ones as promises). */
  readonly sessions = new Map<string, ort.InferenceSession>()
  private readonly loading = new Map<string, Promise<ort.InferenceSession>>()
  /** Per job, the newest epoch whose stage models are all open. */
  private readonly ready = new Map<string, number>()
  readonly models: ModelCache
  /** This device's clock, publish (energy-counted), dilation, energy account and stage timings. */
  readonly runtime: DeviceRuntime
  readonly executor: StageExecutor
  readonly training: TrainingExecutor
  /** This device's training source, when it holds a training job's data (startTraining). */
  trainingSource: TrainingSource | null = null
  private readonly trainers = new Map<string, Promise<StageTrainer>>()
  private stepMark = 0
  /** This device's request source, when it is one (startSource). */
  requester: Requester | null = null
  private sourceTimer: NodeJS.Timeout | null = null
  private tickTimer: NodeJS.Timeout | null = null
  private latencyMark = 0

  /** Every job message this device sends: small tensor chunks batch per topic under load. */
  private readonly tensorOut: ChunkBatcher

  constructor(private readonly o: AgentOptions) {
    this.tensorOut = new ChunkBatcher(async (topic, payload) => {
      if (!this.client) throw new DoraError(ErrorCodes.NOT_CONNECTED, 'not connected')
      await this.client.publishAsync(topic, payloadFor(this.client, payload), { qos: 1 })
    }, batcherOptions(o.chunkBytes ?? 256 * 1024))
    this.models = new ModelCache(o.cacheDir ?? join(os.homedir(), '.cache', 'dora', 'models'), () => this.client, 60_000, (m) => o.onError?.(m))
    this.runtime = new DeviceRuntime({
      id: o.id,
      profile: o.profile,
      dilate: o.dilate ?? o.profile.emulated,
      timeScale: o.timeScale ?? 1,
      chunkBytes: o.chunkBytes ?? 256 * 1024,
      send: async (topic, payload) => {
        if (!this.client) throw new DoraError(ErrorCodes.NOT_CONNECTED, 'not connected')
        await this.tensorOut.send(topic, payload)
      },
      onError: (m) => this.o.onError?.(m),
    })
    const epochOf = {
      assignment: (jobId: string, epoch: number) => this.history.get(jobId)?.assignments.get(epoch),
      plan: (jobId: string, epoch: number) => this.history.get(jobId)?.plans.get(epoch),
    }
    this.executor = new StageExecutor({
      runtime: this.runtime,
      coordination: o.coordination ?? 'slots',
      reassemblyTimeoutMs: o.reassemblyTimeoutMs ?? 30_000,
      ...(o.maxHeld ? { maxHeld: o.maxHeld } : {}),
      session: (model) => this.session(model),
      ...epochOf,
      ...(o.trace ? { trace: o.trace } : {}),
    })
    this.training = new TrainingExecutor({ runtime: this.runtime, reassemblyTimeoutMs: o.reassemblyTimeoutMs ?? 60_000, ...epochOf, trainer: (stage) => this.trainer(stage) })
  }

  /** Whether a job is a training job (its newest known plan says so). */
  private isTraining(jobId: string): boolean {
    const plans = this.history.get(jobId)?.plans
    if (!plans?.size) return false
    return !!plans.get(Math.max(...plans.keys()))!.training
  }

  /** A training stage's trainer: forward and backward models fetched, sessions open (once per stage model). */
  private trainer(stage: AssignmentPayload['stages'][number]): Promise<StageTrainer> {
    const fwd = stage.model
    const bwd = stage.backward
    if (!fwd || !bwd || !stage.params) return Promise.reject(new DoraError(ErrorCodes.ASSIGNMENT_INVALID, `stage ${stage.stage} of ${stage.planId} is not a training stage`))
    const key = `${fwd.sha256}/${bwd.sha256}`
    let t = this.trainers.get(key)
    if (!t) {
      t = (async () => {
        const [f, b] = [await this.models.get(fwd), await this.models.get(bwd)]
        try {
          return await StageTrainer.create(f, b, stage.params!, { intraOpNumThreads: 1, interOpNumThreads: 1 })
        } catch (err) {
          throw new DoraError(ErrorCodes.STAGE_MODEL_LOAD, `training stage models ${fwd.sha256.slice(0, 12)}/${bwd.sha256.slice(0, 12)} do not load: ${(err as Error).message}`)
        }
      })()
      t.catch(() => this.trainers.delete(key))
      this.trainers.set(key, t)
    }
    return t
  }

  /**
   * Makes this device the source of a training job: optimizer steps one after another on the
   * job's newest plan (see training-source.ts), until stopTraining.
   */
  async startTraining(jobId: string, o: { minStepTimeoutMs?: number } = {}): Promise<TrainingSource> {
    const src = new TrainingSource({
      ...o,
      src: this.o.id,
      jobId,
      chunkBytes: this.runtime.chunkBytes,
      timeScale: this.runtime.timeScale,
      clock: this.runtime.clock,
      publish: this.runtime.publish,
      local: (t) => this.training.accept(jobId, t),
      onError: (m) => this.o.onError?.(m),
    })
    this.trainingSource = src
    const h = this.jobHistory(jobId)
    for (const p of h.plans.values()) src.setPlan(p)
    await this.subscribeJob(jobId)
    src.start()
    return src
  }

  async stopTraining(): Promise<TrainingSource | null> {
    const s = this.trainingSource
    await s?.stop()
    return s
  }

  async start(): Promise<void> {
    const { id } = this.o
    const client = mqtt.connect(this.o.url, {
      clientId: `dora-device-${id}`,
      username: this.o.username ?? id,
      ...(this.o.password !== undefined ? { password: this.o.password } : {}),
      ...(this.o.ca ? { ca: this.o.ca } : {}),
      reconnectPeriod: 1000,
      // on a stretched emulation clock a link moves a big stage model slowly, and the broker's
      // PINGRESP waits behind it: the keep-alive stretches with the clock
      keepalive: Math.min(65_535, Math.round(60 * this.runtime.timeScale)),
      will: { topic: topics.device(id, 'availability'), payload: Buffer.from(AVAILABILITY.offline), qos: 1, retain: true },
    })
    storeWithoutCopy(client)
    this.client = client
    await firstConnect(client, `device ${id} cannot connect to ${this.o.url}`).catch((err: Error) => {
      this.client = null
      throw err
    })
    reportOutages(client, (m) => this.o.onError?.(m))
    // a message that makes a handler throw is reported and counted, never fatal
    client.on('message', (topic, payload) => {
      try {
        this.onMessage(topic, payload)
      } catch (err) {
        this.failedMessages++
        this.o.onError?.(`message on ${topic} failed: ${(err as Error).message}`)
      }
    })
    // every reconnect rejoins: a restarted hub or broker may have lost the subscriptions and every
    // retained message (caps, availability), and the last will may have left `offline` retained
    client.on('connect', (ack) => {
      void (async () => {
        if (!ack.sessionPresent) await this.resubscribe()
        await this.announce()
        await this.heartbeat()
      })().catch((err: Error) => this.o.onError?.(`rejoining: ${err.message}`))
    })
    await this.resubscribe()
    await this.announce()
    this.timer = setInterval(() => this.heartbeat().catch((err: Error) => this.o.onError?.(`heartbeat: ${err.message}`)), this.o.heartbeatMs ?? 5000)
    await this.heartbeat()
  }

  /** Caps, then `online`, both retained: what the hub builds its registry from. */
  private async announce(): Promise<void> {
    const c = this.client
    if (!c) return
    await c.publishAsync(topics.device(this.o.id, 'caps'), encodeCbor(capsFromProfile(this.o.profile)), { qos: 1, retain: true })
    await c.publishAsync(topics.device(this.o.id, 'availability'), AVAILABILITY.online, { qos: 1, retain: true })
  }

  private async resubscribe(): Promise<void> {
    const c = this.client
    if (!c) return
    // everything addressed to this device, of any job, from the start: a source may send on a new
    // epoch the moment it activates, before this device has read its assignment
    // and the results (or receipts) addressed to it: as a job's consumer, or a source that asks for its results
    await c.subscribeAsync([topics.device(this.o.id, 'assignment'), filters.tensorsToDevice(this.o.id), filters.resultsTo(this.o.id), filters.resultsTo(this.o.id, 'receipts')], { qos: 1 })
    for (const jobId of this.history.keys()) await this.subscribeJob(jobId)
  }

  private async subscribeJob(jobId: string): Promise<void> {
    const c = this.client
    if (!c) return
    const list = [topics.job(jobId, 'plan'), topics.job(jobId, 'steps')]
    await c.subscribeAsync(list, { qos: 1 })
  }

  /**
   * Makes this device a source of a job's requests: `rateRps` requests a second with generated
   * inputs, from the job's current plan epoch (sending starts once a plan exists).
   */
  async startSource(jobId: string, rateRps: number, inputs?: InputsFn): Promise<Requester> {
    if (!(rateRps > 0)) throw new RangeError(`source rate must be positive, got ${rateRps}`)
    const r = new Requester({
      src: this.o.id,
      jobId,
      chunkBytes: this.runtime.chunkBytes,
      clock: this.runtime.clock,
      publish: this.runtime.publish,
      inputs: inputs ?? ((n, plan) => randomWireInputs(plan.inputs ?? [], n)),
      local: (t) => this.executor.accept(jobId, t),
      maxOutstanding: outstandingCap(rateRps), timeScale: this.runtime.timeScale,
      onError: (m) => this.o.onError?.(m),
    })
    this.requester = r
    if (!this.history.has(jobId)) this.history.set(jobId, { assignments: new Map(), plans: new Map() })
    for (const p of this.history.get(jobId)!.plans.values()) r.setPlan(p)
    await this.subscribeJob(jobId)
    // a frame clock of its own: the first frame at a random phase of the period, as independent
    // cameras run (sources started together at one phase sent every frame at once: two 1.2 MB
    // frames sharing the air took twice their time, where the cost model counts random arrivals)
    const send = () => r.send().catch((err: Error) => this.o.onError?.(`request: ${err.message}`))
    this.sourceTimer = setTimeout(() => {
      send()
      this.sourceTimer = setInterval(send, 1000 / rateRps)
    }, Math.random() * (1000 / rateRps))
    this.tickTimer = setInterval(() => r.tick().catch((err: Error) => this.o.onError?.(`re-send: ${err.message}`)), 250)
    return r
  }

  /** Stops sending new requests; outstanding ones still complete (or are re-sent) until `drainMs` passes. */
  async stopSource(drainMs = 10_000): Promise<Requester | null> {
    if (this.sourceTimer) clearTimeout(this.sourceTimer)
    this.sourceTimer = null
    const r = this.requester
    const until = Date.now() + drainMs
    while (r && r.outstandingCount > 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 50))
    if (this.tickTimer) clearInterval(this.tickTimer)
    this.tickTimer = null
    return r
  }

  /** Leaves cleanly: announces offline (the hub re-plans at once) and disconnects. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    if (this.sourceTimer) clearTimeout(this.sourceTimer)
    if (this.tickTimer) clearInterval(this.tickTimer)
    this.sourceTimer = this.tickTimer = null
    const c = this.client
    this.client = null
    for (const s of this.sessions.values()) await s.release()
    this.sessions.clear()
    if (!c) return
    if (c.connected) await withTimeout(c.publishAsync(topics.device(this.o.id, 'availability'), AVAILABILITY.offline, { qos: 1, retain: true }), 1000).catch(() => undefined)
    // a broker that is gone never acknowledges what is in flight: end at once then
    await withTimeout(c.endAsync(!c.connected), 1000).catch(() => c.end(true))
  }

  /** Drops the connection without a word (the broker sends the last will), as a crash would. */
  crash(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    if (this.sourceTimer) clearTimeout(this.sourceTimer)
    if (this.tickTimer) clearInterval(this.tickTimer)
    this.sourceTimer = this.tickTimer = null
    this.client?.stream.destroy()
    this.client?.end(true)
    this.client = null
    for (const s of this.sessions.values()) s.release().catch(() => undefined)
    this.sessions.clear()
  }

  /** Results or a receipt addressed to this device: its own requests' (a source), or a job's it consumes (counted). */
  private onResults(jobId: string, kind: 'results' | 'receipts', payload: Buffer): void {
    if (this.requester?.jobId === jobId) return kind === 'results' ? this.requester.onResultChunk(payload) : this.requester.onReceipt(payload)
    if (kind !== 'results') return
    let sink = this.consumed.get(jobId)
    if (!sink) {
      if (this.consumed.size >= 16) return
      // the outputs a request carries, from the job's plan when this device follows it (else any one output completes it)
      const outputs = (epoch: number | null) => this.history.get(jobId)?.plans.get(epoch ?? -1)?.outputs ?? null
      this.consumed.set(jobId, (sink = new ResultSink({ clock: this.runtime.clock, outputs, onError: (m) => this.o.onError?.(`job ${jobId}: ${m}`) })))
    }
    sink.onMessage(payload)
  }

  /** Results of jobs this device consumes (not its own requests'), by job. */
  readonly consumed = new Map<string, ResultSink>()

  /** Messages whose handler threw (reported through onError, never fatal). */
  failedMessages = 0

  private onMessage(topic: string, payload: Buffer): void {
    const t = parseTopic(topic)
    if (t?.scope === 'tensors' && t.toDeviceId === this.o.id) return this.isTraining(t.jobId) ? this.training.onChunk(t.jobId, payload) : this.executor.onChunk(t.jobId, payload)
    if (t?.scope === 'job' && t.kind === 'steps') return this.onStep(t.jobId, payload)
    if (t?.scope === 'results' && t.toId === this.o.id) return this.onResults(t.jobId, t.kind, payload)
    if (t?.scope === 'job' && t.kind === 'plan') return this.onPlan(t.jobId, payload)
    if (topic !== topics.device(this.o.id, 'assignment')) return
    const d = decodeCbor(payload)
    if (!d.ok) return this.o.onError?.(`assignment: ${d.error}`)
    const parsed = assignmentSchema.safeParse(d.value)
    if (!parsed.success) return this.o.onError?.(`assignment: ${formatIssues(parsed.error)}`)
    const a = parsed.data
    const prev = this.assignments.get(a.jobId)
    if (prev && prev.epoch > a.epoch) return // a stale epoch (retained, reordered): ignore it
    this.assignments.set(a.jobId, a)
    const h = this.jobHistory(a.jobId)
    h.assignments.set(a.epoch, a)
    trim(h.assignments)
    this.o.onAssignment?.(a)
    this.subscribeJob(a.jobId).catch((err: Error) => this.o.onError?.(`job ${a.jobId}: subscribing: ${err.message}`))
    this.executor.refresh()
    this.training.refresh()
    this.prepare(a)
      .then(() => {
        if ((this.ready.get(a.jobId) ?? 0) < a.epoch) this.ready.set(a.jobId, a.epoch)
        return this.heartbeat()
      })
      .catch((err: Error) => this.o.onError?.(`job ${a.jobId} epoch ${a.epoch}: ${err.message}`))
  }

  private jobHistory(jobId: string): { assignments: Map<number, AssignmentPayload>; plans: Map<number, PlanEpochPayload> } {
    let h = this.history.get(jobId)
    if (!h) this.history.set(jobId, (h = { assignments: new Map(), plans: new Map() }))
    return h
  }

  private onPlan(jobId: string, payload: Buffer): void {
    const d = decodeCbor(payload)
    if (!d.ok) return this.o.onError?.(`plan of ${jobId}: ${d.error}`)
    const parsed = planEpochSchema.safeParse(d.value)
    if (!parsed.success) return this.o.onError?.(`plan of ${jobId}: ${formatIssues(parsed.error)}`)
    const h = this.jobHistory(jobId)
    h.plans.set(parsed.data.epoch, parsed.data)
    trim(h.plans)
    if (this.requester?.jobId === jobId) this.requester.setPlan(parsed.data)
    if (this.trainingSource?.jobId === jobId) this.trainingSource.setPlan(parsed.data)
    this.executor.refresh()
    this.training.refresh()
  }

  private onStep(jobId: string, payload: Buffer): void {
    const d = decodeCbor(payload)
    if (!d.ok) return this.o.onError?.(`steps of ${jobId}: ${d.error}`)
    const parsed = trainingStepSchema.safeParse(d.value)
    if (!parsed.success) return this.o.onError?.(`steps of ${jobId}: ${formatIssues(parsed.error)}`)
    if (this.trainingSource?.jobId === jobId) this.trainingSource.onStep(parsed.data)
    this.training.onStep(jobId, parsed.data)
  }

  /** A stage model's open session (fetched, verified and opened once). */
  private session(model: { sha256: string; bytes: number; chunks: number }): Promise<ort.InferenceSession> {
    const open = this.sessions.get(model.sha256)
    if (open) return Promise.resolve(open)
    let p = this.loading.get(model.sha256)
    if (!p) {
      p = (async () => {
        const bytes = await this.models.get(model)
        let session: ort.InferenceSession
        try {
          session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 })
        } catch (err) {
          throw new DoraError(ErrorCodes.STAGE_MODEL_LOAD, `stage model ${model.sha256} does not load in onnxruntime: ${(err as Error).message}`)
        }
        this.sessions.set(model.sha256, session)
        return session
      })().finally(() => this.loading.delete(model.sha256))
      this.loading.set(model.sha256, p)
    }
    return p
  }

  /** Fetches (or finds in the cache) every stage model of an assignment and opens its session. */
  private async prepare(a: AssignmentPayload): Promise<void> {
    for (const s of a.stages) {
      if (s.backward) {
        await this.trainer(s)
        this.o.onStageReady?.({ jobId: a.jobId, epoch: a.epoch, sha256: s.model!.sha256, inputs: [], outputs: [] })
        continue
      }
      if (!s.model || this.sessions.has(s.model.sha256)) continue
      const session = await this.session(s.model)
      this.o.onStageReady?.({ jobId: a.jobId, epoch: a.epoch, sha256: s.model.sha256, inputs: session.inputNames, outputs: session.outputNames })
    }
  }

  /**
   * An emulated device reports the emulated hardware's load: the share of the time since its last
   * heartbeat its stages kept it busy, in profile time (this host's CPU says nothing about the
   * device it emulates). A real device reports this machine's CPU load.
   */
  private load(nowMs: number): number {
    if (!this.o.profile.emulated) return Math.min(1, os.loadavg()[0]! / os.availableParallelism())
    const busyMs = this.runtime.energy.busyTotalMs
    const last = this.lastLoad
    this.lastLoad = { atMs: nowMs, busyMs }
    if (!last) return 0
    const spanMs = (nowMs - last.atMs) / this.runtime.timeScale
    return spanMs > 0 ? Math.min(1, Math.max(0, (busyMs - last.busyMs) / spanMs)) : 0
  }

  private async heartbeat(): Promise<void> {
    // requests held for inputs or epochs that never came expire even when nothing else arrives
    this.executor.refresh()
    if (!this.client?.connected) return
    const epochs = [...this.ready.values()]
    const now = this.runtime.clock()
    const r = this.requester
    const latencies = r ? r.stats.latenciesMs.slice(this.latencyMark).map((x) => x / this.runtime.timeScale) : []
    this.latencyMark += latencies.length
    // a training source reports its optimizer steps' times (the training job's latency), in profile time
    const ts = this.trainingSource
    const steps = ts ? ts.records.slice(this.stepMark).filter((x) => x.ok).map((x) => x.ms / this.runtime.timeScale) : []
    if (ts) this.stepMark = ts.records.length
    const hb: Heartbeat = {
      v: PROTOCOL_VERSION,
      seq: this.seq++,
      timeMs: Date.now(),
      load: this.load(now),
      freeMemoryBytes: os.freemem(),
      batteryPct: this.o.profile.battery?.levelPct ?? null,
      linkThroughputBps: null,
      queueDepth: this.executor.queueDepth,
      epoch: epochs.length ? Math.max(...epochs) : null,
      stageTimings: this.runtime.timings.take(),
      energyJ: this.runtime.energy.joules(now),
      ...(r && latencies.length ? { requestLatencies: [{ jobId: r.jobId, ...latencyStats(latencies) }] } : {}),
      ...(ts && steps.length ? { requestLatencies: [{ jobId: ts.jobId, ...latencyStats(steps) }] } : {}),
    }
    await this.client.publishAsync(topics.device(this.o.id, 'heartbeat'), encodeCbor(hb), { qos: 0 })
  }
}

function trim<T>(m: Map<number, T>): void {
  const keys = [...m.keys()].sort((a, b) => a - b)
  for (const k of keys.slice(0, Math.max(0, keys.length - EPOCHS_KEPT))) m.delete(k)
}

function latencyStats(ms: number[]): { meanMs: number; p95Ms: number; count: number } {
  const s = meanAndP95(ms)
  return { meanMs: s.mean, p95Ms: s.p95, count: ms.length }
}
