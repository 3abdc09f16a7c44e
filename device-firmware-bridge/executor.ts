/**
 * Runs requests through this device's stages (issue 6). Tensor chunks arrive on
 * `dora/v1/jobs/{job}/tensors/{own id}`; each carries its request's way (chunks.ts `Hop`): the
 * plan, the stage it is for, the device of every stage and the source. When every input of a
 * (request, stage) is whole, the stage runs in onnxruntime (one run at a time: the device is one
 * compute resource), then each output goes to every later stage that reads it and model outputs
 * go to the results topic, inside this device's sending slots (or at once when uncoordinated).
 *
 * A request runs on the stage model of the epoch it was sent in: the device keeps its last few
 * assignments, so requests of an old epoch finish on the old stage while new ones use the new.
 *
 * Emulation: an emulated device waits after the real onnxruntime run until its profile's time
 * (time dilation) and keeps an energy account from its power model (runtime.ts, shared with the
 * training executor).
 */
import type * as ort from 'onnxruntime-node'
import type { Tensor } from '../src/protocol/reassembly.js'
import { PROTOCOL_VERSION, topics } from '../src/protocol/topics.js'
import { encodeCbor } from '../src/protocol/codec.js'
import type { AssignmentPayload, PlanEpochPayload, ReceiptPayload } from '../src/protocol/payloads.js'
import { deliveries, resultsConsumer, stageInputs } from '../src/runtime/flow.js'
import type { AirGrants } from '../src/runtime/air-grants.js'
import { fromOrt, toOrt } from '../src/runtime/tensors.js'
import type { WireTensor } from '../src/runtime/send-tensor.js'
import type { DeviceRuntime } from './runtime.js'
import { HoldLimit } from './hold-limit.js'
import { TransferGate } from './transfer-gate.js'
import { DoraError, ErrorCodes } from '../src/errors.js'

/** Most tensors, and bytes, held for requests waiting for inputs or for their epoch (HoldLimit). */
const MAX_HELD_TENSORS = 1024
const MAX_HELD_BYTES = 256 * 1024 * 1024

export interface ExecutorDeps {
  /** This device: id, profile, clock, publish, dilation, energy account, stage timings. */
  readonly runtime: DeviceRuntime
  /** `slots`: send inside the hub's slots (stretched by the runtime's timeScale); `none`: send at once (uncoordinated). */
  readonly coordination: 'slots' | 'none'
  readonly reassemblyTimeoutMs: number
  /** Hub-granted air (topics.md § Air grants): used for the plans whose transfers go by grants. */
  readonly air?: AirGrants
  /** The device's transfer gate, shared with its other senders (default: one of its own from `coordination` and `air`). */
  readonly transfers?: TransferGate
  /** Bounds on tensors held for requests waiting for inputs or their epoch (default 1024 tensors, 256 MiB). */
  readonly maxHeld?: { readonly tensors: number; readonly bytes: number }
  /** The open session of a stage model (loads it if needed). */
  readonly session: (model: NonNullable<AssignmentPayload['stages'][number]['model']>) => Promise<ort.InferenceSession>
  readonly assignment: (jobId: string, epoch: number) => AssignmentPayload | undefined
  readonly plan: (jobId: string, epoch: number) => PlanEpochPayload | undefined
  /** Told when a request's stage has its inputs, ran, and sent its outputs (for breakdowns). */
  /** `lateMs` (phase `ran`): how much longer the real run took than its dilated profile time (0: dilated as planned). */
  readonly trace?: (e: { jobId: string; req: string; stage: number; phase: 'inputs' | 'ran' | 'sent'; atMs: number; t0: number; lateMs?: number }) => void
}

interface Waiting {
  readonly jobId: string
  readonly req: string
  readonly epoch: number
  readonly hop: NonNullable<Tensor['hop']>
  readonly tensors: Map<string, Tensor>
  readonly sinceMs: number
}

export class StageExecutor {
  /** Sessions that have run once (their first run is not reported as a stage time). */
  private readonly warm = new WeakSet<ort.InferenceSession>()
  private readonly waiting = new Map<string, Waiting>()
  private compute: Promise<void> = Promise.resolve()
  /** How outputs go: in the plan's transfer mode (slots, grants or at once). */
  readonly transfers: TransferGate
  /** Tensors held in `waiting`, bounded; held ones expire after reassemblyTimeoutMs (refresh). */
  readonly held: HoldLimit
  private lastSweepMs = 0
  private queued = 0
  private readonly rt: DeviceRuntime
  /** Requests run, chunks rejected, runs slower than the profile (emulation could not keep up). */
  readonly counts = { runs: 0, rejected: 0, failed: 0, slowerThanProfile: 0 }
  /** The last run's excess over its dilated profile time, ms (runs are one at a time). */
  private lastLateMs = 0

  constructor(private readonly d: ExecutorDeps) {
    this.rt = d.runtime
    this.transfers = d.transfers ?? new TransferGate({ coordination: d.coordination, air: d.air, clock: this.rt.clock, timeScale: this.rt.timeScale })
    this.held = new HoldLimit(d.maxHeld?.tensors ?? MAX_HELD_TENSORS, d.maxHeld?.bytes ?? MAX_HELD_BYTES)
  }

  get queueDepth(): number {
    return this.queued
  }


  /** A whole tensor for one of this device's stages (from the network or from this device). */
  accept(jobId: string, t: Tensor): void {
    const hop = t.hop!
    const now = this.rt.clock()
    // held requests expire even when no plan or assignment ever comes to refresh them
    if (now - this.lastSweepMs >= 1000) this.refresh()
    const key = `${jobId}\u0000${t.req}\u0000${hop.stage}`
    const full = this.held.admit(t.data.byteLength)
    if (full) return this.reject(jobId, `tensor ${t.name} of ${t.req} dropped: ${full}`)
    let w = this.waiting.get(key)
    if (!w) this.waiting.set(key, (w = { jobId, req: t.req, epoch: t.epoch ?? 0, hop, tensors: new Map(), sinceMs: now }))
    const replaced = w.tensors.get(t.name)
    if (replaced) this.held.release(replaced.data.byteLength)
    w.tensors.set(t.name, t)
    this.tryRun(key, w)
  }

  /** Drops a held request's entry and gives back its room. */
  private forget(key: string, w: Waiting): void {
    this.waiting.delete(key)
    for (const t of w.tensors.values()) this.held.release(t.data.byteLength)
  }

  /** A plan or an assignment arrived (or time passed): requests held for it may run now; expired ones go. */
  refresh(): void {
    const now = this.rt.clock()
    this.lastSweepMs = now
    for (const [key, w] of this.waiting) {
      if (now - w.sinceMs > this.d.reassemblyTimeoutMs) {
        this.forget(key, w)
        const known = this.d.plan(w.jobId, w.epoch) && this.d.assignment(w.jobId, w.epoch)
        this.rt.onError(known
          ? `job ${w.jobId}: request ${w.req} stage ${w.hop.stage} never got all its inputs (has ${[...w.tensors.keys()].join(', ')}); dropped`
          : `job ${w.jobId}: request ${w.req} stage ${w.hop.stage} was held for epoch ${w.epoch}, whose plan or assignment never came; dropped`)
        continue
      }
      this.tryRun(key, w)
    }
  }

  private tryRun(key: string, w: Waiting): void {
    const plan = this.d.plan(w.jobId, w.epoch)
    const assignment = this.d.assignment(w.jobId, w.epoch)
    if (!plan || !assignment) return // held until the epoch's plan and assignment are here
    const part = plan.parts.find((p) => p.planId === w.hop.plan)
    const stage = assignment.stages.find((s) => s.planId === w.hop.plan && s.stage === w.hop.stage)
    if (!part || !stage?.model) {
      this.forget(key, w)
      this.counts.failed++
      return this.rt.onError(`job ${w.jobId}: request ${w.req} asks for stage ${w.hop.stage} of ${w.hop.plan} in epoch ${w.epoch}, which this device does not hold; dropped (the source re-sends)`)
    }
    const needs = stageInputs(part, w.hop.stage, (plan.inputs ?? []).map((i) => i.name))
    if (!needs.every((n) => w.tensors.has(n))) return
    this.forget(key, w)
    this.d.trace?.({ jobId: w.jobId, req: w.req, stage: w.hop.stage, phase: 'inputs', atMs: this.rt.clock(), t0: w.hop.t0 })
    this.queued++
    const model = stage.model
    const flops = stage.flops
    this.compute = this.compute.then(async () => {
      this.queued--
      try {
        const outputs = await this.run(w, model, flops, needs)
        this.d.trace?.({ jobId: w.jobId, req: w.req, stage: w.hop.stage, phase: 'ran', atMs: this.rt.clock(), t0: w.hop.t0, lateMs: this.lastLateMs })
        // sent on its own: a transfer waiting for its slot toward one receiver holds up no other
        this.forward(w, plan, part, outputs)
          .then(() => this.d.trace?.({ jobId: w.jobId, req: w.req, stage: w.hop.stage, phase: 'sent', atMs: this.rt.clock(), t0: w.hop.t0 }))
          .catch((err: Error) => this.rt.onError(`job ${w.jobId}: sending outputs of ${w.req}: ${err.message}`))
      } catch (err) {
        this.counts.failed++
        this.rt.onError(`job ${w.jobId}: request ${w.req} stage ${w.hop.stage} failed: ${(err as Error).message}`)
      }
    })
  }

  private async run(w: Waiting, model: NonNullable<AssignmentPayload['stages'][number]['model']>, flops: AssignmentPayload['stages'][number]['flops'], needs: readonly string[]): Promise<WireTensor[]> {
    const session = await this.d.session(model)
    const feeds: Record<string, ort.Tensor> = {}
    for (const n of session.inputNames) {
      const t = w.tensors.get(n)
      if (!t) throw new DoraError(ErrorCodes.STAGE_INPUT_MISSING, `stage model wants input ${n}, which the plan does not send (it sends ${needs.join(', ')})`)
      feeds[n] = toOrt(t)
    }
    const start = this.rt.clock()
    const out = await session.run(feeds)
    // a request is one sample through one forward pass
    const { tookMs, lateMs, slower } = await this.rt.dilateRun(start, this.rt.profileRunMs(flops))
    this.lastLateMs = lateMs
    if (slower) this.counts.slowerThanProfile++
    this.counts.runs++
    // a session's first run includes onnxruntime's lazy set-up: not a stage time to report
    if (!this.warm.has(session)) {
      this.warm.add(session)
      return session.outputNames.map((n) => fromOrt(n, out[n]!))
    }
    this.rt.timings.add(w.jobId, w.hop.stage, tookMs)
    return session.outputNames.map((n) => fromOrt(n, out[n]!))
  }

  /** Sends each output to the later stages that read it and model outputs to the results. */
  private async forward(w: Waiting, plan: PlanEpochPayload, part: PlanEpochPayload['parts'][number], outputs: readonly WireTensor[]): Promise<void> {
    const assignment = this.d.assignment(w.jobId, w.epoch)
    // results go to the job's consumer; a source that is not the consumer gets a receipt
    const consumer = resultsConsumer(plan, w.hop.src)
    const results: string[] = []
    for (const t of outputs) {
      for (const to of deliveries(part, t.name, w.hop.stage, plan.outputs ?? [])) {
        const stage = to.stage ?? w.hop.route.length
        const hop = { ...w.hop, stage }
        if (to.stage !== null && w.hop.route[to.stage] === this.rt.id) {
          this.accept(w.jobId, { req: w.req, name: t.name, dtype: t.dtype, shape: [...t.shape], epoch: w.epoch, hop, data: t.data })
          continue
        }
        const receiver = to.stage === null ? consumer : w.hop.route[to.stage]!
        const topic = to.stage === null ? topics.results(w.jobId, consumer) : topics.tensors(w.jobId, receiver)
        const send = () => this.rt.sendTensor(topic, t, { req: w.req, epoch: w.epoch, hop }, to.stage === null ? undefined : part.stages[w.hop.stage]?.codec)
        await this.transfers.send({ jobId: w.jobId, plan, part, assignment, receiver, bytes: t.data.byteLength }, send)
        if (to.stage === null) results.push(t.name)
      }
    }
    if (results.length && consumer !== w.hop.src) {
      const receipt: ReceiptPayload = { v: PROTOCOL_VERSION, req: w.req, epoch: w.epoch, outputs: results, to: consumer }
      await this.rt.publish(topics.results(w.jobId, w.hop.src, 'receipts'), encodeCbor(receipt))
    }
  }

  /** A chunk or tensor refused (counted and reported). */
  reject(jobId: string, why: string): void {
    this.counts.rejected++
    this.rt.onError(`job ${jobId}: ${why}`)
  }
}
