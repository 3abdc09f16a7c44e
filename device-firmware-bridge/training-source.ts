/**
 * The source of a training job (the device that holds the training data): drives optimizer
 * steps one after another. For each step it picks every micro-batch's route (replicas by their
 * shares), says `start` on `dora/v1/jobs/{job}/steps` with the routes, sends the M micro-batches'
 * inputs to stage 0 (request ids `{step}.{i}`), and waits until every device of every stage says
 * `done` (pipeline flushed, gradients all-reduced, parameters updated). The step's time is what
 * the cost model predicts as the training job's latency; samples per second its throughput.
 *
 * A step that cannot finish (a newer epoch says one of its devices left the fleet), or does not
 * within max(60 s, 10 x predicted), is counted failed and the next step starts on the newest
 * plan epoch. A stage that moves to another device carries its parameters and optimizer state
 * (stage-state.ts).
 */
import { Router } from '../src/runtime/route.js'
import { randomWireInputs } from '../src/runtime/inputs.js'
import { sendTensor, type WireTensor, type Payload } from '../src/runtime/send-tensor.js'
import { encodeCbor } from '../src/protocol/codec.js'
import { PROTOCOL_VERSION, topics } from '../src/protocol/topics.js'
import type { Tensor } from '../src/protocol/reassembly.js'
import type { PlanEpochPayload, TrainingStep } from '../src/protocol/payloads.js'

export interface TrainingSourceDeps {
  readonly src: string
  readonly jobId: string
  readonly chunkBytes: number
  readonly timeScale: number
  readonly clock: () => number
  readonly publish: (topic: string, payload: Payload) => Promise<void>
  /** Hands a tensor to this device's own stage 0. */
  readonly local: (t: Tensor) => void
  readonly onError: (message: string) => void
  /** A step without every `done` fails after max(this, 10x the predicted step); default 60 s. */
  readonly minStepTimeoutMs?: number
  /** Sends a micro-batch's input in the plan's transfer mode (the device's transfer-gate.ts; default: at once). */
  readonly sendIn?: (x: { plan: PlanEpochPayload; part: PlanEpochPayload['parts'][number]; receiver: string; bytes: number }, send: () => Promise<void>) => Promise<void>
}

export interface StepRecord {
  readonly step: number
  readonly epoch: number
  readonly planId: string
  readonly ok: boolean
  /** Wall time of the step, ms (emulation clock: divide by the time scale for profile time). */
  readonly ms: number
  readonly samples: number
  /** Mean objective over the step's micro-batches. */
  readonly loss: number | null
  /** Per stage: whether every replica reported the same parameter digest. */
  readonly replicasAgree: boolean
  readonly predictedMs: number
}

export class TrainingSource {
  private readonly plans = new Map<number, PlanEpochPayload>()
  private readonly router: Router
  private stepNo = 0
  private stopped = true
  private loop: Promise<void> = Promise.resolve()
  private waiting: { step: number; epoch: number; left: Set<string>; loss: number; losses: number; digests: Map<number, Set<string>>; resolve: () => void; failed: string | null } | null = null
  readonly records: StepRecord[] = []
  /** Told of each finished or failed step. */
  onRecord: ((s: StepRecord) => void) | null = null

  constructor(private readonly d: TrainingSourceDeps) {
    // micro-batches spread over a stage's replicas by their shares, as the cost model counts them
    this.router = new Router(d.src, false)
  }

  get jobId(): string {
    return this.d.jobId
  }

  setPlan(p: PlanEpochPayload): void {
    this.plans.set(p.epoch, p)
    // a device of the step in progress left the fleet: the step cannot finish; give it up now
    const w = this.waiting
    const gone = w ? [...w.left].map((k) => k.slice(k.indexOf('/') + 1)).filter((id) => p.departed?.includes(id)) : []
    if (w && gone.length) {
      w.failed = `${[...new Set(gone)].join(', ')} left the fleet (epoch ${p.epoch})`
      w.resolve()
    }
    for (const e of [...this.plans.keys()].sort((a, b) => a - b).slice(0, -4)) this.plans.delete(e)
  }

  /** A known plan epoch (the newest four are kept). */
  planOf(epoch: number): PlanEpochPayload | undefined {
    return this.plans.get(epoch)
  }

  onStep(m: TrainingStep): void {
    const w = this.waiting
    if (m.kind !== 'done' || !w || m.step !== w.step || m.epoch !== w.epoch) return
    if (!w.left.delete(`${m.stage}/${m.device}`)) return
    if (m.loss !== null) {
      w.loss += m.loss
      w.losses += m.microBatches
    }
    let d = w.digests.get(m.stage)
    if (!d) w.digests.set(m.stage, (d = new Set()))
    d.add(m.paramsSha256)
    if (!w.left.size) w.resolve()
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.loop = this.run().catch((err: Error) => this.d.onError(`training source: ${err.message}`))
  }

  /** Stops after the step in progress. */
  async stop(): Promise<void> {
    this.stopped = true
    await this.loop
  }

  private current(): PlanEpochPayload | undefined {
    const now = this.d.clock()
    const epochs = [...this.plans.values()].filter((p) => p.training).sort((a, b) => b.epoch - a.epoch)
    return epochs.find((p) => p.activateAtMs <= now) ?? epochs[epochs.length - 1]
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const plan = this.current()
      if (!plan) {
        await sleep(100)
        continue
      }
      await this.step(plan)
    }
  }

  private async step(plan: PlanEpochPayload): Promise<void> {
    const part = plan.parts.reduce((a, b) => (b.weight > a.weight ? b : a))
    const single = { ...plan, parts: [part] }
    const M = plan.training!.microBatchesPerStep
    const routes = Array.from({ length: M }, () => this.router.route(single).devices)
    const step = this.stepNo++
    const left = new Set(part.stages.flatMap((st, k) => st.devices.map((id) => `${k}/${id}`)))
    const done = new Promise<void>((resolve) => {
      this.waiting = { step, epoch: plan.epoch, left, loss: 0, losses: 0, digests: new Map(), resolve, failed: null }
    })
    const t0 = this.d.clock()
    const start: TrainingStep = { v: PROTOCOL_VERSION, kind: 'start', epoch: plan.epoch, planId: part.planId, step, routes, startedAtMs: Math.floor(t0) }
    await this.d.publish(topics.job(this.d.jobId, 'steps'), encodeCbor(start))
    // said again every second until the step ends: a device that learns of its stage only now (its
    // assignment comes after the plan) learns how many micro-batches it runs (devices take it once)
    const again = setInterval(() => {
      this.d.publish(topics.job(this.d.jobId, 'steps'), encodeCbor(start)).catch((err: Error) => this.d.onError(`training step ${step}: repeating its start: ${err.message}`))
    }, START_REPEAT_MS)
    const specs = (plan.inputs ?? []).map((s) => ({ ...s, shape: s.shape.length ? [s.shape[0]! * part.microBatch, ...s.shape.slice(1)] : [] }))
    for (let i = 0; i < M; i++) {
      const route = routes[i]!
      const hop = { src: this.d.src, plan: part.planId, stage: 0, route, t0: Math.floor(this.d.clock()) }
      for (const t of randomWireInputs(specs, step * M + i)) this.send(`${step}.${i}`, single, hop, route[0]!, t)
    }
    const predictedMs = plan.predicted.latencyMs
    const limitMs = Math.max(this.d.minStepTimeoutMs ?? 60_000, 10 * predictedMs * this.d.timeScale)
    let timer: NodeJS.Timeout | undefined
    const finished = await Promise.race([done.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), limitMs)))])
    clearTimeout(timer)
    clearInterval(again)
    const w = this.waiting!
    this.waiting = null
    const ms = this.d.clock() - t0
    const ok = finished && w.failed === null
    if (w.failed) this.d.onError(`training step ${step} (epoch ${plan.epoch}) failed: ${w.failed}; the next step starts on the newest epoch`)
    else if (!finished) this.d.onError(`training step ${step} (epoch ${plan.epoch}) did not finish within ${Math.round(limitMs)} ms: no word from ${[...w.left].join(', ')}`)
    const rec: StepRecord = {
      step, epoch: plan.epoch, planId: part.planId, ok, ms, samples: ok ? M * part.microBatch : 0,
      loss: w.losses ? w.loss / w.losses : null,
      replicasAgree: [...w.digests.values()].every((d) => d.size === 1),
      predictedMs,
    }
    this.records.push(rec)
    this.onRecord?.(rec)
  }

  private send(req: string, plan: PlanEpochPayload, hop: { src: string; plan: string; stage: number; route: string[]; t0: number }, to: string, t: WireTensor): void {
    const epoch = plan.epoch
    if (to === this.d.src) return this.d.local({ req, name: t.name, dtype: t.dtype, shape: [...t.shape], epoch, hop, data: t.data })
    const send = () => sendTensor(this.d.publish, topics.tensors(this.d.jobId, to), t, { req, epoch, hop }, this.d.chunkBytes)
    ;(this.d.sendIn ? this.d.sendIn({ plan, part: plan.parts[0]!, receiver: to, bytes: t.data.byteLength }, send) : send())
      .catch((err: Error) => this.d.onError(`training step input ${req} to ${to}: ${err.message}`))
  }
}

/** How often the source repeats a step's start while the step runs. */
const START_REPEAT_MS = 1000

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
