/**
 * A request source (issue 6): sends a job's requests into the running plan and collects their
 * results (or receipts, when the results go to the job's consumer). It runs where the data is:
 * inside a camera's device agent, or beside the hub (source `hub`). Each request gets a route from the epoch active when it is sent (route.ts); its input
 * tensors go to the stages that read them (flow.ts), in-process when this device runs stage 0.
 *
 * No accepted request is lost: a request whose result has not come back in `timeoutMs` (doubling
 * with each attempt), or whose route holds a device that left the fleet (a newer epoch's
 * `departed`), is sent again on the current epoch (a new attempt), up to
 * `maxAttempts`; a late result of an earlier attempt still completes it, and any second result is
 * counted as a duplicate and ignored. Requests that exhaust their attempts are reported failed
 * with the reason.
 */
import type { Hop, TensorChunk } from '../protocol/chunks.js'
import { decodeTensorMessage } from '../protocol/chunk-batch.js'
import { Reassembler, type Tensor } from '../protocol/reassembly.js'
import { topics } from '../protocol/topics.js'
import { decodeCbor } from '../protocol/codec.js'
import { CBOR_BUDGETS } from '../protocol/cbor-budgets.js'
import { formatIssues, receiptSchema, type PlanEpochPayload } from '../protocol/payloads.js'
import { deliveries } from './flow.js'
import { Router } from './route.js'
import { sendTensor, type WireTensor, type Payload } from './send-tensor.js'
import type { AirGrants } from './air-grants.js'

/** The inputs of request number n. */
export type InputsFn = (n: number, plan: PlanEpochPayload) => WireTensor[]

export interface RequesterDeps {
  /** This source's name: its device id, or `hub`. */
  readonly src: string
  readonly jobId: string
  readonly publish: (topic: string, payload: Payload) => Promise<void>
  readonly clock: () => number
  readonly chunkBytes: number
  /** The inputs of request number n (default: none: the caller must give them). */
  readonly inputs: InputsFn
  /** Hands a tensor to this device's own stage (when the source runs stage 0 itself). */
  readonly local?: (t: Tensor) => void
  readonly timeoutMs?: number
  /** Emulation clock factor: the default timeout (10x the predicted latency, at least 10 s) is in profile time, stretched by it. */
  readonly timeScale?: number
  readonly maxAttempts?: number
  /**
   * At most this many requests outstanding: a new one beyond it is skipped, not accepted (a
   * camera drops a frame it cannot get processed rather than queue it without end).
   */
  readonly maxOutstanding?: number
  readonly onComplete?: (r: { id: string; latencyMs: number; outputs: Map<string, Tensor>; epoch: number }) => void
  readonly onError?: (message: string) => void
  /** Hub-granted air (topics.md § Air grants): a request's inputs go by grants when its plan's do. */
  readonly air?: AirGrants
}

interface Outstanding {
  readonly id: string
  readonly n: number
  readonly t0: number
  attempt: number
  lastSentMs: number
  epoch: number
  route: string[]
  readonly outputs: Map<string, Tensor>
  /** Model outputs answered: received here, or receipted as sent to the job's consumer. */
  readonly answered: Set<string>
}

export interface RequesterStats {
  /** Requests accepted and sent. */
  sent: number
  /** Requests not accepted because too many were outstanding. */
  skipped: number
  completed: number
  failed: number
  resent: number
  duplicates: number
  outstanding: number
  latenciesMs: number[]
  failures: Array<{ id: string; reason: string }>
}

export class Requester {
  private plans: PlanEpochPayload[] = []
  private readonly router: Router
  private readonly outstanding = new Map<string, Outstanding>()
  private readonly done = new Set<string>()
  private readonly results: Reassembler
  private n = 0
  /** Why the job is not running, after the hub cleared its plan (null: running, or no plan yet). */
  private halted: string | null = null
  /** The re-sending pass in flight (tick), and whether another was asked for meanwhile. */
  private ticking: Promise<void> | null = null
  private tickAgain = false
  readonly stats: RequesterStats = { sent: 0, skipped: 0, completed: 0, failed: 0, resent: 0, duplicates: 0, outstanding: 0, latenciesMs: [], failures: [] }

  constructor(private readonly d: RequesterDeps) {
    this.router = new Router(d.src)
    this.results = new Reassembler({ timeoutMs: 60_000, maxTensorBytes: 256 * 1024 * 1024, maxPendingBytes: 512 * 1024 * 1024 })
  }

  /** A plan epoch of the job (from its retained plan topic). */
  setPlan(plan: PlanEpochPayload): void {
    if (plan.jobId !== this.d.jobId || this.plans.some((p) => p.epoch >= plan.epoch)) return
    this.plans = [...this.plans, plan].slice(-4)
    this.halted = null
  }

  /**
   * The job stopped: the hub cleared its retained plan (an empty message on the plan topic; no
   * plan runs on the devices online). Outstanding requests fail as lost, and so does every
   * request offered until a new epoch comes (not served, counted in `failed`).
   */
  halt(reason = 'the job is not running (its plan epoch was cleared)'): void {
    this.plans = []
    this.halted = reason
    for (const o of this.outstanding.values()) this.fail(o, `lost: ${reason}`)
    this.outstanding.clear()
    this.stats.outstanding = 0
  }

  private fail(o: { id: string }, reason: string): void {
    this.done.add(o.id)
    this.stats.failed++
    // the list is a report, bounded; the count is the total
    if (this.stats.failures.length < 1000) this.stats.failures.push({ id: o.id, reason })
  }

  /** The epoch requests are sent on now: the newest one whose activation time has come. */
  current(): PlanEpochPayload | null {
    const now = this.d.clock()
    const active = this.plans.filter((p) => p.activateAtMs <= now)
    return active[active.length - 1] ?? this.plans[0] ?? null
  }

  plan(epoch: number): PlanEpochPayload | undefined {
    return this.plans.find((p) => p.epoch === epoch)
  }

  /** Sends one new request; returns its id, or null when there is no plan to send it on or too many are outstanding. */
  async send(): Promise<string | null> {
    const plan = this.current()
    if (!plan) {
      // a stopped job: the request is offered and not served, so it is lost
      if (this.halted) this.fail({ id: `${this.d.src}.${this.n++}` }, `not served: ${this.halted}`)
      return null
    }
    if (this.outstanding.size >= (this.d.maxOutstanding ?? Infinity)) {
      this.stats.skipped++
      return null
    }
    const n = this.n++
    const id = `${this.d.src}.${n}`
    const o: Outstanding = { id, n, t0: Math.round(this.d.clock()), attempt: 0, lastSentMs: 0, epoch: plan.epoch, route: [], outputs: new Map(), answered: new Set() }
    this.outstanding.set(id, o)
    this.stats.sent++
    this.stats.outstanding = this.outstanding.size
    // accepted: from here on a failed send is retried (tick), never dropped
    await this.dispatch(o, plan).catch((err: Error) => this.d.onError?.(`request ${id}: sending: ${err.message}`))
    return id
  }

  private async dispatch(o: Outstanding, plan: PlanEpochPayload): Promise<void> {
    const route = this.router.route(plan)
    const part = plan.parts.find((p) => p.planId === route.planId)!
    o.epoch = plan.epoch
    o.route = route.devices
    o.lastSentMs = this.d.clock()
    o.outputs.clear()
    o.answered.clear()
    const req = `${o.id}.${o.attempt}`
    for (const t of this.d.inputs(o.n, plan)) {
      for (const to of deliveries(part, t.name, -1, [])) {
        const hop: Hop = { src: this.d.src, plan: route.planId, stage: to.stage!, route: route.devices, t0: o.t0 }
        const dest = route.devices[to.stage!]!
        if (dest === this.d.src && this.d.local) {
          this.d.local({ req, name: t.name, dtype: t.dtype, shape: [...t.shape], epoch: plan.epoch, hop, data: t.data })
        } else {
          const send = () => sendTensor(this.d.publish, topics.tensors(this.d.jobId, dest), t, { req, epoch: plan.epoch, hop }, this.d.chunkBytes)
          await (this.d.air && part.transfers === 'grants' ? this.d.air.withAir(t.data.byteLength, send) : send())
        }
      }
    }
  }

  /** One message from this source's results topic (`jobs/{job}/results/{src}`), a chunk or a batch (results of other sources are ignored). */
  onResultChunk(payload: Uint8Array): void {
    const m = decodeTensorMessage(payload)
    if (!m.ok) return this.d.onError?.(`result: ${m.error}`)
    for (const r of m.chunks) {
      if (!r.ok) this.d.onError?.(`result: ${r.error}`)
      else this.onResult(r.chunk)
    }
  }

  /** One receipt (`jobs/{job}/receipts/{src}`): results of a request went to the job's consumer. */
  onReceipt(payload: Uint8Array): void {
    // a receipt is a map of scalars and at most 64 output names: anything bigger is refused unread
    const d = decodeCbor(payload, CBOR_BUDGETS.receipt)
    const p = d.ok ? receiptSchema.safeParse(d.value) : null
    if (!p?.success) return this.d.onError?.(`receipt: ${d.ok ? formatIssues(p!.error!) : d.error}`)
    const r = p.data
    if (!r.req.startsWith(`${this.d.src}.`)) return
    this.answer(r.req.slice(0, r.req.lastIndexOf('.')), r.outputs, r.epoch)
  }

  private onResult(chunk: TensorChunk): void {
    if (chunk.hop?.src !== this.d.src) return
    const added = this.results.add(chunk, this.d.clock())
    if (added.status === 'rejected') return this.d.onError?.(`result: ${added.error}`)
    if (added.status !== 'complete') return
    const t = added.tensor
    const id = t.req.slice(0, t.req.lastIndexOf('.'))
    this.outstanding.get(id)?.outputs.set(t.name, t)
    this.answer(id, [t.name], t.epoch)
  }

  /** Outputs of request `id` answered; completes it once every output of its plan is. */
  private answer(id: string, names: readonly string[], epoch: number | null | undefined): void {
    const o = this.outstanding.get(id)
    if (!o) {
      if (this.done.has(id)) this.stats.duplicates++
      return
    }
    for (const n of names) o.answered.add(n)
    const want = this.plan(epoch ?? o.epoch)?.outputs ?? names
    if (!want.every((n) => o.answered.has(n))) return
    this.outstanding.delete(id)
    this.stats.outstanding = this.outstanding.size
    this.done.add(id)
    const latencyMs = this.d.clock() - o.t0
    this.stats.completed++
    this.stats.latenciesMs.push(latencyMs)
    this.d.onComplete?.({ id, latencyMs, outputs: o.outputs, epoch: epoch ?? o.epoch })
  }

  /**
   * Re-sends what is overdue or routed through a device the current epoch dropped; call it
   * periodically (a few times a second) and after each new plan. One pass runs at a time: a call
   * while one is in flight (its sends can outlast the period: a slow link, a broker that is away)
   * does not start a second pass over the same requests, it asks for one more pass after this one,
   * and resolves with it.
   */
  tick(): Promise<void> {
    if (this.ticking) {
      this.tickAgain = true
      return this.ticking
    }
    this.ticking = (async () => {
      try {
        do {
          this.tickAgain = false
          await this.resendDue()
        } while (this.tickAgain)
      } finally {
        this.ticking = null
      }
    })()
    return this.ticking
  }

  private async resendDue(): Promise<void> {
    // devices that left the fleet since a request's epoch (a hub that does not say: any device the current plan dropped)
    const departedSince = (epoch: number) => new Set(this.plans.filter((p) => p.epoch > epoch).flatMap((p) => p.departed ?? []))
    for (const o of [...this.outstanding.values()]) {
      // answered, failed or halted while an earlier request was being sent: nothing to re-send
      if (!this.outstanding.has(o.id)) continue
      // the plan now, not the one of the pass's start: a new epoch may have come during a send
      const plan = this.current()
      if (!plan) return
      const now = this.d.clock()
      const present = new Set(plan.parts.flatMap((p) => p.stages.flatMap((s) => s.devices)))
      const knowsDepartures = this.plans.every((p) => p.departed !== undefined)
      const timeoutMs = this.d.timeoutMs ?? Math.max(10_000, 10 * plan.predicted.latencyMs) * (this.d.timeScale ?? 1)
      const left = knowsDepartures ? departedSince(o.epoch) : null
      const gone = o.epoch < plan.epoch ? o.route.filter((x) => x !== this.d.src && (left ? left.has(x) : !present.has(x))) : []
      // each attempt waits twice as long as the one before: an overloaded plan is not flooded
      const late = now - o.lastSentMs > timeoutMs * 2 ** o.attempt
      if (!gone.length && !late) continue
      const reason = gone.length ? `${gone.join(', ')} left the plan` : `no result in ${timeoutMs} ms`
      if (o.attempt + 1 >= (this.d.maxAttempts ?? 4)) {
        this.outstanding.delete(o.id)
        this.fail(o, `${o.attempt + 1} attempts; last: ${reason}`)
        this.d.onError?.(`request ${o.id} failed after ${o.attempt + 1} attempts: ${reason}`)
        continue
      }
      o.attempt++
      this.stats.resent++
      // a send that fails (the broker is away) is tried again when this attempt is overdue
      await this.dispatch(o, plan).catch((err: Error) => this.d.onError?.(`request ${o.id}: re-sending: ${err.message}`))
    }
    this.stats.outstanding = this.outstanding.size
  }

  get jobId(): string {
    return this.d.jobId
  }

  get outstandingCount(): number {
    return this.outstanding.size
  }
}

/** A source keeps at most about 10 s of its requests outstanding (at least 8); beyond, it skips frames. */
export function outstandingCap(rateRps: number): number {
  return Math.max(8, Math.ceil(rateRps * 10))
}
