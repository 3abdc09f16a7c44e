/**
 * One configured job in the hub: the service shell around the pure runtime adapter. It runs the
 * adapter (or a baseline's fixed policy) on fleet changes (debounced) and on a node-cron schedule
 * (periodic re-costing), and publishes each new epoch (a join or a leave: the adapter's quick
 * decision first, then its full search in a second run, published only if better): its stage models, the plan on
 * `dora/v1/jobs/{job}/plan` and each device's part on `dora/v1/devices/{id}/assignment` (both
 * retained CBOR; the mapping is epoch-wire.ts). Its parts: measurements.ts (the fleet as
 * measured, drift), energy-ledger.ts, epoch-devices.ts (whom the data plane is open to).
 */
import cron, { type ScheduledTask } from 'node-cron'
import type { Config } from '../config/schema.js'
import type { Logger } from '../log.js'
import type { DeviceRecord } from '../registry/registry.js'
import { INITIAL_STATE, type AdapterState, type PlanEpoch } from '../planner/adapt/adapter.js'
import type { AdaptRequest } from '../planner/adapt/decide.js'
import { WIFI_STANDARDS } from '../planner/network/wifi.js'
import { transportWithChunks } from '../planner/network/transport.js'
import { runtimeMicroBatches } from '../planner/cost.js'
import { jobSources, type Fleet, type Network, type Job } from '../planner/types.js'
import { loadJobModel, plannerJob } from '../scenario/load.js'
import { ModelStore, type StageModelRef } from './model-store.js'
import { encodeCbor } from '../protocol/codec.js'
import { topics } from '../protocol/topics.js'
import type { PlanEpochPayload } from '../protocol/payloads.js'
import { assignmentPayload, nodesOf, planEpochPayload } from './epoch-wire.js'
import { HandoverTracker, trainedStages } from './handover.js'
import { EnergyLedger } from './energy-ledger.js'
import { EpochDevices } from './epoch-devices.js'
import { FleetMeasurements } from './measurements.js'
import { GrantRoundTrips } from './grant-round-trips.js'
import type { GrantsObserved } from './air-grants.js'
import { inHubThread, type Search } from './adapt-worker.js'
import { ReplanGate } from './replan-gate.js'

export type JobConfigEntry = Config['jobs'][number]

export interface JobServiceDeps {
  readonly publish: (topic: string, payload: Buffer) => Promise<void>
  readonly online: () => DeviceRecord[]
  readonly log: Logger
  readonly clock: () => number
  /** Base folder for a model given as a relative file path. */
  readonly baseDir: string
  /** Fleet changes within this window are planned together. */
  readonly debounceMs?: number
  /**
   * Runs the adapter's search (adapt-worker.ts: in a worker thread, off the broker's event loop);
   * absent: in the hub's thread.
   */
  readonly search?: Search
  /** Told of every adapter run: what it did (or `timeout`) and how long it took, s. */
  readonly onAdapt?: (jobId: string, action: string, seconds: number) => void
  /** Stage models go in chunks of this many bytes. */
  readonly chunkBytes?: number
  /** Awaited before an epoch is published (the hub's store reserves its number: a restart continues after it). */
  readonly beforeEpoch?: (epoch: number) => Promise<void>
  /** Told of a report the job refused or weighed down as implausible (hub/plausibility.ts). */
  readonly onImplausible?: (deviceId: string, what: string) => void
  /**
   * Awaited with an epoch's stage models before any assignment names them: a deployment that
   * installs them on the devices by other means (the demo's setup writes them into its emulated
   * devices' model cache, so they are not fetched over the emulated Wi-Fi; hub.ts installModels).
   */
  readonly installModels?: (models: ReadonlyArray<{ readonly sha256: string; readonly bytes: Uint8Array }>) => Promise<void>
  /** What the hub's desk saw of a device's grants (air-grants.ts); absent: grant round trips reported are refused. */
  readonly grantsObserved?: (deviceId: string) => GrantsObserved
}

export class JobService {
  private job: Job | null = null
  private models: ModelStore | null = null
  private state: AdapterState = INITIAL_STATE
  private task: ScheduledTask | null = null
  /** Fleet changes merged into runs of the adapter, one at a time (replan-gate.ts). */
  private readonly gate: ReplanGate
  /** Gives up a search in flight when the job stops. */
  private readonly abort = new AbortController()
  /** Bumped when the state is reset (goal, leadership) while a search runs: its decision is then stale. */
  private generation = 0
  private readonly open = new EpochDevices()
  /** A training job's stages now and in the epoch before: who hands its state over to this epoch, and its bytes (handover.ts). */
  readonly handover = new HandoverTracker()
  private leader = true
  /** The newest epoch of this job seen published (by this hub or another). */
  private observedEpoch = 0
  private stopped = false
  /** What the adapter last did and why (for reports). */
  lastDecision: { action: string; reason: string } | null = null
  /**
   * Why the job is not running, when it is not: the last epoch named a device that left and no
   * plan runs on the devices online, so its retained plan was cleared (null: running, or not yet planned).
   */
  notRunning: string | null = null
  /** The last event-to-publication time, ms (for reports). */
  lastReactionMs: number | null = null
  private readonly energy = new EnergyLedger()
  private readonly measurements: FleetMeasurements

  constructor(private readonly config: JobConfigEntry, private readonly deps: JobServiceDeps) {
    this.measurements = new FleetMeasurements({
      jobId: config.id, batteryMinPct: config.batteryMinPct, driftThreshold: config.driftThreshold,
      standard: WIFI_STANDARDS[config.network.standard], availableAirtime: config.network.availableAirtime, onImplausible: deps.onImplausible,
      grants: new GrantRoundTrips({ driftThreshold: config.driftThreshold, observed: deps.grantsObserved ?? null, onImplausible: deps.onImplausible }),
    })
    this.gate = new ReplanGate({
      run: (why, eventMs) => this.run(why, eventMs), debounceMs: deps.debounceMs ?? 100, clock: deps.clock,
      failed: (err) => deps.log.error({ jobId: config.id, err: err.message }, 'adapting the job failed; the current epoch stays'),
    })
  }

  get id(): string {
    return this.config.id
  }

  /**
   * The devices whose data-plane topics are open in the ACL: those the last few epochs give
   * stages (devices keep their last 4 epochs, so old requests finish on old stages) and the
   * job's source devices.
   */
  devices(): ReadonlySet<string> {
    return this.open.open(this.job ? jobSources(this.job).flatMap((x) => (x.device ? [x.device] : [])) : [])
  }

  /** Who hands a training job's state over to this epoch: one replica per stage of the one before (handover.ts); all its devices when not known. */
  previousDevices(): ReadonlySet<string> {
    return this.handover.senders() ?? this.open.before
  }

  /** The parameters a device's handover must carry (checkpoints.ts; none when another replica sends); undefined: not known (another hub's epoch). */
  previousParams(deviceId: string): ReadonlySet<string> | undefined {
    return this.handover.params(deviceId)
  }

  /** The shape of a trainable parameter of a training job's model (undefined: not training, or no such parameter). */
  paramDims(name: string): readonly number[] | undefined {
    return this.job?.training ? this.models?.paramDims(name) : undefined
  }

  get epoch(): PlanEpoch | null {
    return this.state.current
  }

  /**
   * Scale-out: whether this hub holds the job's planning lease. A standby hub plans nothing; it
   * follows the epochs the holder publishes (observe) and takes over from the last of them.
   */
  setLeader(held: boolean): void {
    const was = this.leader
    this.leader = held
    if (held && !was) {
      this.state = INITIAL_STATE
      this.generation++
      this.fleetChanged('this hub took over the job\'s planning')
    }
  }

  get isLeader(): boolean {
    return this.leader
  }

  /**
   * The last epoch this job published before the hub restarted: the next is numbered after it
   * (devices ignore epochs older than the newest they saw).
   */
  resumeAfter(epoch: number): void {
    if (epoch > this.observedEpoch) this.observedEpoch = epoch
  }

  /** A plan epoch of this job published by any hub (retained plan topic). */
  observe(plan: PlanEpochPayload): void {
    if (plan.epoch <= this.observedEpoch) return
    this.observedEpoch = plan.epoch
    if (this.leader) return
    // standby: open the data plane to the epoch's devices, as the holder's ACL does
    this.open.advance(plan.parts.flatMap((p) => p.stages.flatMap((s) => s.devices)))
    this.handover.advance(plan.epoch, null, plan.departed ?? [])
  }

  /** The job as planned (its goal, rate and bounds), once started. */
  get plannerJob(): Job | null {
    return this.job
  }

  get model(): string {
    return this.config.model
  }

  /**
   * Changes the optimisation goal (from a dashboard): the job is planned from scratch for it.
   * Returns what was wrong with the request, or null.
   */
  setGoal(goal: string): string | null {
    if (goal !== 'latency' && goal !== 'energy' && goal !== 'throughput') return `goal must be latency, energy or throughput, not ${JSON.stringify(goal)}`
    if (!this.job) return 'the job is not started'
    if (this.job.goal === goal) return null
    this.job = { ...this.job, goal }
    this.state = { ...INITIAL_STATE, current: this.state.current }
    this.generation++
    this.fleetChanged(`goal set to ${goal}`)
    return null
  }

  /** The grant round trip the devices measured, as the hub would plan with it now (ms; undefined: the model's). */
  get measuredGrantRoundTripMs(): number | undefined {
    return this.measurements.grantRoundTripMs()
  }

  /**
   * What the sources measured over the last `windowMs` (request-weighted mean latency, the
   * highest p95 reported, requests per second), or null when no source reported.
   */
  measuredFigures(nowMs: number, windowMs = 30_000): { latencyMs: number; p95Ms: number; throughputRps: number } | null {
    return this.measurements.figures(nowMs, windowMs)
  }

  /**
   * Latencies measured by a request source on the hub itself (src/hub/hub-source.ts), for the
   * dashboards' measured figures, as a device source's heartbeat reports them.
   */
  sourceReported(r: { count: number; meanMs: number; p95Ms: number }): void {
    this.measurements.sourceReported(r, this.deps.clock())
  }

  async start(): Promise<void> {
    const { model, onnx } = await loadJobModel(this.config.model, this.deps.baseDir, this.config.batch, undefined, this.config.compression?.maxOutputError)
    this.models = new ModelStore(onnx, this.deps.chunkBytes ?? 256 * 1024)
    this.job = plannerJob(this.config, model)
    this.energy.start(this.deps.clock())
    this.deps.log.info({ jobId: this.id, model: model.name, layers: model.layers.length }, 'job ready')
    this.task = cron.schedule(this.config.recostCron, () => this.fleetChanged('periodic re-costing'))
    this.fleetChanged('hub started')
  }

  async stop(): Promise<void> {
    this.stopped = true
    // a search in flight is given up (its worker stopped), not waited for
    this.abort.abort()
    await this.task?.destroy()
    this.task = null
    await this.gate.stop()
  }

  /**
   * A registry event or a tick: plan again shortly (changes close together are merged, and those
   * during a search go into one run after it, on the newest state).
   */
  fleetChanged(why: string): void {
    if (this.stopped || !this.job) return
    this.gate.changed(why)
  }

  private async run(why: string, eventMs: number): Promise<void> {
    if (this.stopped || !this.job || !this.leader) return
    const fleet = this.measurements.fleetToPlan(this.deps.online())
    const rtt = this.measurements.grantRoundTripToPlan()
    const network = jobNetwork(this.config, this.deps.chunkBytes, rtt)
    if (!fleet.devices.size) {
      this.deps.log.info({ jobId: this.id }, 'no device online; nothing to plan')
      if (this.state.current) await this.halt(`${why}: no device online`)
      return
    }
    const measured = this.measurements.takeMeasuredLatency()
    const t0 = performance.now()
    const job = this.job
    const generation = this.generation
    // plans for what the devices run: an inference job's requests one sample at a time (no batching)
    const microBatches = runtimeMicroBatches(job)
    const request: AdaptRequest = {
      planner: this.config.planner, state: this.state, job, fleet, network, nowMs: this.deps.clock(), why, quick: true,
      ...(measured !== undefined ? { measuredLatencyMs: measured } : {}), ...(microBatches ? { microBatches } : {}),
    }
    const outcome = await (this.deps.search ?? inHubThread)(request, this.abort.signal)
    if (outcome.kind === 'aborted') return
    if (outcome.kind === 'timeout') return this.timedOut(why, outcome.budgetMs, (performance.now() - t0) / 1000)
    // the goal or the leadership changed during the search: a run on the new state follows
    if (this.stopped || !this.leader || generation !== this.generation) return
    const decision = outcome.decision
    this.deps.onAdapt?.(this.id, decision.action, (performance.now() - t0) / 1000)
    // a hub that took over planning continues the epochs it saw published (devices ignore older ones)
    const epoch = decision.epoch && decision.epoch.epoch <= this.observedEpoch ? { ...decision.epoch, epoch: this.observedEpoch + 1 } : decision.epoch
    const outgoing = this.state.current
    if (epoch) this.energy.count(this.deps.clock(), outgoing, job.rateRps)
    this.state = epoch ? { ...decision.state, current: epoch } : decision.state
    this.lastDecision = { action: decision.action, reason: decision.reason }
    this.deps.log.info({ jobId: this.id, action: decision.action, reason: decision.reason }, 'job adapted')
    // a quick decision (the kept plans edited for a join or a leave) goes out first; the full search runs next
    if (decision.needsFull) this.fleetChanged('the full search after a quick decision')
    if (!epoch) {
      // nothing new to run: an epoch that names a device that left must not stay (retained or running)
      const kept = this.state.current
      const gone = kept ? epochDeviceIds(kept).filter((id) => !fleet.devices.has(id)) : []
      if (outgoing && (!kept || gone.length)) await this.halt(decision.reason, outgoing)
      return
    }
    this.notRunning = null
    this.energy.epochBegun(outgoing)
    await this.deps.beforeEpoch?.(epoch.epoch)
    await this.publishEpoch(epoch, fleet)
    this.lastReactionMs = this.deps.clock() - eventMs
  }

  /** The search ran past its budget and was stopped: the job keeps its epoch, and says so. */
  private timedOut(why: string, budgetMs: number, seconds: number): void {
    this.deps.onAdapt?.(this.id, 'timeout', seconds)
    const kept = this.state.current ? `the current epoch (${this.state.current.epoch}) stays` : 'the job has no epoch yet'
    this.lastDecision = { action: 'timeout', reason: `${why}: the adapter's search ran past its time budget of ${budgetMs} ms and was stopped; ${kept}` }
    this.deps.log.warn({ jobId: this.id, budgetMs, epoch: this.state.current?.epoch ?? null }, `adapter search stopped at its time budget; ${kept}`)
  }

  /**
   * No plan runs on the devices online and the running epoch names a device that left: the job
   * stops. Its retained plan epoch is cleared (an empty retained message, as a cancelled job's:
   * sources stop sending and fail what they hold as lost, a device that connects later finds no
   * epoch naming the departed device), the predicted energy stops, and the status says why.
   */
  private async halt(reason: string, running: PlanEpoch | null = this.state.current): Promise<void> {
    if (running) this.energy.count(this.deps.clock(), running, this.job?.rateRps ?? 0)
    // the next epoch is numbered after this one (devices ignore epochs older than the newest they saw)
    if (running && running.epoch > this.observedEpoch) this.observedEpoch = running.epoch
    this.state = { ...this.state, current: null, objective: null }
    this.notRunning = reason
    this.lastDecision = { action: 'halt', reason: `not running: ${reason}` }
    this.deps.log.warn({ jobId: this.id, reason }, 'job not running: no plan runs on the devices online; its plan epoch is cleared')
    await this.deps.publish(topics.job(this.id, 'plan'), Buffer.alloc(0))
  }

  /**
   * The energy the plans predicted for the time since the last call (energy per request x the
   * job's rate x time in each epoch), and the epochs begun; resets the ledger. Predicted, not
   * measured: devices do not report energy yet.
   */
  takeEnergy(nowMs: number): { jobId: string; predictedJ: number; epochs: number; fromMs: number } {
    this.energy.count(nowMs, this.state.current, this.job?.rateRps ?? 0)
    return { jobId: this.id, ...this.energy.take(nowMs) }
  }

  /**
   * A heartbeat's stage timings and source latencies (measurements.ts): a drift beyond
   * `driftThreshold` from what the epoch was planned with re-runs the adapter.
   */
  measured(d: DeviceRecord): void {
    const epoch = this.state.current
    if (!epoch || !this.job || !d.lastHeartbeat) return
    for (const why of this.measurements.heartbeat(d, epoch, this.job, this.deps.clock())) this.fleetChanged(why)
  }

  private async publishEpoch(e: PlanEpoch, fleet: Fleet): Promise<void> {
    const job = this.job!
    const models = this.models!
    const departed = [...this.open.assigned].filter((id) => !fleet.devices.has(id))
    const plan = planEpochPayload({ jobId: this.id, job, epoch: e, fleet, io: models.io(), stageIo: (n) => models.stage(n), departed })
    await this.deps.publish(topics.job(this.id, 'plan'), encodeCbor(plan))
    // the stage models of this epoch, published (once each) before any assignment names them
    const refs = new Map<string, StageModelRef>()
    const training = new Map<string, { backward: StageModelRef; params: string[] }>()
    for (const a of Object.values(e.assignments).flat()) {
      const n = nodesOf(job, a.layers)
      if (!n || refs.has(n.join('-'))) continue
      if (job.training) {
        // a training stage: its forward model (starting parameters, stash outputs) and backward model
        const t = models.trainingStage(n)
        refs.set(n.join('-'), await models.publishRef(t.forward, this.deps.publish))
        training.set(n.join('-'), { backward: await models.publishRef(t.backward, this.deps.publish), params: [...t.params] })
      } else refs.set(n.join('-'), await models.publish(n, this.deps.publish))
    }
    const h = this.handover.advance(e.epoch, job.training ? trainedStages(job, e, training) : null, departed, (n) => models.paramDims(n))
    if (h) this.deps.log.info({ jobId: this.id, epoch: e.epoch, senders: h.senders, toHubBytes: h.toHubBytes, fromHubBytesAtMost: h.fromHubBytes, allReplicasBytes: h.allReplicasBytes }, 'training state handover: each stage from one replica')
    const installing = [...refs.values(), ...[...training.values()].map((t) => t.backward)]
    await this.deps.installModels?.(installing.map((r) => ({ sha256: r.sha256, bytes: models.bytesOf(r.sha256) })))
    const now = Object.keys(e.assignments)
    // open the new devices' topics before they learn of their stages
    const before = this.open.advance(now)
    // devices that held stages before and hold none now get an empty assignment
    for (const id of new Set([...now, ...before])) {
      const body = assignmentPayload({ jobId: this.id, job, epoch: e, deviceId: id, refs, training })
      await this.deps.publish(topics.device(id, 'assignment'), encodeCbor(body))
    }
  }
}

/** Every device an epoch names: its stages' and its assignments'. */
function epochDeviceIds(e: PlanEpoch): string[] {
  return [...new Set([...e.parts.flatMap((p) => p.plan.stages.flatMap((s) => s.devices)), ...Object.keys(e.assignments)])]
}

/**
 * The network a job is planned on: its Wi-Fi, the air it gets, the hub's tensor chunk size
 * (`tensors.chunkBytes`: each chunk is one message, relayed and acknowledged, so the size sets
 * what framing and relaying cost; undefined: the default 256 KiB) and the grants' measured round
 * trip (undefined: the model's).
 */
export function jobNetwork(config: JobConfigEntry, chunkBytes: number | undefined, grantRoundTripMs: number | undefined): Network {
  return {
    standard: WIFI_STANDARDS[config.network.standard]!, coordination: 'scheduled', availableAirtime: config.network.availableAirtime,
    transport: transportWithChunks(chunkBytes),
    ...(grantRoundTripMs !== undefined ? { grantRoundTripMs } : {}),
  }
}
