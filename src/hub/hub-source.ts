/**
 * Requests that originate on the hub (a job whose source is `hub`: frames the hub receives, or a
 * test driver): a request source (src/runtime/requester.ts) on the hub's own MQTT connection. It
 * follows the job's plan epochs, sends at a rate, re-sends what is overdue, and collects results.
 */
import { ChunkBatcher, batcherOptions } from '../runtime/chunk-batcher.js'
import type { DoraClient } from '../mqtt/client.js'
import { decodeCbor } from '../protocol/codec.js'
import { CBOR_BUDGETS } from '../protocol/cbor-budgets.js'
import { planEpochSchema } from '../protocol/payloads.js'
import { HUB_SOURCE, topics } from '../protocol/topics.js'
import { Requester, type InputsFn, type RequesterDeps } from '../runtime/requester.js'
import { randomWireInputs } from '../runtime/inputs.js'
import { seededRandom } from '../shared/random.js'

export interface HubSourceOptions {
  readonly inputs?: InputsFn
  readonly chunkBytes?: number
  readonly timeoutMs?: number
  /** At most this many requests outstanding (beyond, new ones are skipped). */
  readonly maxOutstanding?: number
  readonly onComplete?: RequesterDeps['onComplete']
  readonly onError?: (message: string) => void
  /**
   * Each second, the latencies of the requests completed since the last report (in profile time:
   * divided by `timeScale`), as a source's heartbeat reports them (the hub's dashboards show them).
   */
  readonly report?: (r: { count: number; meanMs: number; p95Ms: number }) => void
  /** Emulation clock factor: reported latencies are wall-clock divided by it. */
  readonly timeScale?: number
}

export class HubSource {
  readonly requester: Requester
  private sendTimer: NodeJS.Timeout | null = null
  private tickTimer: NodeJS.Timeout | null = null
  private reportTimer: NodeJS.Timeout | null = null
  private reportedUpTo = 0

  /** Small request tensors batch per topic under load (topics.md § Tensor chunks, batches). */
  private readonly out: ChunkBatcher

  constructor(private readonly client: DoraClient, readonly jobId: string, private readonly o: HubSourceOptions = {}) {
    this.out = new ChunkBatcher((topic, payload) => client.publish(topic, payload, { qos: 1 }), batcherOptions(o.chunkBytes ?? 256 * 1024))
    this.requester = new Requester({
      src: HUB_SOURCE,
      jobId,
      chunkBytes: o.chunkBytes ?? 256 * 1024,
      clock: () => performance.timeOrigin + performance.now(),
      publish: (topic, payload) => this.out.send(topic, payload),
      inputs: o.inputs ?? ((n, plan) => randomWireInputs(plan.inputs ?? [], n)),
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      ...(o.timeScale !== undefined ? { timeScale: o.timeScale } : {}),
      ...(o.maxOutstanding !== undefined ? { maxOutstanding: o.maxOutstanding } : {}),
      ...(o.onComplete ? { onComplete: o.onComplete } : {}),
      ...(o.onError ? { onError: o.onError } : {}),
    })
  }

  async start(): Promise<void> {
    await this.client.subscribe(topics.job(this.jobId, 'plan'), (_t, payload) => {
      // an empty retained plan: the job stopped (no plan runs on the devices online)
      if (payload.length === 0) return this.requester.halt()
      const d = decodeCbor(payload, CBOR_BUDGETS.plan)
      const p = d.ok ? planEpochSchema.safeParse(d.value) : null
      if (p?.success) this.requester.setPlan(p.data)
    })
    // results come to the hub when it is the job's consumer (or the job answers each source); a receipt when they went elsewhere
    await this.client.subscribe(topics.results(this.jobId, HUB_SOURCE), (_t, payload) => this.requester.onResultChunk(payload))
    await this.client.subscribe(topics.results(this.jobId, HUB_SOURCE, 'receipts'), (_t, payload) => this.requester.onReceipt(payload))
    this.tickTimer = setInterval(() => this.requester.tick().catch(() => undefined), 250)
    if (this.o.report) this.reportTimer = setInterval(() => this.reportLatencies(), 1000)
  }

  private reportLatencies(): void {
    const all = this.requester.stats.latenciesMs
    const ms = all.slice(this.reportedUpTo).map((x) => x / (this.o.timeScale ?? 1)).sort((a, b) => a - b)
    this.reportedUpTo = all.length
    if (!ms.length) return
    this.o.report!({ count: ms.length, meanMs: ms.reduce((a, x) => a + x, 0) / ms.length, p95Ms: ms[Math.min(ms.length - 1, Math.ceil(0.95 * ms.length) - 1)]! })
  }

  /**
   * Sends `rateRps` requests a second until stopped: evenly spaced, or as Poisson arrivals
   * (exponential gaps from a seeded stream), the arrivals the cost model and the simulator assume
   * for the hub's requests (a doorbell's visitors, an automation's triggers).
   */
  drive(rateRps: number, o: { arrivals?: 'periodic' | 'poisson'; seed?: number } = {}): void {
    if (!(rateRps > 0)) throw new RangeError(`rate must be positive, got ${rateRps}`)
    const send = () => void this.requester.send().catch(() => undefined)
    if (o.arrivals !== 'poisson') {
      this.sendTimer = setInterval(send, 1000 / rateRps)
      return
    }
    const gapMs = poissonGapsMs(rateRps, o.seed ?? 1)
    const next = () => {
      this.sendTimer = setTimeout(() => {
        send()
        next()
      }, gapMs())
    }
    next()
  }

  /** Stops sending; waits up to `drainMs` for outstanding requests. */
  async stop(drainMs = 10_000): Promise<void> {
    if (this.sendTimer) clearTimeout(this.sendTimer)
    this.sendTimer = null
    const until = Date.now() + drainMs
    while (this.requester.outstandingCount > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
    if (this.tickTimer) clearInterval(this.tickTimer)
    this.tickTimer = null
    if (this.reportTimer) clearInterval(this.reportTimer)
    this.reportTimer = null
  }
}

/** Gaps between Poisson arrivals at `rateRps`, ms: exponential, from a seeded stream. */
export function poissonGapsMs(rateRps: number, seed: number): () => number {
  const rand = seededRandom(seed)
  return () => (-Math.log(1 - rand()) / rateRps) * 1000
}
