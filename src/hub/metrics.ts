/**
 * The hub's Prometheus metrics (prom-client, the de-facto Node client: exposition format,
 * registries and default process metrics done right). Served on `hub.metrics.port` at /metrics.
 * Device and job figures are read from the hub at scrape time (no bookkeeping of our own);
 * planner figures are counted as the adapter runs. Figures of emulated devices carry
 * `emulated="true"`. The same port serves the status page at / (src/status/page.ts) and its live
 * updates at /events (src/status/events.ts).
 */
import http from 'node:http'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { DeviceRecord } from '../registry/registry.js'
import type { JobView } from '../views/hub-view.js'

export interface MetricsSource {
  devices: () => DeviceRecord[]
  jobs: () => JobView[]
  /** The status page (HTML), served at / beside the metrics. */
  statusPage?: () => string
  /** The status page's live updates (server-sent events), served at /events. */
  statusEvents?: (req: http.IncomingMessage, res: http.ServerResponse) => void
}

export class HubMetrics {
  readonly registry = new Registry()
  readonly adaptations: Counter<'job' | 'action'>
  readonly adaptSeconds: Histogram<'job'>
  /** Messages the hub could not accept, by kind (caps, heartbeat, spec, handler, ...) and error code. */
  readonly badMessages: Counter<'kind' | 'code'>
  /** Bad messages left unanswered by the per-sender rate limit. */
  readonly repliesSuppressed: Counter<'kind'>
  /** Connections the embedded broker refused by policy (client id taken, too many for the account). */
  readonly refusedConnections: Counter<'reason'>
  private server: http.Server | null = null

  constructor(private readonly source: MetricsSource) {
    const r = this.registry
    collectDefaultMetrics({ register: r, prefix: 'dora_hub_' })
    new Gauge({
      name: 'dora_devices', help: 'Devices known to the hub, by status', labelNames: ['status'], registers: [r],
      collect() {
        const all = source.devices()
        this.reset()
        this.set({ status: 'online' }, all.filter((d) => d.status === 'online').length)
        this.set({ status: 'offline' }, all.filter((d) => d.status === 'offline').length)
      },
    })
    const perDevice = (name: string, help: string, value: (d: DeviceRecord) => number | null | undefined) => new Gauge({
      name, help, labelNames: ['device', 'emulated'], registers: [r],
      collect() {
        this.reset()
        for (const d of source.devices()) {
          const v = value(d)
          if (d.status === 'online' && v !== null && v !== undefined) this.set({ device: d.id, emulated: String(d.caps?.emulated ?? false) }, v)
        }
      },
    })
    perDevice('dora_device_load', 'Load of the device, 0..1 (heartbeat EWMA; an emulated device reports its emulated busy share)', (d) => d.measurements.loadEwma)
    perDevice('dora_device_battery_percent', 'Battery level of the device, percent', (d) => d.lastHeartbeat?.batteryPct)
    perDevice('dora_device_link_throughput_bps', 'Measured throughput to the broker, bit/s (heartbeat EWMA)', (d) => d.measurements.linkThroughputBpsEwma)
    perDevice('dora_device_missed_heartbeats', 'Heartbeats missing from the sequence since the device joined', (d) => d.measurements.missedHeartbeats)
    const perJob = (name: string, help: string, value: (j: JobView) => number | null) => new Gauge({
      name, help, labelNames: ['job'], registers: [r],
      collect() {
        this.reset()
        for (const j of source.jobs()) {
          const v = value(j)
          if (v !== null) this.set({ job: j.id }, v)
        }
      },
    })
    perJob('dora_job_epoch', 'Current plan epoch of the job', (j) => j.epoch?.epoch ?? null)
    perJob('dora_job_predicted_latency_ms', "Mean latency the current epoch's plans predict, ms", (j) => j.epoch?.predicted.latencyMs ?? null)
    perJob('dora_job_predicted_energy_j_per_request', "Energy per request the current epoch's plans predict, J", (j) => j.epoch?.predicted.energyJPerRequest ?? null)
    perJob('dora_job_plans', 'Plans mixed in the current epoch', (j) => j.epoch?.parts.length ?? null)
    this.adaptations = new Counter({ name: 'dora_adapter_runs_total', help: 'Runs of the runtime adapter, by what it did', labelNames: ['job', 'action'], registers: [r] })
    this.badMessages = new Counter({ name: 'dora_hub_bad_messages_total', help: 'Messages the hub could not accept (answered or logged, never fatal), by kind and error code', labelNames: ['kind', 'code'], registers: [r] })
    this.repliesSuppressed = new Counter({ name: 'dora_hub_error_replies_suppressed_total', help: 'Bad messages counted but not answered (per-sender rate limit)', labelNames: ['kind'], registers: [r] })
    this.refusedConnections = new Counter({ name: 'dora_broker_refused_connections_total', help: 'Connections the embedded broker refused by policy', labelNames: ['reason'], registers: [r] })
    this.adaptSeconds = new Histogram({ name: 'dora_adapter_seconds', help: 'Time of one adapter run (re-cost, compose, re-plan), s', labelNames: ['job'], buckets: [0.0005, 0.002, 0.01, 0.05, 0.2, 1, 5], registers: [r] })
  }

  /** Serves /metrics on host:port; resolves the bound port. */
  async listen(host: string, port: number): Promise<number> {
    this.server = http.createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0]
      if (req.method === 'GET' && (path === '/' || path === '/status') && this.source.statusPage) {
        try {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(this.source.statusPage())
        } catch (err) {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`status page failed: ${(err as Error).message}\n`)
        }
        return
      }
      if (req.method === 'GET' && path === '/events' && this.source.statusEvents) {
        this.source.statusEvents(req, res)
        return
      }
      if (req.method !== 'GET' || path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics, the status page at /\n')
        return
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
      )
    })
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject)
      this.server!.listen(port, host, () => resolve())
    })
    return (this.server.address() as { port: number }).port
  }

  async close(): Promise<void> {
    const s = this.server
    this.server = null
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
  }
}
