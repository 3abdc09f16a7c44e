/**
 * Runs a training job's stages on this device (issue 6): micro-batches in the 1F1B order with a
 * flush per optimizer step (PipeDream-Flush), gradients all-reduced among a stage's replicas in a
 * ring over MQTT, then the Adam update, then a `done` on `dora/v1/jobs/{job}/steps`.
 *
 * - Forward: when every input of micro-batch `{step}.{i}` is here and fewer than S - k
 *   micro-batches are between their forward and backward (stage k of S), the forward model runs;
 *   its outputs go to the later stages that read them, its stash stays here.
 * - Backward: when the gradient of every output a later stage reads is here (`grad:{name}`,
 *   summed over readers; the last stage needs none), the backward model runs (a ready backward
 *   goes before any forward); each input's gradient goes back to the stage that produced it.
 * - After the step's last backward on this device (the source's `start` names every
 *   micro-batch's route, so each replica knows its count), the replicas of the stage all-reduce
 *   the summed gradients (allreduce.ts), apply Adam with the mean over the step's micro-batches,
 *   and say `done` with the loss and a digest of the parameters.
 *
 * Activations forward and their gradients back cross a cut with the codec the plan names for it
 * (the stage's `codec`: float16, or int8 with a per-tensor scale; the receiver restores float32),
 * as the cost model prices them; all-reduce pieces and checkpoints go as float32. Measured on real
 * training stages (bench/training-compression.ts, BENCHMARKS.md): the loss stays within the bound
 * stated there.
 *
 * Activations, gradients, all-reduce pieces and checkpoints (stage-state.ts) go in the plan's
 * transfer mode (slots, hub grants or at once: transfer-gate.ts, shared with the device's
 * inference executor); a run never waits for the last one's outputs to be on the air.
 *
 * Emulation: after each run the device waits until its profile's time (runtime.ts: forward: the
 * stage's FLOPs for the micro-batch; backward: twice that, as the cost model counts), times `timeScale`.
 */
import type * as ort from 'onnxruntime-node'
import type { Hop } from '../src/protocol/chunks.js'
import type { Tensor } from '../src/protocol/reassembly.js'
import { HoldLimit } from './hold-limit.js'
import { PROTOCOL_VERSION, topics } from '../src/protocol/topics.js'
import { encodeCbor } from '../src/protocol/codec.js'
import { CODEC_BYTES } from '../src/protocol/activation-codec.js'
import type { AssignmentPayload, PlanEpochPayload, TrainingStep } from '../src/protocol/payloads.js'
import { deliveries } from '../src/runtime/flow.js'
import { fromOrt, toOrt } from '../src/runtime/tensors.js'
import { gradName } from '../src/model/grad.js'
import type { StageTrainer } from '../src/runtime/trainer.js'
import type { DeviceRuntime } from './runtime.js'
import { DoraError, ErrorCodes } from '../src/errors.js'
import { gradsWhole, newStageRun, newStepState, placeTensor, stepOf, type StageAssignment, type StageRun, type StepState } from './training-run.js'
import { AllReduceMailbox, ringAllReduce } from './allreduce.js'
import { StageStateKeeper } from './stage-state.js'
import { TransferGate } from './transfer-gate.js'

/** Steps between a stage's checkpoints to the hub when the plan names none. */
const DEFAULT_CHECKPOINT_EVERY = 10

/** Most tensors, and bytes, held for stages this device has not opened yet (HoldLimit). */
const MAX_HELD_TENSORS = 1024
const MAX_HELD_BYTES = 1024 * 1024 * 1024

export interface TrainingDeps {
  /** This device: id, profile, clock, publish, dilation, energy account, stage timings (forward run times). */
  readonly runtime: DeviceRuntime
  readonly reassemblyTimeoutMs: number
  readonly assignment: (jobId: string, epoch: number) => AssignmentPayload | undefined
  readonly plan: (jobId: string, epoch: number) => PlanEpochPayload | undefined
  /** The stage's trainer (models fetched, sessions open); one per stage model for the device's life. */
  readonly trainer: (stage: StageAssignment) => Promise<StageTrainer>
  /** False: a stage that moves here starts from its model's parameters (no checkpoints; comparison runs). */
  readonly carryState?: boolean
  /** How activations and gradients go: in the plan's transfer mode (the device's gate; default: slots when assigned, else at once, no grants). */
  readonly transfers?: TransferGate
}

export class TrainingExecutor {
  private readonly runs = new Map<string, StageRun>()
  private readonly mailbox: AllReduceMailbox
  private readonly manifests = new Map<string, Extract<TrainingStep, { kind: 'start' }>>()
  private busy = false
  /** The step whose gradients each trainer is summing (`{job}/{epoch}/{plan}/{step}`). */
  private readonly summing = new WeakMap<StageTrainer, string>()
  /** Trainers that have run a forward once. */
  private readonly warm = new WeakSet<StageTrainer>()
  readonly counts = { forwards: 0, backwards: 0, steps: 0, rejected: 0, failed: 0, slowerThanProfile: 0 }
  /** Bytes of activations and gradients this device put on the wire (tensor data as sent: compressed where the plan says). */
  sentBytes = 0
  /** The stages' state (parameters, optimizer) follows them from device to device (stage-state.ts). */
  readonly state: StageStateKeeper

  private readonly rt: DeviceRuntime
  readonly transfers: TransferGate

  constructor(private readonly d: TrainingDeps) {
    this.rt = d.runtime
    this.transfers = d.transfers ?? new TransferGate({ coordination: 'slots', clock: this.rt.clock, timeScale: this.rt.timeScale })
    this.mailbox = new AllReduceMailbox(d.reassemblyTimeoutMs)
    this.state = new StageStateKeeper({ runtime: this.rt, restoreTimeoutMs: d.reassemblyTimeoutMs, carry: d.carryState ?? true, upload: (jobId, epoch, bytes, send) => this.upload(jobId, epoch, bytes, send) })
  }


  /** A step message of a job this device trains. */
  onStep(jobId: string, m: TrainingStep): void {
    if (m.kind !== 'start') return
    this.state.onStart(jobId, m.epoch, this.d.plan(jobId, m.epoch)?.departed ?? [])
    this.manifests.set(`${jobId}/${m.epoch}/${m.planId}/${m.step}`, m)
    for (const k of [...this.manifests.keys()]) if (this.manifests.size > 64) this.manifests.delete(k)
    this.refresh()
  }

  /** Opens this device's stages named by the known step manifests (a replica may get no micro-batch but joins the all-reduce). */
  private openManifested(): void {
    for (const [key, m] of this.manifests) {
      const jobId = key.split('/')[0]!
      const part = this.d.plan(jobId, m.epoch)?.parts.find((p) => p.planId === m.planId)
      part?.stages.forEach((st, k) => {
        if (!st.devices.includes(this.rt.id)) return
        const run = this.run(jobId, m.epoch, m.planId, k)
        if (run) this.stepState(run, m.step)
      })
    }
  }

  /** A whole tensor for one of this device's training stages (from the network or this device). */
  accept(jobId: string, t: Tensor): void {
    const hop = t.hop!
    const epoch = t.epoch ?? 0
    if (t.name.startsWith('allreduce:')) return this.mailbox.deliver(`${jobId}/${epoch}/${hop.plan}/${hop.stage}/${t.req}/${t.name}`, t)
    const run = this.run(jobId, epoch, hop.plan, hop.stage)
    if (!run) {
      // held tensors expire even when no plan or assignment comes to refresh them
      if (this.rt.clock() - this.lastSweepMs >= 1000) this.refresh()
      const full = this.held.admit(t.data.byteLength)
      if (full) return this.reject(jobId, `tensor ${t.name} of ${t.req} dropped: ${full}`)
      this.pendingTensors.push({ jobId, t, atMs: this.rt.clock() })
      return
    }
    this.place(run, t)
    this.pump()
  }

  private readonly pendingTensors: Array<{ jobId: string; t: Tensor; atMs: number }> = []
  /** Room taken by pendingTensors. */
  readonly held = new HoldLimit(MAX_HELD_TENSORS, MAX_HELD_BYTES)
  private lastSweepMs = 0

  /** A plan or an assignment arrived: tensors held for it may be placed now. */
  refresh(): void {
    // stages of epochs this device no longer keeps (and their stashed micro-batches) go
    for (const [key, run] of this.runs) if (!this.d.plan(run.jobId, run.epoch)) this.runs.delete(key)
    this.lastSweepMs = this.rt.clock()
    const held = this.pendingTensors.splice(0)
    for (const h of held) {
      const run = this.run(h.jobId, h.t.epoch ?? 0, h.t.hop!.plan, h.t.hop!.stage)
      if (run || this.rt.clock() - h.atMs >= this.d.reassemblyTimeoutMs) this.held.release(h.t.data.byteLength)
      if (run) this.place(run, h.t)
      else if (this.rt.clock() - h.atMs < this.d.reassemblyTimeoutMs) this.pendingTensors.push(h)
      else this.rt.onError(`job ${h.jobId}: ${h.t.name} of ${h.t.req} was for a stage this device never got; dropped`)
    }
    this.openManifested()
    for (const run of this.runs.values()) this.maybeFinish(run)
    this.pump()
  }

  private run(jobId: string, epoch: number, planId: string, stage: number): StageRun | null {
    const key = `${jobId}/${epoch}/${planId}/${stage}`
    const have = this.runs.get(key)
    if (have) return have
    const plan = this.d.plan(jobId, epoch)
    const a = this.d.assignment(jobId, epoch)
    const st = a?.stages.find((s) => s.planId === planId && s.stage === stage)
    const part = plan?.parts.find((p) => p.planId === planId)
    if (!plan || !st || !part) return null
    if (!st.backward || !st.params || !st.model) {
      this.rt.onError(`job ${jobId}: stage ${stage} of ${planId} in epoch ${epoch} has no backward model or parameters (not a training assignment)`)
      return null
    }
    const run = newStageRun(jobId, epoch, plan, part, stage, st)
    this.runs.set(key, run)
    // open the trainer early (model fetch, sessions) so the first micro-batch does not wait for it
    this.d.trainer(st).catch((err: Error) => this.rt.onError(`job ${jobId}: stage ${stage}: ${err.message}`))
    for (const [k, m] of this.manifests) if (k.startsWith(`${jobId}/${epoch}/${planId}/`)) this.stepState(run, m.step)
    return run
  }

  private stepState(run: StageRun, step: number): StepState {
    let s = run.steps.get(step)
    if (!s) run.steps.set(step, (s = newStepState()))
    const m = this.manifests.get(`${run.jobId}/${run.epoch}/${run.planId}/${step}`)
    if (m && s.expected === null) {
      s.expected = m.routes.filter((r) => r[run.stage] === this.rt.id).length
      // a replica with no micro-batch this step still takes part in the all-reduce
      this.maybeFinish(run)
    }
    return s
  }

  private place(run: StageRun, t: Tensor): void {
    const step = stepOf(t.req)
    if (!Number.isInteger(step)) return this.reject(run.jobId, `training micro-batch id ${t.req} is not {step}.{index}`)
    this.stepState(run, step)
    const refused = placeTensor(run, t)
    if (refused) this.reject(run.jobId, refused)
  }

  /** Runs the next ready backward, else the next forward 1F1B allows; one at a time. */
  private pump(): void {
    if (this.busy) return
    for (const run of this.runs.values()) {
      const req = run.readyBackward.shift()
      if (req) return this.go(this.backward(run, req))
    }
    for (const run of this.runs.values()) {
      const req = run.readyForward[0]
      if (!req) continue
      const s = this.stepState(run, stepOf(req))
      if (s.forwards - s.backwards >= run.stages - run.stage) continue // 1F1B: S - k in flight at most
      run.readyForward.shift()
      return this.go(this.forward(run, req))
    }
  }

  private go(work: Promise<void>): void {
    this.busy = true
    work
      .catch((err: Error) => {
        this.counts.failed++
        this.rt.onError(err.message)
      })
      .finally(() => {
        this.busy = false
        this.pump()
      })
  }

  /** Waits until the profile's time of a run of the stage's micro-batch (`passes`: forward 1, backward 2); its time in profile ms. */
  private async dilateTo(run: StageRun, startMs: number, passes: number): Promise<number> {
    const r = await this.rt.dilateRun(startMs, this.rt.profileRunMs(run.assignment.flops, run.part.microBatch, passes))
    if (r.slower) this.counts.slowerThanProfile++
    return r.tookMs
  }

  private async forward(run: StageRun, req: string): Promise<void> {
    const w = run.inputs.get(req)!
    run.inputs.delete(req)
    const trainer = await this.d.trainer(run.assignment)
    await this.state.ready(run.jobId, run.epoch, stepOf(req), trainer)
    const start = this.rt.clock()
    const r = await trainer.forward(new Map([...w.tensors].map(([n, t]) => [n, toOrt(t)])))
    const took = await this.dilateTo(run, start, 1)
    // a trainer's first forward includes onnxruntime's lazy set-up: not a stage time to report
    if (this.warm.has(trainer)) this.rt.timings.add(run.jobId, run.stage, took)
    this.warm.add(trainer)
    this.counts.forwards++
    const s = this.stepState(run, stepOf(req))
    s.forwards++
    if (r.loss !== null) {
      s.lossSum += r.loss
      s.lossCount++
    }
    run.saved.set(req, { hop: w.hop, saved: r.saved })
    if (gradsWhole(run, req)) run.readyBackward.push(req)
    // outputs to the later stages that read them (model outputs stay: the loss is computed here)
    for (const [name, value] of r.outputs) {
      for (const to of deliveries(run.part, name, run.stage, [])) {
        if (to.stage === null) continue
        this.send(run, req, w.hop, to.stage, fromOrt(name, value))
      }
    }
  }

  private async backward(run: StageRun, req: string): Promise<void> {
    const st = run.saved.get(req)!
    run.saved.delete(req)
    const g = run.grads.get(req)
    run.grads.delete(req)
    const trainer = await this.d.trainer(run.assignment)
    // a trainer outlives epochs: sums left by a step given up half-way are dropped
    const stepKey = `${run.jobId}/${run.epoch}/${run.planId}/${stepOf(req)}`
    if (this.summing.get(trainer) !== stepKey) {
      if (trainer.accumulated > 0) this.rt.onError(`job ${run.jobId}: dropping the gradients of an unfinished step (${trainer.accumulated} micro-batches) on stage ${run.stage}`)
      trainer.clearGradients()
      this.summing.set(trainer, stepKey)
    }
    const gradIn = new Map<string, ort.Tensor>()
    for (const [o, x] of g ?? []) gradIn.set(gradName(o), toOrt({ name: gradName(o), dtype: 'float32', shape: x.shape, data: new Uint8Array(x.sum.buffer) }))
    const start = this.rt.clock()
    const back = await trainer.backward(st.saved, gradIn)
    await this.dilateTo(run, start, 2)
    this.counts.backwards++
    const s = this.stepState(run, stepOf(req))
    s.backwards++
    // each input's gradient to the stage that produced that input (model inputs have no producer)
    for (const [name, value] of back) {
      const x = name.slice(5)
      let producer = -1
      for (let j = run.stage - 1; j >= 0; j--) if ((run.part.stages[j]!.outputs ?? []).includes(x)) { producer = j; break }
      if (producer >= 0) this.send(run, req, st.hop, producer, fromOrt(name, value))
    }
    this.maybeFinish(run)
  }

  private send(run: StageRun, req: string, hop: Hop, stage: number, t: ReturnType<typeof fromOrt>): void {
    const to = hop.route[stage]!
    const h = { ...hop, stage }
    if (to === this.rt.id) return this.accept(run.jobId, { req, name: t.name, dtype: t.dtype, shape: [...t.shape], epoch: run.epoch, hop: h, data: t.data })
    // an activation crosses the cut at its stage's end, its gradient the same cut back: both go
    // with the codec the plan names for that cut (the stage's `codec`), as the cost model prices them
    const codec = run.part.stages[Math.min(stage, run.stage)]?.codec
    const bytes = codec && t.dtype === 'float32' ? (t.data.byteLength / 4) * CODEC_BYTES[codec] : t.data.byteLength
    this.sentBytes += bytes
    // in the plan's transfer mode (slots, grants or at once); not awaited: the next run does not wait for the air
    const x = { jobId: run.jobId, plan: run.plan, part: run.part, assignment: this.d.assignment(run.jobId, run.epoch), receiver: to, bytes }
    this.transfers.send(x, () => this.rt.sendTensor(topics.tensors(run.jobId, to), t, { req, epoch: run.epoch, hop: h }, codec))
      .catch((err: Error) => this.rt.onError(`job ${run.jobId}: sending ${t.name} of ${req} to ${to}: ${err.message}`))
  }

  private maybeFinish(run: StageRun): void {
    for (const [step, s] of run.steps) {
      if (s.finishing || s.expected === null || s.backwards < s.expected) continue
      s.finishing = true
      this.finish(run, step, s)
        .then(() => {
          run.steps.delete(step)
          this.counts.steps++
        })
        .catch((err: Error) => {
          this.counts.failed++
          this.rt.onError(`job ${run.jobId}: step ${step} of stage ${run.stage}: ${err.message}`)
        })
    }
  }

  /** All-reduce with the stage's replicas, Adam, `done`. */
  private async finish(run: StageRun, step: number, s: StepState): Promise<void> {
    const trainer = await this.d.trainer(run.assignment)
    await this.state.ready(run.jobId, run.epoch, step, trainer)
    const replicas = run.part.stages[run.stage]!.devices
    const flat = trainer.flatGradients()
    if (replicas.length > 1) await this.allReduce(run, step, flat, replicas)
    const m = this.manifests.get(`${run.jobId}/${run.epoch}/${run.planId}/${step}`)
    trainer.apply(m?.routes.length ?? s.backwards, flat)
    // one replica sends a replicated stage's checkpoints and handover: the replicas hold the same state after the all-reduce
    this.state.stepped(run.jobId, run.epoch, step, trainer, run.plan.training?.checkpointEverySteps ?? DEFAULT_CHECKPOINT_EVERY, replicas)
    const done: TrainingStep = {
      v: PROTOCOL_VERSION, kind: 'done', epoch: run.epoch, planId: run.planId, step, stage: run.stage, device: this.rt.id,
      microBatches: s.backwards, loss: s.lossCount ? s.lossSum : null, paramsSha256: trainer.digest(),
    }
    await this.rt.publish(topics.job(run.jobId, 'steps'), encodeCbor(done))
  }

  /**
   * A checkpoint to the hub in the epoch's transfer mode (the plan's part this device trains in;
   * at once without a plan). Resolves when the next may go: with grants once it is sent (it holds
   * its grant meanwhile, as the cost model's checkpoint holds the air), otherwise at once (the
   * client sends what is queued in order).
   */
  private upload(jobId: string, epoch: number, bytes: number, send: () => Promise<void>): Promise<void> {
    const plan = this.d.plan(jobId, epoch)
    const assignment = this.d.assignment(jobId, epoch)
    const part = plan?.parts.find((p) => assignment?.stages.some((s) => s.planId === p.planId)) ?? plan?.parts[0]
    if (!plan || !part) return send()
    const x = { jobId, plan, part, assignment, receiver: 'hub', bytes }
    const sent = this.transfers.send(x, send)
    if (this.transfers.modeOf(x) === 'grants') return sent
    sent.catch((err: Error) => this.rt.onError(`job ${jobId}: checkpoint: ${err.message}`))
    return Promise.resolve()
  }

  /** Ring all-reduce (sum) of `flat` among `replicas`, in place. */
  private async allReduce(run: StageRun, step: number, flat: Float32Array, replicas: readonly string[]): Promise<void> {
    const r = replicas.indexOf(this.rt.id)
    if (r < 0) throw new DoraError(ErrorCodes.ALLREDUCE, `not a replica of stage ${run.stage}`)
    const next = replicas[(r + 1) % replicas.length]!
    const req = `${step}`
    const route = run.part.stages.map((st, k) => (k === run.stage ? next : st.devices[0]!))
    await ringAllReduce(flat, replicas.length, r, {
      send: (name, values) => {
        const hop: Hop = { src: this.rt.id, plan: run.planId, stage: run.stage, route, t0: Math.floor(this.rt.clock()) }
        // in the plan's transfer mode, as the replay that predicts the step puts the all-reduce on the air
        const x = { jobId: run.jobId, plan: run.plan, part: run.part, assignment: this.d.assignment(run.jobId, run.epoch), receiver: next, bytes: values.byteLength }
        return this.transfers.send(x, () => this.rt.sendTensor(topics.tensors(run.jobId, next), { name, dtype: 'float32', shape: [values.length], data: new Uint8Array(values.buffer) }, { req, epoch: run.epoch, hop }))
      },
      receive: (name) => this.mailbox.receive(`${run.jobId}/${run.epoch}/${run.planId}/${run.stage}/${req}/${name}`),
    })
  }

  /** A chunk or tensor refused (counted and reported). */
  reject(jobId: string, why: string): void {
    this.counts.rejected++
    this.rt.onError(`job ${jobId}: ${why}`)
  }
}

