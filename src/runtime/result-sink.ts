/**
 * A job's consumer (topics.md § Results and receipts): receives the results the last stages send
 * to it (`jobs/{job}/results/{consumer}`), reassembles them, and counts each request once it has
 * every model output of its plan, with its latency measured here: arrival minus the request's
 * send time at its source (`hop.t0`, the source's clock; one clock in the emulated fleet, NTP
 * between real devices). Bounded: at most `maxPending` requests half-answered, the oldest dropped.
 */
import type { TensorChunk } from '../protocol/chunks.js'
import { decodeTensorMessage } from '../protocol/chunk-batch.js'
import { Reassembler, type Tensor } from '../protocol/reassembly.js'

export interface ConsumedStats {
  /** Requests whose results all arrived. */
  completed: number
  /** Results of a request already counted (a re-sent request answered twice). */
  duplicates: number
  /** Latency of each completed request, source's send to the last output here, wall-clock ms. */
  latenciesMs: number[]
  /** Completed requests by source (device id, or `hub`). */
  bySource: Record<string, number>
}

export interface ResultSinkOptions {
  readonly clock: () => number
  /** The model outputs a request's results carry, from the job's plan epoch (null: any one output completes it). */
  readonly outputs: (epoch: number | null) => readonly string[] | null
  readonly onComplete?: (r: { id: string; src: string; latencyMs: number; outputs: Map<string, Tensor> }) => void
  readonly onError?: (message: string) => void
  /** Latencies kept (the newest), default 100,000. */
  readonly maxLatencies?: number
  readonly maxPending?: number
}

export class ResultSink {
  readonly stats: ConsumedStats = { completed: 0, duplicates: 0, latenciesMs: [], bySource: {} }
  private readonly reassembly = new Reassembler({ timeoutMs: 60_000, maxTensorBytes: 256 * 1024 * 1024, maxPendingBytes: 512 * 1024 * 1024 })
  private readonly pending = new Map<string, { src: string; t0: number; outputs: Map<string, Tensor> }>()
  /** Requests counted (bounded: the newest 100,000). */
  private readonly done = new Set<string>()

  constructor(private readonly o: ResultSinkOptions) {}

  /** One message of the consumer's results topic: a chunk or a batch. */
  onMessage(payload: Uint8Array): void {
    const m = decodeTensorMessage(payload)
    if (!m.ok) return this.o.onError?.(`result: ${m.error}`)
    for (const r of m.chunks) {
      if (!r.ok) this.o.onError?.(`result: ${r.error}`)
      else this.onChunk(r.chunk)
    }
  }

  private onChunk(chunk: TensorChunk): void {
    if (!chunk.hop) return this.o.onError?.(`result ${chunk.req}: no hop (source and send time)`)
    const added = this.reassembly.add(chunk, this.o.clock())
    if (added.status === 'rejected') return this.o.onError?.(`result: ${added.error}`)
    if (added.status !== 'complete') return
    const t = added.tensor
    // a request is its source's `{src}.{n}`; its attempts (`.{attempt}`) answer it alike
    const id = t.req.slice(0, t.req.lastIndexOf('.'))
    if (this.done.has(id)) {
      this.stats.duplicates++
      return
    }
    const p = this.pending.get(id) ?? { src: chunk.hop.src, t0: chunk.hop.t0, outputs: new Map<string, Tensor>() }
    this.pending.set(id, p)
    p.outputs.set(t.name, t)
    const want = this.o.outputs(t.epoch ?? null) ?? [t.name]
    if (!want.every((n) => p.outputs.has(n))) return this.bound()
    this.pending.delete(id)
    this.done.add(id)
    if (this.done.size > 100_000) this.done.delete(this.done.values().next().value!)
    const latencyMs = this.o.clock() - p.t0
    this.stats.completed++
    this.stats.bySource[p.src] = (this.stats.bySource[p.src] ?? 0) + 1
    this.stats.latenciesMs.push(latencyMs)
    if (this.stats.latenciesMs.length > (this.o.maxLatencies ?? 100_000)) this.stats.latenciesMs.shift()
    this.o.onComplete?.({ id, src: p.src, latencyMs, outputs: p.outputs })
  }

  private bound(): void {
    while (this.pending.size > (this.o.maxPending ?? 4096)) this.pending.delete(this.pending.keys().next().value!)
  }
}
