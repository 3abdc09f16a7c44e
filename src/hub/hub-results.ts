/**
 * The hub as a job's consumer (topics.md § Results and receipts): the results the last stages
 * send to `hub` (`jobs/{job}/results/hub`) are received here, counted per job and per source,
 * with each request's latency measured at the hub (runtime/result-sink.ts). The model outputs a
 * request carries come from the job's plan epochs (the hub's own retained plan topic).
 */
import type { DoraClient } from '../mqtt/client.js'
import { decodeCbor } from '../protocol/codec.js'
import { CBOR_BUDGETS } from '../protocol/cbor-budgets.js'
import { planEpochSchema } from '../protocol/payloads.js'
import { HUB_SOURCE, filters, parseTopic } from '../protocol/topics.js'
import { ResultSink, type ConsumedStats } from '../runtime/result-sink.js'

export class HubResults {
  private readonly sinks = new Map<string, ResultSink>()
  /** Each job's model outputs by plan epoch (the newest 4). */
  private readonly outputs = new Map<string, Array<{ epoch: number; names: readonly string[] }>>()

  constructor(private readonly clock: () => number, private readonly onBad: (sender: string, topic: string, error: string) => void, private readonly maxJobs = 256) {}

  /** Subscribes to the jobs' plans and to every job's results for the hub. */
  async start(client: DoraClient): Promise<void> {
    await client.subscribe(filters.allJobPlans, (topic, payload) => this.onPlan(topic, payload))
    await client.subscribe(filters.resultsTo(HUB_SOURCE), (topic, payload) => this.onResults(topic, payload))
  }

  /** What the hub received of a job's results (null: none yet). */
  consumed(jobId: string): ConsumedStats | null {
    return this.sinks.get(jobId)?.stats ?? null
  }

  private onPlan(topic: string, payload: Buffer): void {
    const t = parseTopic(topic)
    if (t?.scope !== 'job' || !payload.length) return
    const d = decodeCbor(payload, CBOR_BUDGETS.plan)
    const p = d.ok ? planEpochSchema.safeParse(d.value) : null
    if (!p?.success || !p.data.outputs) return
    const list = (this.outputs.get(t.jobId) ?? []).filter((x) => x.epoch !== p.data.epoch)
    this.outputs.set(t.jobId, [...list, { epoch: p.data.epoch, names: p.data.outputs }].sort((a, b) => a.epoch - b.epoch).slice(-4))
  }

  private onResults(topic: string, payload: Buffer): void {
    const t = parseTopic(topic)
    if (t?.scope !== 'results' || t.kind !== 'results') return
    let sink = this.sinks.get(t.jobId)
    if (!sink) {
      // a bounded number of jobs: a results topic of a job the hub never planned is not news enough to keep
      if (this.sinks.size >= this.maxJobs || !this.outputs.has(t.jobId)) return
      sink = new ResultSink({
        clock: this.clock,
        outputs: (epoch) => {
          const list = this.outputs.get(t.jobId) ?? []
          return (list.find((x) => x.epoch === epoch) ?? list[list.length - 1])?.names ?? null
        },
        onError: (error) => this.onBad(t.jobId, topic, error),
      })
      this.sinks.set(t.jobId, sink)
    }
    sink.onMessage(payload)
  }
}
