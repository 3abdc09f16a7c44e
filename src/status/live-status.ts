/**
 * The status page, live: once a second it samples each job's latency (measured, predicted,
 * bound) into the chart's history and sends the page's sections to every open page (server-sent
 * events). `start()` starts the timer; `stop()` clears it and ends every open stream.
 */
import type http from 'node:http'
import { StatusEvents } from './events.js'
import { LatencyHistory, type LatencyPoint } from './latency-history.js'
import { statusPage, statusSections, type StatusInputs } from './page.js'

/** Window of the chart's measured latency: the requests of the last few seconds. */
const MEASURED_WINDOW_MS = 5000

export class LiveStatus {
  private readonly history = new LatencyHistory()
  private readonly events = new StatusEvents()
  private timer: NodeJS.Timeout | null = null

  constructor(private readonly inputs: () => Omit<StatusInputs, 'history'>, private readonly intervalMs = 1000) {}

  start(): void {
    this.tick()
    this.timer = setInterval(() => this.tick(), this.intervalMs)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    this.events.close()
  }

  page(): string {
    return statusPage({ ...this.inputs(), history: this.history })
  }

  attach(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.events.attach(req, res, JSON.stringify(statusSections({ ...this.inputs(), history: this.history })))
  }

  private tick(): void {
    const s = this.inputs()
    const points = new Map<string, LatencyPoint>()
    for (const j of s.jobs) {
      points.set(j.id, {
        atMs: s.nowMs,
        measuredMs: j.measuredFigures(s.nowMs, MEASURED_WINDOW_MS)?.latencyMs ?? null,
        predictedMs: j.epoch?.predicted.latencyMs ?? null,
        boundMs: j.plannerJob?.qoe.latencyMs ?? null,
      })
    }
    this.history.sample(points)
    if (this.events.count) this.events.broadcast(JSON.stringify(statusSections({ ...s, history: this.history })))
  }
}
