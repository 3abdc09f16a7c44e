/**
 * The device agent (issue 6): joins a hub's broker as one device, publishes its caps (retained)
 * and heartbeats, sets its last will, and follows the plan: it keeps the assignments the hub
 * publishes for it (the last few epochs, so old requests finish on old stages, job-epochs.ts);
 * for each stage it fetches the stage model (model-cache.ts: chunks over MQTT, sha256, disk
 * cache) and opens it ahead of the epoch (stage-models.ts), and reports in its heartbeat the
 * newest epoch it is ready for. Requests run in executor.ts, training steps in training.ts, both
 * on one device runtime (runtime.ts); a device that is a job's source (a camera) also sends
 * requests (src/runtime/requester.ts) and reports their latency in its heartbeats (an empty plan:
 * the job stopped, its requests lost). It talks MQTT through Dora's shared client (src/mqtt/client.ts):
 * bounded publishes in flight, a timeout on every publish, subscriptions restored after reconnecting.
 *
 * Its caps come either from a profile (an emulated device: a scenario file's device, labelled
 * emulated in its caps) or from this machine (the onnxruntime micro-benchmark, memory, the power
 * figures given).
 */
import os from 'node:os'
import { join } from 'node:path'
import type * as ort from 'onnxruntime-node'
import { ModelCache } from './model-cache.js'
import { StageExecutor, type ExecutorDeps } from './executor.js'
import { TensorRouter } from './tensor-router.js'
import { TensorIntake } from './intake.js'
import { TrainingExecutor } from './training.js'
import { TrainingSource } from './training-source.js'
import { DeviceRuntime } from './runtime.js'
import { JobEpochs } from './job-epochs.js'
import { StageModels, type StageReady } from './stage-models.js'
import { Heartbeats } from './heartbeat.js'
import { capsFromProfile } from './caps.js'
import { deviceClientOptions, withTimeout } from './connection.js'
import { Requester, outstandingCap, type InputsFn } from '../src/runtime/requester.js'
import { randomWireInputs } from '../src/runtime/inputs.js'
import { ResultSink } from '../src/runtime/result-sink.js'
import { DoraClient } from '../src/mqtt/client.js'
import { decodeCbor, encodeCbor } from '../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../src/protocol/cbor-budgets.js'
import { AVAILABILITY, topics, filters, parseTopic } from '../src/protocol/topics.js'
import { assignmentSchema, formatIssues, planEpochSchema, trainingStepSchema, type AssignmentPayload } from '../src/protocol/payloads.js'
import { ChunkBatcher, batcherOptions } from '../src/runtime/chunk-batcher.js'
import type { DeviceProfile } from '../src/shared/device-profile.js'
import { DoraError, ErrorCodes } from '../src/errors.js'
import { deviceAirGrants, type AirGrants } from '../src/runtime/air-grants.js'
import { TransferGate } from './transfer-gate.js'
import { PhasedCapture } from '../src/runtime/turn-clock.js'

export { capsFromProfile } from './caps.js'

export interface AgentOptions {
  readonly url: string
  readonly id: string
  readonly username?: string
  readonly password?: string
  /** CA certificate(s) to trust for an mqtts:// broker with a private certificate authority. */
  readonly ca?: Buffer
  /** False: training stages that move here start from their model's parameters (comparison runs); default true. */
  readonly carryTrainingState?: boolean
  readonly profile: DeviceProfile
  readonly heartbeatMs?: number
  /** Called with every accepted assignment, and with every rejected one's reason. */
  readonly onAssignment?: (a: AssignmentPayload) => void
  /** Where stage models are cached (default: ~/.cache/dora/models). */
  readonly cacheDir?: string
  /** Called when a stage's model is verified and its onnxruntime session open. */
  readonly onStageReady?: (x: StageReady) => void
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
  /** Emulation clock for hosts slower than the profiles: profile times (compute, slots) are stretched by it, reported times divided by it. */
  readonly timeScale?: number
  /** Most publishes awaiting acknowledgement at once (default 64; src/mqtt/client.ts). */
  readonly maxInflight?: number
  /** A publish not acknowledged within this fails (default 60 s, stretched by timeScale: a slow emulated link moves big tensors slowly). */
  readonly publishTimeoutMs?: number
}

export class DeviceAgent {
  private client: DoraClient | null = null
  private timer: NodeJS.Timeout | null = null
  private readonly epochs = new JobEpochs()
  private readonly stages: StageModels
  private readonly heartbeats: Heartbeats
  readonly models: ModelCache
  /** This device's clock, publish (energy-counted), dilation, energy account and stage timings. */
  readonly runtime: DeviceRuntime
  readonly executor: StageExecutor
  readonly training: TrainingExecutor
  /** Every job's tensor chunks, reassembled once; whole tensors go to the executor of their job's kind (held while the job is not known yet). */
  private readonly intake: TensorIntake
  readonly incoming: TensorRouter
  /** This device's training source, when it holds a training job's data (startTraining). */
  trainingSource: TrainingSource | null = null
  /** This device's request source, when it is one (startSource). */
  requester: Requester | null = null
  private sourceTimer: NodeJS.Timeout | null = null
  private tickTimer: NodeJS.Timeout | null = null
  /** Messages whose handler threw (reported through onError, never fatal). */
  failedMessages = 0
  /** Results of jobs this device consumes (not its own requests'), by job. */
  readonly consumed = new Map<string, ResultSink>()

  /** Hub-granted air (topics.md § Air grants), for plans whose transfers go by grants. */
  readonly air: AirGrants
  /** How this device's transfers go, in each plan's transfer mode (transfer-gate.ts; one for inference and training, sharing slots). */
  readonly transfers: TransferGate

  /** Every job message this device sends: small tensor chunks batch per topic under load. */
  private readonly tensorOut: ChunkBatcher

  constructor(private readonly o: AgentOptions) {
    this.tensorOut = new ChunkBatcher(async (topic, payload) => this.connected().publish(topic, payload, { qos: 1 }), batcherOptions(o.chunkBytes ?? 256 * 1024))
    this.models = new ModelCache(o.cacheDir ?? join(os.homedir(), '.cache', 'dora', 'models'), () => this.client, 60_000, (m) => o.onError?.(m))
    this.stages = new StageModels(this.models)
    this.runtime = new DeviceRuntime({
      id: o.id,
      profile: o.profile,
      dilate: o.dilate ?? o.profile.emulated,
      timeScale: o.timeScale ?? 1,
      chunkBytes: o.chunkBytes ?? 256 * 1024,
      send: async (topic, payload) => {
        this.connected()
        await this.tensorOut.send(topic, payload)
      },
      onError: (m) => this.o.onError?.(m),
    })
    this.heartbeats = new Heartbeats(this.runtime)
    this.air = deviceAirGrants(o.id, o.profile.linkRateBps, this.runtime, async (topic, payload, qos) => void (await this.client?.publish(topic, payload, { qos })))
    const epochOf = { assignment: (jobId: string, epoch: number) => this.epochs.assignment(jobId, epoch), plan: (jobId: string, epoch: number) => this.epochs.plan(jobId, epoch) }
    this.transfers = new TransferGate({ coordination: o.coordination ?? 'slots', air: this.air, clock: this.runtime.clock, timeScale: this.runtime.timeScale })
    this.executor = new StageExecutor({
      runtime: this.runtime, coordination: o.coordination ?? 'slots', air: this.air, transfers: this.transfers,
      reassemblyTimeoutMs: o.reassemblyTimeoutMs ?? 30_000,
      ...(o.maxHeld ? { maxHeld: o.maxHeld } : {}),
      session: (model) => this.stages.session(model),
      ...epochOf,
      ...(o.trace ? { trace: o.trace } : {}),
    })
    this.training = new TrainingExecutor({ runtime: this.runtime, reassemblyTimeoutMs: o.reassemblyTimeoutMs ?? 60_000, ...epochOf, trainer: (stage) => this.stages.trainer(stage), carryState: o.carryTrainingState ?? true, transfers: this.transfers })
    this.intake = new TensorIntake({ id: o.id, timeoutMs: o.reassemblyTimeoutMs ?? 60_000, maxTensorBytes: 1024 * 1024 * 1024, maxPendingBytes: 2 * 1024 * 1024 * 1024, onError: this.runtime.onError })
    this.incoming = new TensorRouter({ kindOf: (jobId) => this.epochs.kindOf(jobId), training: this.training, inference: this.executor, timeoutMs: o.reassemblyTimeoutMs ?? 60_000, clock: this.runtime.clock, onError: this.runtime.onError, ...(o.maxHeld ? { maxTensors: o.maxHeld.tensors, maxBytes: o.maxHeld.bytes } : {}) })
  }

  /** The latest assignment per job. */
  get assignments(): ReadonlyMap<string, AssignmentPayload> {
    return this.epochs.latest
  }

  /** Open onnxruntime sessions of stage models, by sha256. */
  get sessions(): ReadonlyMap<string, ort.InferenceSession> {
    return this.stages.sessions
  }

  private connected(): DoraClient {
    if (!this.client) throw new DoraError(ErrorCodes.NOT_CONNECTED, 'not connected')
    return this.client
  }

  /**
   * Makes this device the source of a training job: optimizer steps one after another on the
   * job's newest plan (see training-source.ts), until stopTraining.
   */
  async startTraining(jobId: string, o: { minStepTimeoutMs?: number } = {}): Promise<TrainingSource> {
    const rt = this.runtime
    const src = new TrainingSource({
      ...o,
      src: this.o.id,
      jobId,
      chunkBytes: rt.chunkBytes,
      timeScale: rt.timeScale,
      clock: rt.clock,
      publish: rt.publish,
      local: (t) => this.training.accept(jobId, t),
      onError: (m) => this.o.onError?.(m),
      sendIn: (x, send) => this.transfers.send({ ...x, jobId, assignment: this.epochs.assignment(jobId, x.plan.epoch) }, send),
    })
    this.trainingSource = src
    this.epochs.follow(jobId)
    for (const p of this.epochs.plans(jobId)) src.setPlan(p)
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
    const client = new DoraClient(deviceClientOptions(this.o, this.runtime.timeScale, {
      // a message that makes a handler throw is reported and counted, never fatal
      onHandlerError: (topic, err) => {
        this.failedMessages++
        this.o.onError?.(`message on ${topic} failed: ${err.message}`)
      },
      onOutage: (m) => this.o.onError?.(m),
      // every reconnection rejoins: a restarted hub or broker may have lost every retained message
      // (caps, availability), and the last will may have left `offline` retained; the client
      // restores the subscriptions first
      onReconnect: () => void this.announce().then(() => this.heartbeat()).catch((err: Error) => this.o.onError?.(`rejoining: ${err.message}`)),
    }))
    this.client = client
    try {
      await client.start()
    } catch (err) {
      this.client = null
      throw err
    }
    // everything addressed to this device, of any job, from the start: a source may send on a new
    // epoch the moment it activates, before this device has read its assignment
    // and the results (or receipts) addressed to it: as a job's consumer, or a source that asks for its results
    await client.subscribe([topics.device(id, 'assignment'), topics.device(id, 'grant'), filters.resultsTo(id), filters.resultsTo(id, 'receipts'), filters.checkpointsToDevice(id), filters.restoresToDevice(id)], this.onMessage)
    await client.subscribe(filters.tensorsToDevice(id), this.onMessage, { transient: true }) // chunks copied into tensors before onMessage returns: src/mqtt/lent-payloads.ts
    for (const jobId of this.epochs.jobs()) await this.subscribeJob(jobId)
    await this.announce()
    this.timer = setInterval(() => this.heartbeat().catch((err: Error) => this.o.onError?.(`heartbeat: ${err.message}`)), this.o.heartbeatMs ?? 5000)
    await this.heartbeat()
  }

  /** Caps, then `online`, both retained: what the hub builds its registry from. */
  private async announce(): Promise<void> {
    const c = this.client
    if (!c) return
    await c.publish(topics.device(this.o.id, 'caps'), encodeCbor(capsFromProfile(this.o.profile)), { qos: 1, retain: true })
    await c.publish(topics.device(this.o.id, 'availability'), AVAILABILITY.online, { qos: 1, retain: true })
  }

  private async subscribeJob(jobId: string): Promise<void> {
    const c = this.client
    if (!c) return
    const list = [topics.job(jobId, 'plan'), topics.job(jobId, 'steps')]
    // in one SUBSCRIBE: a device that has a job's plan also hears its steps
    await c.subscribe(list, this.onMessage)
  }

  /**
   * Makes this device a source of a job's requests: `rateRps` requests a second with generated
   * inputs, from the job's current plan epoch (sending starts once a plan exists).
   */
  async startSource(jobId: string, rateRps: number, inputs?: InputsFn): Promise<Requester> {
    if (!(rateRps > 0)) throw new RangeError(`source rate must be positive, got ${rateRps}`)
    const rt = this.runtime
    const r = new Requester({
      src: this.o.id,
      jobId,
      chunkBytes: rt.chunkBytes,
      clock: rt.clock,
      publish: rt.publish,
      inputs: inputs ?? ((n, plan) => randomWireInputs(plan.inputs ?? [], n)),
      local: (t) => this.executor.accept(jobId, t),
      maxOutstanding: outstandingCap(rateRps), timeScale: rt.timeScale,
      onError: (m) => this.o.onError?.(m),
      ...(this.o.coordination !== 'none' ? { air: this.air } : {}),
    })
    this.requester = r
    this.epochs.follow(jobId)
    for (const p of this.epochs.plans(jobId)) r.setPlan(p)
    await this.subscribeJob(jobId)
    // with slots, a frame is captured at this source's next turn (runtime/turn-clock.ts)
    const phase = this.o.coordination === 'none' ? null : new PhasedCapture(this.o.id, rt.timeScale)
    const send = () => this.sourceTimer && r.send().catch((err: Error) => this.o.onError?.(`request: ${err.message}`))
    const capture = () => setTimeout(send, phase?.delayMs(r.current(), rt.clock()) ?? 0)
    // its own frame clock, at a random phase as independent cameras run (started together, cameras sent every frame at once)
    this.sourceTimer = setTimeout(() => {
      capture()
      this.sourceTimer = setInterval(capture, 1000 / rateRps)
    }, Math.random() * (1000 / rateRps))
    this.tickTimer = setInterval(() => r.tick().catch((err: Error) => this.o.onError?.(`re-send: ${err.message}`)), 250)
    return r
  }

  /** Stops sending new requests; outstanding ones still complete (or are re-sent) until `drainMs` passes. */
  async stopSource(drainMs = 10_000): Promise<Requester | null> {
    if (this.sourceTimer) clearInterval(this.sourceTimer)
    this.sourceTimer = null
    const r = this.requester
    const until = Date.now() + drainMs
    while (r && r.outstandingCount > 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 50))
    if (this.tickTimer) clearInterval(this.tickTimer)
    this.tickTimer = null
    return r
  }

  private stopTimers(): void {
    for (const t of [this.timer, this.sourceTimer, this.tickTimer]) if (t) clearInterval(t)
    this.timer = this.sourceTimer = this.tickTimer = null
    this.air.stop()
  }

  /** Leaves cleanly: announces offline (the hub re-plans at once) and disconnects. */
  async stop(): Promise<void> {
    this.stopTimers()
    const c = this.client
    this.client = null
    await this.stages.release()
    if (!c) return
    if (c.connected) await withTimeout(c.publish(topics.device(this.o.id, 'availability'), AVAILABILITY.offline, { qos: 1, retain: true }), 1000).catch(() => undefined)
    // a broker that is gone never acknowledges what is in flight: the client ends at once then, within 1 s at most
    await c.stop()
  }

  /** Drops the connection without a word (the broker sends the last will), as a crash would. */
  crash(): void {
    this.stopTimers()
    this.client?.drop()
    this.client = null
    void this.stages.release(false)
  }

  /** Every message this device subscribes to. */
  private readonly onMessage = (topic: string, payload: Buffer): void => {
    const t = parseTopic(topic)
    if (t?.scope === 'tensors' && t.toDeviceId === this.o.id) return this.runtime.receive(this.intake, t.jobId, payload, this.incoming)
    if (t?.scope === 'job' && t.kind === 'steps') return this.onStep(t.jobId, payload)
    if (t?.scope === 'results' && t.toId === this.o.id) return this.onResults(t.jobId, t.kind, payload)
    if (t?.scope === 'state' && t.toDeviceId === this.o.id) return t.kind === 'checkpoint' ? this.training.state.onCheckpoint(t.jobId, payload) : this.training.state.onAnswer(t.jobId, payload)
    if (t?.scope === 'job' && t.kind === 'plan') return this.onPlan(t.jobId, payload)
    if (topic === topics.device(this.o.id, 'grant')) return this.air.onGrant(payload)
    if (topic === topics.device(this.o.id, 'assignment')) this.onAssignment(payload)
  }

  /** Results or a receipt addressed to this device: its own requests' (a source), or a job's it consumes (counted). */
  private onResults(jobId: string, kind: 'results' | 'receipts', payload: Buffer): void {
    if (this.requester?.jobId === jobId) return kind === 'results' ? this.requester.onResultChunk(payload) : this.requester.onReceipt(payload)
    if (kind !== 'results') return
    let sink = this.consumed.get(jobId)
    if (!sink) {
      if (this.consumed.size >= 16) return
      // the outputs a request carries, from the job's plan when this device follows it (else any one output completes it)
      const outputs = (epoch: number | null) => this.epochs.plan(jobId, epoch ?? -1)?.outputs ?? null
      this.consumed.set(jobId, (sink = new ResultSink({ clock: this.runtime.clock, outputs, onError: (m) => this.o.onError?.(`job ${jobId}: ${m}`) })))
    }
    sink.onMessage(payload)
  }

  private onAssignment(payload: Buffer): void {
    const d = decodeCbor(payload, CBOR_BUDGETS.assignment)
    if (!d.ok) return this.o.onError?.(`assignment: ${d.error}`)
    const parsed = assignmentSchema.safeParse(d.value)
    if (!parsed.success) return this.o.onError?.(`assignment: ${formatIssues(parsed.error)}`)
    const a = parsed.data
    if (!this.epochs.assign(a)) return // a stale epoch (retained, reordered): ignore it
    this.o.onAssignment?.(a)
    this.subscribeJob(a.jobId).catch((err: Error) => this.o.onError?.(`job ${a.jobId}: subscribing: ${err.message}`))
    this.refreshEpochs()
    this.stages.prepare(a, this.o.onStageReady)
      .then(() => {
        this.epochs.markReady(a.jobId, a.epoch)
        return this.heartbeat()
      })
      .catch((err: Error) => this.o.onError?.(`job ${a.jobId} epoch ${a.epoch}: ${err.message}`))
  }

  /** A plan or an assignment came: what the executors and the router hold for it may go on. */
  private refreshEpochs(): void {
    this.executor.refresh()
    this.training.refresh()
    this.incoming.release()
  }

  private onPlan(jobId: string, payload: Buffer): void {
    if (payload.length === 0) return this.requester?.jobId === jobId ? this.requester.halt() : undefined
    const d = decodeCbor(payload, CBOR_BUDGETS.plan)
    if (!d.ok) return this.o.onError?.(`plan of ${jobId}: ${d.error}`)
    const parsed = planEpochSchema.safeParse(d.value)
    if (!parsed.success) return this.o.onError?.(`plan of ${jobId}: ${formatIssues(parsed.error)}`)
    this.epochs.addPlan(jobId, parsed.data)
    if (this.requester?.jobId === jobId) this.requester.setPlan(parsed.data)
    if (this.trainingSource?.jobId === jobId) this.trainingSource.setPlan(parsed.data)
    this.refreshEpochs()
  }

  private onStep(jobId: string, payload: Buffer): void {
    const d = decodeCbor(payload, CBOR_BUDGETS.trainingStep)
    if (!d.ok) return this.o.onError?.(`steps of ${jobId}: ${d.error}`)
    const parsed = trainingStepSchema.safeParse(d.value)
    if (!parsed.success) return this.o.onError?.(`steps of ${jobId}: ${formatIssues(parsed.error)}`)
    if (this.trainingSource?.jobId === jobId) this.trainingSource.onStep(parsed.data)
    this.training.onStep(jobId, parsed.data)
  }

  private async heartbeat(): Promise<void> {
    // requests held for inputs or epochs that never came expire even when nothing else arrives
    this.executor.refresh()
    this.incoming.sweep()
    const c = this.client
    if (!c?.connected) return
    const hb = this.heartbeats.next({ queueDepth: this.executor.queueDepth, epoch: this.epochs.newestReady(), requester: this.requester, trainingSource: this.trainingSource, air: this.air })
    await c.publish(topics.device(this.o.id, 'heartbeat'), encodeCbor(hb), { qos: 0 })
  }
}
