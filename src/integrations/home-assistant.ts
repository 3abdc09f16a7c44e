/**
 * Home Assistant integration (service shell; payloads in ha-discovery.ts). On start it clears
 * stale Dora configs retained under the discovery prefix (devices and jobs that no longer
 * exist), publishes a discovery config per entity of every known device and job, and keeps their
 * JSON state topics current (on registry events and every `stateIntervalMs`). It re-publishes
 * every config when Home Assistant announces itself (`<prefix>/status` = `online`, its birth
 * message), clears the configs of removed devices and cancelled jobs, and takes the goal select's
 * commands.
 */
import type { DoraClient } from '../mqtt/client.js'
import type { Logger } from '../log.js'
import type { DeviceRecord, RegistryEvent } from '../registry/registry.js'
import type { FleetView, JobView } from '../views/hub-view.js'
import { gapsText } from '../planner/adapt/adapter.js'
import { ha } from '../protocol/topics.js'
import { clearConfigs, deviceConfigs, isDoraConfig, jobConfigs, type DeviceState, type HaMessage, type JobState } from './ha-discovery.js'

/** Least time between two re-publications of every config on Home Assistant's birth message. */
const BIRTH_GAP_MS = 2000

export interface HomeAssistantDeps {
  readonly client: DoraClient
  readonly registry: FleetView
  readonly jobs: () => readonly JobView[]
  /** Changes a job's goal (a dashboard's command); returns what was wrong, or null. */
  readonly setGoal: (jobId: string, goal: string) => string | null
  readonly prefix: string
  readonly stateIntervalMs: number
  /** How long to collect retained configs at start before clearing stale ones. */
  readonly staleScanMs?: number
  readonly clock: () => number
  readonly log: Logger
  /** Told of a message it refuses (a goal for no job, a bad goal): logged and counted there, rate-limited. */
  readonly onBad?: (topic: string, error: string) => void
}

export class HomeAssistant {
  private readonly devices = new Set<string>()
  private readonly jobIds = new Set<string>()
  private timer: NodeJS.Timeout | null = null
  private birthTimer: NodeJS.Timeout | null = null
  private lastBirthMs = -Infinity
  /** Per device: its energy counter at the start of the day, J (and which day). */
  private readonly dayStart = new Map<string, { day: string; base: number; carried: number; last: number }>()
  private readonly onEvent = (e: RegistryEvent) => {
    this.sync().catch((err: Error) => this.d.log.warn({ err: err.message }, 'home assistant: sync failed'))
    this.publishDevice(e.device).catch(() => undefined)
  }

  constructor(private readonly d: HomeAssistantDeps) {}

  async start(): Promise<void> {
    const { client, prefix } = this.d
    // stale configs: what is retained under our node ids now, minus what exists
    const retained = new Set<string>()
    const collect = (topic: string, payload: Buffer) => {
      if (isDoraConfig(prefix, topic) && payload.length > 0) retained.add(topic)
    }
    await client.subscribe(ha.allConfigs(prefix), collect)
    await new Promise((r) => setTimeout(r, this.d.staleScanMs ?? 1000))
    await client.unsubscribe(ha.allConfigs(prefix), collect)
    const current = new Set(this.allConfigs().map((m) => m.topic))
    const stale = [...retained].filter((t) => !current.has(t))
    for (const t of stale) await client.publish(t, '', { qos: 1, retain: true })
    if (stale.length) this.d.log.info({ cleared: stale.length }, 'home assistant: stale discovery configs cleared')
    await this.publishAll()
    await client.subscribe(ha.status(prefix), (_t, payload) => {
      if (payload.toString() !== 'online') return
      this.onBirth()
    })
    await client.subscribe(ha.allJobGoalSets, (topic, payload) => this.onGoal(topic, payload.toString()))
    this.d.registry.on('event', this.onEvent)
    this.timer = setInterval(() => this.publishStates().catch(() => undefined), this.d.stateIntervalMs)
  }

  /**
   * Home Assistant announced itself: every config again, at most once per BIRTH_GAP_MS (births
   * in between are answered once, after the gap: any dashboard account may send one).
   */
  private onBirth(): void {
    if (this.birthTimer) return
    const waitMs = Math.max(0, this.lastBirthMs + BIRTH_GAP_MS - this.d.clock())
    this.birthTimer = setTimeout(() => {
      this.birthTimer = null
      this.lastBirthMs = this.d.clock()
      this.d.log.info('home assistant is online: re-publishing discovery')
      this.publishAll().catch((err: Error) => this.d.log.warn({ err: err.message }, 'home assistant: re-publishing failed'))
    }, waitMs)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    if (this.birthTimer) clearTimeout(this.birthTimer)
    this.birthTimer = null
    this.d.registry.off('event', this.onEvent)
  }

  /** Jobs came or went (submitted, cancelled): configs follow. */
  jobsChanged(): void {
    this.sync().catch((err: Error) => this.d.log.warn({ err: err.message }, 'home assistant: sync failed'))
  }

  private allConfigs(): HaMessage[] {
    return [
      ...this.d.registry.snapshot().filter((x) => x.caps).flatMap((x) => deviceConfigs(this.d.prefix, { id: x.id, kind: x.caps!.kind, emulated: x.caps!.emulated })),
      ...this.d.jobs().flatMap((j) => jobConfigs(this.d.prefix, { id: j.id, model: j.model })),
    ]
  }

  private async publishAll(): Promise<void> {
    for (const m of this.allConfigs()) await this.d.client.publish(m.topic, m.payload, { qos: 1, retain: true })
    this.devices.clear()
    this.jobIds.clear()
    for (const x of this.d.registry.snapshot()) if (x.caps) this.devices.add(x.id)
    for (const j of this.d.jobs()) this.jobIds.add(j.id)
    await this.publishStates()
  }

  /** New devices and jobs get configs; removed ones have theirs cleared. */
  private async sync(): Promise<void> {
    const devices = new Map(this.d.registry.snapshot().filter((x) => x.caps).map((x) => [x.id, x]))
    const jobs = new Map(this.d.jobs().map((j) => [j.id, j]))
    const out: HaMessage[] = []
    for (const [id, x] of devices) if (!this.devices.has(id)) out.push(...deviceConfigs(this.d.prefix, { id, kind: x.caps!.kind, emulated: x.caps!.emulated }))
    for (const id of this.devices) if (!devices.has(id)) out.push(...clearConfigs(this.d.prefix, 'device', id))
    for (const [id, j] of jobs) if (!this.jobIds.has(id)) out.push(...jobConfigs(this.d.prefix, { id, model: j.model }))
    for (const id of this.jobIds) if (!jobs.has(id)) out.push(...clearConfigs(this.d.prefix, 'job', id))
    this.devices.clear()
    for (const id of devices.keys()) this.devices.add(id)
    this.jobIds.clear()
    for (const id of jobs.keys()) this.jobIds.add(id)
    for (const m of out) await this.d.client.publish(m.topic, m.payload, { qos: 1, retain: true })
  }

  private async publishStates(): Promise<void> {
    for (const x of this.d.registry.snapshot()) if (x.caps) await this.publishDevice(x)
    for (const j of this.d.jobs()) await this.d.client.publish(ha.jobState(j.id), JSON.stringify(this.jobState(j)), { qos: 1, retain: true })
  }

  private async publishDevice(x: DeviceRecord): Promise<void> {
    if (!x.caps) return
    await this.d.client.publish(ha.deviceState(x.id), JSON.stringify(this.deviceState(x)), { qos: 1, retain: true })
  }

  private deviceState(x: DeviceRecord): DeviceState {
    const hb = x.lastHeartbeat
    const stages = this.d.jobs().flatMap((j) => (j.epoch?.assignments[x.id] ?? []).map((a) => `${j.id} stage ${a.stage} (layers ${a.layers[0]}-${a.layers[1]})`))
    return {
      loadPct: hb ? Math.round(hb.load * 1000) / 10 : null,
      batteryPct: hb?.batteryPct ?? x.caps?.power.battery?.levelPct ?? null,
      stage: stages.length ? stages.join('; ') : 'none',
      energyTodayWh: this.energyToday(x.id, hb?.energyJ),
      linkMbps: hb?.linkThroughputBps != null ? Math.round(hb.linkThroughputBps / 1e4) / 100 : null,
      emulated: x.caps!.emulated,
    }
  }

  /** Energy since local midnight, Wh, from the device's running counter (across agent restarts). */
  private energyToday(id: string, joules: number | undefined): number | null {
    if (joules === undefined) return null
    const day = new Date(this.d.clock()).toDateString()
    let s = this.dayStart.get(id)
    if (!s || s.day !== day) this.dayStart.set(id, (s = { day, base: joules, carried: 0, last: joules }))
    if (joules < s.last) {
      // the agent restarted: keep what it had used today, count on from zero
      s.carried += s.last - s.base
      s.base = 0
    }
    s.last = joules
    return Math.round(((s.carried + joules - s.base) / 3600) * 1000) / 1000
  }

  private jobState(j: JobView): JobState {
    const e = j.epoch
    const job = j.plannerJob
    const m = j.measuredFigures(this.d.clock())
    const latencyMs = m?.latencyMs ?? e?.predicted.latencyMs ?? null
    const throughputRps = m?.throughputRps ?? (e ? job?.rateRps ?? null : null)
    const q = job?.qoe
    // an epoch that runs the closest plan (no plan meets the bounds) does not meet them, whatever the figures
    const qoeMet = !!e && !e.closest && latencyMs !== null && Number.isFinite(latencyMs)
      && (q?.latencyMs === undefined || latencyMs <= q.latencyMs)
      && (q?.p95LatencyMs === undefined || (m ? m.p95Ms : e.predicted.p95LatencyMs) <= q.p95LatencyMs)
      && (q?.throughputRps === undefined || (throughputRps ?? 0) >= q.throughputRps * 0.95)
    const round = (x: number | null) => (x === null || !Number.isFinite(x) ? null : Math.round(x * 100) / 100)
    return {
      latencyMs: round(latencyMs),
      throughputRps: round(throughputRps),
      qoeMet,
      energyJPerRequest: round(e?.predicted.energyJPerRequest ?? null),
      epoch: e?.epoch ?? null,
      goal: job?.goal ?? 'latency',
      measured: m !== null,
      // Home Assistant keeps at most 255 characters of a state
      plan: (j.notRunning ? `not running: ${j.notRunning}` : !e ? 'no plan yet' : e.closest ? `no plan meets the QoE bounds; running the closest plan (${gapsText(e.closest) || 'the mix misses them'})` : 'meets the QoE bounds').slice(0, 250),
    }
  }

  private onGoal(topic: string, goal: string): void {
    const levels = topic.split('/')
    const jobId = levels.length === 7 ? levels[4]! : ''
    const job = this.d.jobs().find((j) => j.id === jobId)
    const bad = (error: string) => (this.d.onBad ? this.d.onBad(topic, error) : this.d.log.warn({ topic }, `home assistant: ${error}`))
    if (!job) return bad('a goal for an unknown job')
    const problem = this.d.setGoal(job.id, goal.trim().slice(0, 64))
    // refused or not, the states go out again (Home Assistant's select shows the job's real goal)
    if (problem) bad(problem)
    else this.d.log.info({ jobId, goal }, 'home assistant set the goal')
    this.publishStates().catch(() => undefined)
  }
}

