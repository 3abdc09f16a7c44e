/**
 * One configured job in the hub: the service shell around the pure runtime adapter. It turns the
 * registry's online devices into planner profiles, runs the adapter on fleet changes (debounced)
 * and on a node-cron schedule (periodic re-costing), and publishes each new epoch: the plan on
 * `dora/v1/jobs/{job}/plan` and each device's part on `dora/v1/devices/{id}/assignment` (both
 * retained CBOR, validated against their schemas before they leave).
 */
import cron, { type ScheduledTask } from 'node-cron'
import type { Config } from '../config/schema.js'
import type { Logger } from '../log.js'
import type { DeviceRecord } from '../registry/registry.js'
import { adapt, INITIAL_STATE, type AdaptDecision, type AdapterState, type PlanEpoch } from '../planner/adapt/adapter.js'
import { fixedEpoch } from '../planner/adapt/fixed.js'
import { WIFI_STANDARDS } from '../planner/network/wifi.js'
import { stageComputeMs, stageFlops } from '../planner/cost.js'
import { jobSources, type Fleet, type Network, type DeviceProfile, type Job, type ModelProfile } from '../planner/types.js'
import type { ActivationCodec } from '../protocol/activation-codec.js'
import { loadJobModel, plannerJob } from '../scenario/load.js'
import { ModelStore, type StageModelRef } from './model-store.js'
import { encodeCbor } from '../protocol/codec.js'
import { HUB_SOURCE, PROTOCOL_VERSION, topics } from '../protocol/topics.js'
import { assignmentSchema, planEpochSchema, type AssignmentPayload, type PlanEpochPayload } from '../protocol/payloads.js'
import { measuredLinkRate, profileFromRecord } from './profiles.js'
import { boundSlowdown, isSourceOf, stageTimeRatio } from './plausibility.js'

export type JobConfigEntry = Config['jobs'][number]

/** Epochs whose devices keep their data-plane topics open (devices keep their last 4 epochs). */
const EPOCHS_OPEN = 4

export interface JobServiceDeps {
  readonly publish: (topic: string, payload: Buffer) => Promise<void>
  readonly online: () => DeviceRecord[]
  readonly log: Logger
  readonly clock: () => number
  /** Base folder for a model given as a relative file path. */
  readonly baseDir: string
  /** Fleet changes within this window are planned together. */
  readonly debounceMs?: number
  /** Told of every adapter run: what it did and how long it took, s. */
  readonly onAdapt?: (jobId: string, action: string, seconds: number) => void
  /** Stage models go in chunks of this many bytes. */
  readonly chunkBytes?: number
  /** Told of a report the job refused or weighed down as implausible (hub/plausibility.ts). */
  readonly onImplausible?: (deviceId: string, what: string) => void
}

export class JobService {
  private job: Job | null = null
  private models: ModelStore | null = null
  private state: AdapterState = INITIAL_STATE
  private timer: NodeJS.Timeout | null = null
  private task: ScheduledTask | null = null
  private pending: string[] = []
  private running: Promise<void> = Promise.resolve()
  private assigned = new Set<string>()
  /** The devices of the epochs before the current one (the last EPOCHS_OPEN - 1). */
  private previous: Array<Set<string>> = []
  private leader = true
  /** The newest epoch of this job seen published (by this hub or another). */
  private observedEpoch = 0
  private stopped = false
  /** What the adapter last did and why (for reports). */
  lastDecision: { action: string; reason: string } | null = null
  /** The last event-to-publication time, ms (for reports). */
  lastReactionMs: number | null = null
  /** Predicted energy of the epochs run since the last summary, J, and when it was last counted. */
  private energy = { joules: 0, sinceMs: 0, epochs: 0 }
  /** A source's latest measured mean latency of the job, until the adapter has used it. */
  private measuredLatencyMs: number | undefined = undefined
  /** Requests the sources reported in their heartbeats (for dashboards): when, how many, mean latency. */
  private readonly reported: Array<{ atMs: number; count: number; meanMs: number; p95Ms: number }> = []
  /** Per device: the link rate the running epoch was planned with, bit/s. */
  private readonly plannedLink = new Map<string, number>()
  /** Per device: measured stage time over the profile's prediction (EWMA), and its value when last planned. */
  private readonly slowdown = new Map<string, { now: number; planned: number }>()

  constructor(private readonly config: JobConfigEntry, private readonly deps: JobServiceDeps) {}

  get id(): string {
    return this.config.id
  }

  /**
   * The devices whose data-plane topics are open in the ACL: those the last few epochs give
   * stages (devices keep their last 4 epochs, so old requests finish on old stages) and the
   * job's source devices.
   */
  devices(): ReadonlySet<string> {
    const sources = this.job ? jobSources(this.job).flatMap((x) => (x.device ? [x.device] : [])) : []
    return new Set([...this.assigned, ...this.previous.flatMap((p) => [...p]), ...sources])
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
      this.fleetChanged('this hub took over the job\'s planning')
    }
  }

  get isLeader(): boolean {
    return this.leader
  }

  /** A plan epoch of this job published by any hub (retained plan topic). */
  observe(plan: PlanEpochPayload): void {
    if (plan.epoch <= this.observedEpoch) return
    this.observedEpoch = plan.epoch
    if (this.leader) return
    // standby: open the data plane to the epoch's devices, as the holder's ACL does
    this.previous = [...this.previous, this.assigned].slice(-(EPOCHS_OPEN - 1))
    this.assigned = new Set(plan.parts.flatMap((p) => p.stages.flatMap((s) => s.devices)))
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
    this.fleetChanged(`goal set to ${goal}`)
    return null
  }

  /**
   * What the sources measured over the last `windowMs` (request-weighted mean latency, the
   * highest p95 reported, requests per second), or null when no source reported.
   */
  measuredFigures(nowMs: number, windowMs = 30_000): { latencyMs: number; p95Ms: number; throughputRps: number } | null {
    // keep a minute (the longest window asked for); count only this window's reports
    while (this.reported.length && this.reported[0]!.atMs < nowMs - Math.max(windowMs, 60_000)) this.reported.shift()
    const recent = this.reported.filter((r) => r.atMs >= nowMs - windowMs)
    const n = recent.reduce((a, r) => a + r.count, 0)
    if (!n) return null
    return {
      latencyMs: recent.reduce((a, r) => a + r.count * r.meanMs, 0) / n,
      p95Ms: Math.max(...recent.map((r) => r.p95Ms)),
      throughputRps: n / (windowMs / 1000),
    }
  }

  /**
   * Latencies measured by a request source on the hub itself (src/hub/hub-source.ts), for the
   * dashboards' measured figures, as a device source's heartbeat reports them.
   */
  sourceReported(r: { count: number; meanMs: number; p95Ms: number }): void {
    if (!(r.count > 0) || !Number.isFinite(r.meanMs) || !Number.isFinite(r.p95Ms)) return
    this.reported.push({ atMs: this.deps.clock(), count: r.count, meanMs: r.meanMs, p95Ms: r.p95Ms })
    if (this.reported.length > 10_000) this.reported.shift()
  }

  async start(): Promise<void> {
    const { model, onnx } = await loadJobModel(this.config.model, this.deps.baseDir, this.config.batch, undefined, this.config.compression?.maxOutputError)
    this.models = new ModelStore(onnx, this.deps.chunkBytes ?? 256 * 1024)
    this.job = plannerJob(this.config, model)
    this.energy.sinceMs = this.deps.clock()
    this.deps.log.info({ jobId: this.id, model: model.name, layers: model.layers.length }, 'job ready')
    this.task = cron.schedule(this.config.recostCron, () => this.fleetChanged('periodic re-costing'))
    this.fleetChanged('hub started')
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.task?.destroy()
    this.task = null
    await this.running
  }

  /** A registry event or a tick: plan again shortly (changes close together are merged). */
  fleetChanged(why: string): void {
    if (this.stopped || !this.job) return
    this.pending.push(why)
    if (this.timer) return
    const at = this.deps.clock()
    this.timer = setTimeout(() => {
      this.timer = null
      const reasons = this.pending.splice(0)
      this.running = this.running.then(() => this.run(reasons.join('; '), at)).catch((err: Error) => {
        this.deps.log.error({ jobId: this.id, err: err.message }, 'adapting the job failed; the current epoch stays')
      })
    }, this.deps.debounceMs ?? 100)
  }

  private async run(why: string, eventMs: number): Promise<void> {
    if (this.stopped || !this.job || !this.leader) return
    const devices = new Map<string, DeviceProfile>()
    for (const d of this.deps.online()) {
      const s = this.slowdown.get(d.id)
      if (s) s.planned = s.now
      const p = profileFromRecord(d, this.config.batteryMinPct, s?.now ?? 1, WIFI_STANDARDS[this.config.network.standard])
      if (p?.linkRateBps) this.plannedLink.set(d.id, p.linkRateBps)
      if (p) devices.set(d.id, p)
    }
    const fleet: Fleet = { devices }
    const network: Network = { standard: WIFI_STANDARDS[this.config.network.standard]!, coordination: 'scheduled', availableAirtime: this.config.network.availableAirtime }
    if (!devices.size) {
      this.deps.log.info({ jobId: this.id }, 'no device online; nothing to plan')
      return
    }
    const measured = this.measuredLatencyMs
    this.measuredLatencyMs = undefined
    const t0 = performance.now()
    const planner = this.config.planner
    const decision = planner === 'dora'
      ? adapt(this.state, { job: this.job, fleet, network, ...(measured !== undefined ? { measuredLatencyMs: measured } : {}) }, this.deps.clock(), why)
      : this.fixed(planner, fleet, network, why)
    this.deps.onAdapt?.(this.id, decision.action, (performance.now() - t0) / 1000)
    // a hub that took over planning continues the epochs it saw published (devices ignore older ones)
    const epoch = decision.epoch && decision.epoch.epoch <= this.observedEpoch ? { ...decision.epoch, epoch: this.observedEpoch + 1 } : decision.epoch
    this.state = epoch ? { ...decision.state, current: epoch } : decision.state
    this.lastDecision = { action: decision.action, reason: decision.reason }
    this.deps.log.info({ jobId: this.id, action: decision.action, reason: decision.reason }, 'job adapted')
    if (!epoch) return
    this.countEnergy(this.deps.clock())
    this.energy.epochs++
    await this.publishEpoch(epoch, fleet)
    this.lastReactionMs = this.deps.clock() - eventMs
  }

  /** A baseline's plan as is: made anew only when devices come or go (no QoE adaptation). */
  private fixed(planner: Exclude<JobConfigEntry['planner'], 'dora'>, fleet: Fleet, network: Network, why: string): AdaptDecision {
    const ids = [...fleet.devices.keys()].sort()
    if (this.state.current && JSON.stringify(ids) === JSON.stringify([...this.state.known].sort())) {
      return { action: 'keep', state: this.state, epoch: null, reason: `${why}: ${planner} re-plans only when devices come or go` }
    }
    const epoch = fixedEpoch(planner, this.job!, fleet, network, (this.state.current?.epoch ?? 0) + 1, this.deps.clock(), why)
    if (!epoch) return { action: 'infeasible', state: { ...this.state, known: ids }, epoch: null, reason: `${why}: ${planner} finds no plan on this fleet` }
    return { action: 'replan', state: { ...this.state, current: epoch, known: [...fleet.devices.keys()] }, epoch, reason: epoch.reason }
  }

  /**
   * The energy the plans predicted for the time since the last call (energy per request x the
   * job's rate x time in each epoch), and the epochs begun; resets the ledger. Predicted, not
   * measured: devices do not report energy yet.
   */
  takeEnergy(nowMs: number): { jobId: string; predictedJ: number; epochs: number; fromMs: number } {
    this.countEnergy(nowMs)
    const out = { jobId: this.id, predictedJ: this.energy.joules, epochs: this.energy.epochs, fromMs: this.energy.sinceMs }
    this.energy = { joules: 0, sinceMs: nowMs, epochs: 0 }
    return out
  }

  private countEnergy(nowMs: number): void {
    const e = this.state.current
    if (e && this.job && this.energy.sinceMs > 0) {
      const from = Math.max(this.energy.sinceMs, e.activateAtMs)
      if (nowMs > from) this.energy.joules += (e.predicted.energyJPerRequest * this.job.rateRps * (nowMs - from)) / 1000
    }
    this.energy.sinceMs = nowMs
  }

  /**
   * A heartbeat's stage timings: compared with the stage time the profile predicts, folded into
   * the device's slowdown (EWMA, alpha 0.5); a drift of more than `driftThreshold` since the
   * last planning re-runs the adapter.
   */
  measured(d: DeviceRecord): void {
    const epoch = this.state.current
    if (!epoch || !this.job || !d.lastHeartbeat) return
    const s = this.slowdown.get(d.id) ?? { now: 1, planned: 1 }
    const profile = profileFromRecord(d, this.config.batteryMinPct, s.now)
    if (!profile) return
    for (const t of d.lastHeartbeat.stageTimings) {
      if (t.jobId !== this.id || t.count <= 0) continue
      const part = epoch.parts.find((p) => p.plan.stages[t.stage]?.devices.includes(d.id))
      if (!part) continue
      const predicted = stageComputeMs(this.job, profile, part.plan.stages[t.stage]!.layers, part.plan.microBatch)
      const r = stageTimeRatio(t.meanMs, predicted)
      if (!r || r.clamped) this.deps.onImplausible?.(d.id, `stage ${t.stage} of ${this.id}: ${t.meanMs} ms against ${predicted.toFixed(1)} ms predicted${r ? ` (counted as ${r.ratio}x)` : ' (ignored)'}`)
      if (r) s.now = boundSlowdown(s.now * Math.pow(r.ratio, 0.5))
    }
    this.slowdown.set(d.id, s)
    const drift = s.now / s.planned
    if (Math.abs(drift - 1) > this.config.driftThreshold) {
      s.planned = s.now
      this.fleetChanged(`${d.id} measured ${drift.toFixed(2)}x the stage time it was planned with`)
    }
    // end-to-end latency measured by a source: beyond the bound, or far from the prediction
    for (const r of d.lastHeartbeat.requestLatencies ?? []) {
      if (r.jobId !== this.id || r.count <= 0) continue
      if (!isSourceOf(this.job, d.id)) {
        this.deps.onImplausible?.(d.id, `request latencies of ${this.id} from a device that is not one of its sources (ignored)`)
        continue
      }
      this.reported.push({ atMs: this.deps.clock(), count: r.count, meanMs: r.meanMs, p95Ms: r.p95Ms })
      if (this.reported.length > 10_000) this.reported.shift()
      const bound = this.job.qoe.latencyMs
      const off = Math.abs(r.meanMs / epoch.predicted.latencyMs - 1) > this.config.driftThreshold
      if ((bound !== undefined && r.meanMs > bound) || off) {
        this.measuredLatencyMs = r.meanMs
        this.fleetChanged(`${d.id} measured ${r.meanMs.toFixed(0)} ms per request (predicted ${epoch.predicted.latencyMs.toFixed(0)} ms${bound !== undefined ? `, bound ${bound} ms` : ''})`)
      }
    }
    // the link: measured throughput against the rate the epoch was planned with
    const rate = measuredLinkRate(d, WIFI_STANDARDS[this.config.network.standard])
    const planned = this.plannedLink.get(d.id)
    if (rate !== null && planned && Math.abs(rate / planned - 1) > this.config.driftThreshold) {
      this.plannedLink.set(d.id, rate)
      this.fleetChanged(`${d.id} link measured at ${(rate / planned).toFixed(2)}x the rate it was planned with`)
    }
  }

  /** The tensors a stage reads and produces (from its cut), when the model has node bounds. */
  private stageIo(n: [number, number] | null): { inputs?: string[]; outputs?: string[] } {
    if (!n) return {}
    const st = this.models!.stage(n)
    return { inputs: [...st.inputs], outputs: [...st.outputs] }
  }

  private async publishEpoch(e: PlanEpoch, fleet: Fleet): Promise<void> {
    const bounds = this.job!.model.nodeBounds
    const nodes = (l: readonly [number, number]): [number, number] | null => (bounds ? [bounds[l[0]]!, bounds[l[1]]!] : null)
    const plan: PlanEpochPayload = planEpochSchema.parse({
      v: PROTOCOL_VERSION,
      jobId: this.id,
      epoch: e.epoch,
      activateAtMs: e.activateAtMs,
      parts: e.parts.map((p) => ({
        planId: p.plan.id, weight: p.weight, microBatch: p.plan.microBatch,
        stages: p.plan.stages.map((s) => ({ layers: [...s.layers], nodes: nodes(s.layers), ...this.stageIo(nodes(s.layers)), ...codecAt(this.job!.model, s.layers[1]), devices: [...s.devices], shares: speedShares(this.job!, fleet, s.layers, s.devices) })),
        schedule: p.schedule ? { periodMs: p.schedule.periodMs, cycleMs: p.schedule.cycleMs, microBatchesPerCycle: p.schedule.microBatchesPerCycle, guardMs: p.schedule.guardMs } : null,
      })),
      // an overloaded plan (a baseline run as is) predicts no finite latency: the largest we carry
      predicted: { latencyMs: Math.min(e.predicted.latencyMs, 1e9), ...(Number.isFinite(e.predicted.p95LatencyMs) ? { p95LatencyMs: e.predicted.p95LatencyMs } : {}), energyJPerRequest: e.predicted.energyJPerRequest },
      ...this.models!.io(),
      sources: jobSources(this.job!).map((x) => x.device ?? HUB_SOURCE),
      departed: [...this.assigned].filter((id) => !fleet.devices.has(id)),
      reason: e.reason.slice(0, 1024),
      emulated: Object.keys(e.assignments).some((id) => fleet.devices.get(id)?.emulated ?? false),
      ...(this.job!.training ? { training: { microBatchesPerStep: this.job!.training.microBatchesPerStep } } : {}),
    })
    await this.deps.publish(topics.job(this.id, 'plan'), encodeCbor(plan))
    const weightOf = new Map(e.parts.map((p) => [p.plan.id, p.weight]))
    // the stage models of this epoch, published (once each) before any assignment names them
    const refs = new Map<string, StageModelRef>()
    const training = new Map<string, { backward: StageModelRef; params: string[] }>()
    for (const a of Object.values(e.assignments).flat()) {
      const n = nodes(a.layers)
      if (!n || refs.has(n.join('-'))) continue
      if (this.job!.training) {
        // a training stage: its forward model (starting parameters, stash outputs) and backward model
        const t = this.models!.trainingStage(n)
        refs.set(n.join('-'), await this.models!.publishRef(t.forward, this.deps.publish))
        training.set(n.join('-'), { backward: await this.models!.publishRef(t.backward, this.deps.publish), params: [...t.params] })
      } else refs.set(n.join('-'), await this.models!.publish(n, this.deps.publish))
    }
    const now = new Set(Object.keys(e.assignments))
    const before = this.assigned
    // open the new devices' topics before they learn of their stages
    this.previous = [...this.previous, before].slice(-(EPOCHS_OPEN - 1))
    this.assigned = now
    // devices that held stages before and hold none now get an empty assignment
    for (const id of new Set([...now, ...before])) {
      const body: AssignmentPayload = assignmentSchema.parse({
        v: PROTOCOL_VERSION,
        jobId: this.id,
        epoch: e.epoch,
        activateAtMs: e.activateAtMs,
        stages: (e.assignments[id] ?? []).map((a) => {
          const n = nodes(a.layers)
          const t = n ? training.get(n.join('-')) : undefined
          return { planId: a.planId, stage: a.stage, layers: [...a.layers], nodes: n, weight: weightOf.get(a.planId) ?? 0, model: n ? refs.get(n.join('-')) ?? null : null, ...(t ? t : {}), flops: stageFlops(this.job!, a.layers) }
        }),
        slots: e.parts.flatMap((p) => (p.schedule?.byDevice[id] ?? []).map((x) => ({ planId: p.plan.id, ...x }))),
      })
      await this.deps.publish(topics.device(id, 'assignment'), encodeCbor(body))
    }
  }
}

/** Each replica's share of a stage's requests: its speed over the stage's (as the cost model spreads them). */
function speedShares(job: Job, fleet: Fleet, layers: readonly [number, number], devices: readonly string[]): number[] {
  const speed = devices.map((id) => 1 / stageComputeMs(job, fleet.devices.get(id)!, layers, 1))
  const total = speed.reduce((a, x) => a + x, 0)
  return speed.map((x) => x / total)
}

/** How a stage's outputs travel when it ends at `boundary` (the planner's choice for that cut). */
function codecAt(model: ModelProfile, boundary: number): { codec?: ActivationCodec } {
  const c = model.boundaryCodecs?.[boundary]
  return c ? { codec: c } : {}
}
