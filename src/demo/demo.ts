/**
 * `dora demo` (EMULATION): the hub on its embedded broker, the emulated shared Wi-Fi, and one
 * device process per device of a scenario. The hub profiles and plans the scenario's job on the
 * devices as they join and distributes the stage models; once every device of the plan has its
 * stages open, the sources send requests at the scenario's rate (the hub for a job whose source
 * is the hub, the cameras for theirs) and the demo reports progress each second and a summary
 * at the end. A device can be killed mid-run; the adapter re-plans and the sources re-send what
 * the dead device held. The emulation clock (how many times slower than the profiles everything
 * runs) is chosen from a measurement of this host unless given (host-clock.ts).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { setTimeout as pause } from 'node:timers/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../config/load.js'
import { DoraError, ErrorCodes } from '../errors.js'
import { Hub } from '../hub/hub.js'
import type { HubSource } from '../hub/hub-source.js'
import type { Logger } from '../log.js'
import { WIFI_STANDARDS } from '../planner/network/wifi.js'
import { readScenario } from '../scenario/load.js'
import { WifiProxy } from '../emulation/wifi-proxy.js'
import { meanAndP95 } from '../shared/stats.js'
import { outstandingCap, type RequesterStats } from '../runtime/requester.js'
import { EmulatedFleet, type TraceEvent } from './fleet.js'
import { breakdown, type StageBreakdown } from './breakdown.js'
import { demoClock, type DemoClock } from './host-clock.js'
import { predictionFor, slotLatencyMs, trainingSummary, transferMode } from './predictions.js'
import type { StepRecord } from '../../device-firmware-bridge/training-source.js'

/** A wired device's link to the hub: gigabit Ethernet (the cost model's wired links assume the same). */
const WIRED_RATE_BPS = 1e9
/** The dashboard's MQTT username (an observer: reads everything, publishes nothing). */
export const DASHBOARD_USER = 'dashboard'
/** The status page's port unless --status-port says otherwise (Prometheus exporters' usual 9464). */
export const DEFAULT_STATUS_PORT = 9464

export interface DemoOptions {
  readonly scenarioFile: string
  /** Seconds of requests (wall-clock); null: long enough for about 60 requests (30-300 s). */
  readonly durationS: number | null
  /** Broker port (0: any free port). */
  readonly port: number
  /** Port of the status page and Prometheus metrics (0 or unset: any free port; `dora demo` defaults to 9464). */
  readonly statusPort?: number
  readonly coordination: 'slots' | 'none'
  /** Kill this device (or `auto`: one that holds a stage and is no source) this many seconds in. */
  readonly kill: { readonly device: string; readonly atS: number } | null
  readonly log: Logger
  /** Progress lines (one a second while requests run). */
  readonly progress: (line: string) => void
  /** Aborting stops the demo at once: devices stopped (SIGKILL 2 s after SIGTERM), the hub stopped, then runDemo rejects with DEMO_STOPPED. */
  readonly signal?: AbortSignal
  /** Multiplies the scenario's request rates (and its throughput bound): a lighter load for a small machine. */
  readonly load?: number
  /** `dora`, or a baseline whose plan runs as is (for comparisons). */
  readonly planner?: string
  /** How long to wait for the fleet to be ready, s. */
  readonly readyTimeoutS?: number
  /** Emulation clock factor (default: chosen from a measurement of this host, src/demo/host-clock.ts). */
  readonly timeScale?: number
}

export interface DemoSummary {
  emulated: true
  scenario: string
  jobId: string
  model: string
  coordination: 'slots' | 'none'
  planner: string
  /** The factor the scenario's rates were multiplied by (1: as written). */
  load: number
  durationS: number
  /** How the emulation clock (`timeScale`) was chosen. */
  clock: { source: 'measured' | 'given'; why: string; hostFlopsPerSec: { conv: number; matmul: number; elementwise: number } | null; probeProcesses: number | null }
  requests: number
  /** Frames the sources skipped (too many outstanding): never accepted, so never lost. */
  skipped: number
  completed: number
  /** Accepted requests that failed every attempt (each in `failures` with its reason). */
  lost: number
  /** Accepted requests still on their way when the run ended (after draining for up to 15-20 s). */
  unfinished: number
  resent: number
  duplicates: number
  latencyMs: { mean: number | null; p95: number | null }
  predictedLatencyMs: { mean: number | null; p95: number | null }
  throughputRps: number
  offeredRps: number
  energyJ: number
  epochs: Array<{ epoch: number; atS: number; reason: string; devices: string[] }>
  killed: { device: string; atS: number } | null
  failures: Array<{ id: string; reason: string }>
  /**
   * With slots: the network scheduler's own prediction of the mean latency (release to result
   * under the slot schedule plus the expected wait for a micro-batch's turn), mixed by plan weight.
   * `predictedLatencyMs` is the cost model's, which counts transfers as scheduled but no slot waits.
   */
  predictedSlotLatencyMs: number | null
  /**
   * How transfers went: `slots` or `at once` as the planner chose per plan (the mode it predicts
   * faster; `predictedLatencyMs` is that mode's), or `at once (--uncoordinated)`.
   */
  transferMode?: string
  /** Per stage: mean transfer in, queue + compute, and send time of the requests (device traces, wall-clock ms). */
  breakdownMs: StageBreakdown[]
  /**
   * The emulation clock factor: profile times ran this many times slower than the profiles say
   * (a host slower than the emulated devices); latency, throughput and energy above are in
   * profile time (wall-clock divided by it).
   */
  timeScale: number
  /**
   * A training job: `requests` counts optimizer steps, `completed` the finished ones, `lost` the
   * failed ones; `latencyMs` is the step time and `throughputRps` samples per second.
   */
  training: TrainingSummary | null
}

export interface TrainingSummary {
  steps: number
  failedSteps: number
  microBatchesPerStep: number
  samplesPerStep: number
  stepMs: { mean: number | null; p95: number | null }
  predictedStepMs: number
  samplesPerS: number
  predictedSamplesPerS: number
  lossFirst: number | null
  lossLast: number | null
  /** Every replica of every stage reported the same parameter digest after every step. */
  replicasAgree: boolean
  /**
   * The plan's devices' energy over the run (idle included, from the start of training to the
   * end of the drain) per sample trained, and the plan's prediction.
   */
  energyJPerSample: number | null
  predictedEnergyJPerSample: number
}

export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const scenario = await readScenario(o.scenarioFile)
  const job = scaleLoad(scenario.job, o.load ?? 1)
  const clock = await demoClock(o.scenarioFile, scenario, job, o.timeScale)
  const timeScale = clock.timeScale
  const durationS = o.durationS ?? autoDurationS(job, timeScale)
  if (o.kill && o.kill.atS >= durationS) throw new DoraError(ErrorCodes.USAGE, `--at ${o.kill.atS} must be before the end of the run (${durationS} s)`)
  const training = !!job.training
  const passwords = new Map(scenario.devices.map((d) => [d.id, randomBytes(12).toString('base64url')]))
  // a read-only MQTT login for dashboards (Home Assistant, mosquitto_sub) while the demo runs
  const dashboard = { username: DASHBOARD_USER, password: randomBytes(12).toString('base64url') }
  // stage models and the hub's state: a demo starts afresh and leaves nothing behind
  const cacheDir = mkdtempSync(join(tmpdir(), 'dora-demo-models-'))
  const config = await loadConfig(undefined, {
    hub: { heartbeatTimeoutMs: 6000, stateMinIntervalMs: 500, metrics: { host: '127.0.0.1', port: o.statusPort ?? 0 }, stateDir: join(cacheDir, 'hub-state') },
    broker: { embedded: { host: '127.0.0.1', port: o.port, wsPort: 0 } },
    auth: { devices: scenario.devices.map((d) => ({ id: d.id, password: passwords.get(d.id)! })), observers: [dashboard] },
    homeassistant: { enabled: true, stateIntervalMs: 2000 },
    jobs: [{ ...job, planner: o.planner ?? 'dora', network: { standard: scenario.network.standard, availableAirtime: scenario.network.availableAirtime } }],
  }).catch((err: unknown) => {
    rmSync(cacheDir, { recursive: true, force: true })
    throw err
  })
  o.progress(`EMULATION: ${scenario.devices.length} emulated devices of ${scenario.name} on an emulated ${scenario.network.standard} network; profiling ${job.model}...`)
  o.progress(clockLine(clock))
  const hub = new Hub(config, o.log)
  let proxy: WifiProxy | null = null
  let fleet: EmulatedFleet | null = null
  let hubSource: HubSource | null = null
  try {
    await hub.start().catch((err: Error) => {
      throw /EADDRINUSE/.test(err.message) ? new DoraError(ErrorCodes.USAGE, `${err.message} (--port 0 and --status-port 0 pick free ports)`) : err
    })
    const brokerPort = hub.boundPorts!.port
    o.progress(`status page: http://127.0.0.1:${hub.metricsPort}/ (live; Prometheus metrics at /metrics)`)
    o.progress(`dashboard login (read-only MQTT observer): mqtt://127.0.0.1:${brokerPort} username ${dashboard.username} password ${dashboard.password}`
      + ` (e.g. mosquitto_sub -h 127.0.0.1 -p ${brokerPort} -u ${dashboard.username} -P ${dashboard.password} -t dora/v1/hub/state -t 'dora/v1/ha/#' -v; Home Assistant discovery is on under homeassistant/)`)
    const service = hub.jobs.find((j) => j.id === job.id)!
    proxy = new WifiProxy({ brokerHost: '127.0.0.1', brokerPort, standard: WIFI_STANDARDS[scenario.network.standard]!, availableAirtime: scenario.network.availableAirtime, timeScale })
    const lines: string[] = []
    const errorsBy = new Map<string, number>()
    const steps: StepRecord[] = []
    const traces: TraceEvent[] = []
    let tracing = false
    fleet = new EmulatedFleet({
      scenarioFile: o.scenarioFile, cacheDir, coordination: o.coordination, heartbeatMs: 1000,
      onLine: (id, line, stream) => {
        if (stream !== 'stderr') return
        lines.push(`${id}: ${line}`)
        // what a device could not do is news (the first few of each device, then a count at the end)
        const n = (errorsBy.get(id) ?? 0) + 1
        errorsBy.set(id, n)
        if (n <= 5) o.progress(`${id}: ${line}${n === 5 ? ' (further messages of this device are counted, not shown)' : ''}`)
      },
      onTrace: (e) => {
        if (tracing) traces.push(e)
      },
      onStep: (_id, r) => {
        steps.push(r)
        o.progress(`step ${r.step} (epoch ${r.epoch}) ${r.ok ? `done in ${(r.ms / timeScale).toFixed(0)} ms profile time (${(r.ms / 1000).toFixed(1)} s wall; predicted ${r.predictedMs.toFixed(0)} ms), loss ${r.loss?.toPrecision(5) ?? '-'}${r.replicasAgree ? '' : ', REPLICAS DISAGREE'}` : 'FAILED'}`)
      },
      timeScale,
      ...(o.signal ? { signal: o.signal } : {}),
    })
    const sourceRate = new Map<string | null, number>()
    // wall-clock rates: on a stretched emulation clock, sources slow down alike
    if (job.sources?.length) for (const s of job.sources) sourceRate.set(s.device, s.rateRps / timeScale)
    else sourceRate.set(job.source ?? null, job.rateRps! / timeScale)
    for (const d of scenario.devices) {
      // a wired device's own link, paced on the emulation clock too
      const url = `mqtt://127.0.0.1:${await proxy.addStation(d.id, d.linkRateBps ?? WIRED_RATE_BPS, { wired: !d.linkRateBps })}`
      const rate = sourceRate.get(d.id)
      const holdsData = training && d.id === job.source
      fleet.spawn({ id: d.id, url, password: passwords.get(d.id)!, source: rate && !training ? `${job.id}=${rate}` : null, train: holdsData ? job.id : null })
    }
    o.progress(`hub on mqtt://127.0.0.1:${brokerPort} (embedded broker); ${fleet.ids.length} device processes started (each through its emulated link: Wi-Fi stations sharing the air, wired ones at 1 Gbit/s)`)

    // ready: an epoch whose devices all have their stage models open
    // stage models travel over the emulated Wi-Fi, as slow as its clock
    const readyTimeoutS = o.readyTimeoutS ?? 180 * Math.max(1, timeScale / 4)
    const readyBy = Date.now() + readyTimeoutS * 1000
    let lastNote = ''
    let stable = null as { epoch: number; sinceMs: number } | null
    for (;;) {
      const e = service.epoch
      const online = hub.registry.snapshot().filter((d) => d.status === 'online')
      const devices = e ? Object.keys(e.assignments) : []
      // every device joined, the plan made after that is open on its devices, and stays for a second
      const ready = e !== null && online.length === scenario.devices.length && devices.every((id) => (online.find((d) => d.id === id)?.lastHeartbeat?.epoch ?? 0) >= e.epoch)
      if (ready && stable?.epoch === e.epoch && Date.now() - stable.sinceMs >= 1000) break
      if (ready && stable?.epoch !== e.epoch) stable = { epoch: e.epoch, sinceMs: Date.now() }
      if (!ready) stable = null
      const notReady = e ? devices.filter((id) => (online.find((d) => d.id === id)?.lastHeartbeat?.epoch ?? 0) < e.epoch) : []
      const note = !e ? `${online.length}/${scenario.devices.length} devices online; planning`
        : notReady.length ? `epoch ${e.epoch}: waiting for ${notReady.join(', ')} to open their stage models`
        : online.length < scenario.devices.length ? `epoch ${e.epoch} ready; waiting for ${scenario.devices.length - online.length} more device(s) to join`
        : `epoch ${e.epoch} ready on every device; checking that it stays`
      if (note !== lastNote) o.progress(note)
      lastNote = note
      if (Date.now() > readyBy) throw new DoraError(ErrorCodes.DEMO_NOT_READY, `the fleet was not ready after ${readyTimeoutS} s (${note}); device messages: ${lines.slice(-5).join(' | ') || 'none'}`)
      await sleep(200, o.signal)
    }
    const e0 = service.epoch!
    o.progress(training
      ? `epoch ${e0.epoch} ready: ${describeEpoch(e0)}; predicted ${e0.predicted.latencyMs.toFixed(0)} ms an optimizer step of ${job.training!.microBatchesPerStep} micro-batches. Training for ${durationS} s (wall).`
      : `epoch ${e0.epoch} ready: ${describeEpoch(e0)}; predicted ${e0.predicted.latencyMs.toFixed(0)} ms a request. Sending at ${(job.rateRps ?? [...sourceRate.values()].reduce((a, x) => a + x, 0) * timeScale)} requests/s${timeScale !== 1 ? ` of profile time (${[...sourceRate.values()].reduce((a, x) => a + x, 0).toFixed(2)}/s wall)` : ''} for ${durationS} s.`)

    // run
    const energyAt = (): Map<string, number> => new Map(hub.registry.snapshot().map((d) => [d.id, d.lastHeartbeat?.energyJ ?? 0]))
    const energy0 = energyAt()
    const lastEnergy = new Map(energy0)
    const start = Date.now()
    const epochs: DemoSummary['epochs'] = [{ epoch: e0.epoch, atS: 0, reason: e0.reason, devices: Object.keys(e0.assignments) }]
    const hubRate = training ? undefined : sourceRate.get(null)
    if (hubRate) {
      hubSource = await hub.source(job.id, { maxOutstanding: outstandingCap(hubRate), timeScale })
      hubSource.drive(hubRate)
    }
    tracing = true
    fleet.startSources()
    let killed: DemoSummary['killed'] = null
    const predictedSamples: Array<{ mean: number; p95: number; slots: number | null }> = []
    const modesSeen = new Set<string>()
    while (Date.now() - start < durationS * 1000) {
      await sleep(1000, o.signal)
      const t = (Date.now() - start) / 1000
      const e = service.epoch!
      predictedSamples.push({ ...predictionFor(e, o.coordination), slots: slotLatencyMs(e) })
      modesSeen.add(transferMode(e, o.coordination))
      if (e.epoch !== epochs[epochs.length - 1]!.epoch) {
        epochs.push({ epoch: e.epoch, atS: Math.round(t * 10) / 10, reason: e.reason, devices: Object.keys(e.assignments) })
        o.progress(`epoch ${e.epoch} at ${t.toFixed(1)} s: ${e.reason}; now ${describeEpoch(e)}, predicted ${e.predicted.latencyMs.toFixed(0)} ms`)
      }
      if (o.kill && !killed && t >= o.kill.atS) {
        const victim = o.kill.device === 'auto' ? pickVictim(e.assignments, sourceRate) : o.kill.device
        if (!victim || !fleet.alive(victim)) o.progress(`--kill-device: ${victim ? `${victim} is not running` : 'no device holds a stage without being a source'}; nothing killed`)
        else {
          fleet.kill(victim)
          killed = { device: victim, atS: Math.round(t * 10) / 10 }
          o.progress(`killed ${victim} at ${t.toFixed(1)} s (SIGKILL, no goodbye)`)
        }
      }
      for (const [id, j] of energyAt()) if (j > 0) lastEnergy.set(id, j)
      const s = hubSource?.requester.stats
      const joules = [...lastEnergy].reduce((a, [id, j]) => a + Math.max(0, j - (energy0.get(id) ?? 0)), 0)
      const recent = s ? meanAndP95(s.latenciesMs.slice(-20)) : null
      o.progress(`t=${t.toFixed(0)}s epoch ${e.epoch}${s ? ` sent ${s.sent} done ${s.completed} resent ${s.resent} latency ${fmt(recent!.mean)} ms (p95 ${fmt(recent!.p95)})` : ''} energy ${joules.toFixed(0)} J (emulated)`)
    }

    // drain and collect
    o.progress(training ? 'stopping the training source after its step in progress...' : 'stopping the sources; waiting for outstanding requests...')
    const trained = training ? await fleet.stopTraining(Math.max(60_000, 3 * service.epoch!.predicted.latencyMs * timeScale)) : new Map<string, StepRecord[] | null>()
    const stepRecords = [...trained.values()].find((r) => r) ?? steps
    const stats: RequesterStats[] = []
    if (hubSource) {
      await hubSource.stop(o.signal?.aborted ? 0 : 15_000)
      stats.push(hubSource.requester.stats)
    }
    const fromDevices = await fleet.stopSources(20_000)
    for (const [id, s] of fromDevices) {
      if (s) stats.push(s)
      else o.progress(`source ${id} reported no statistics (${killed?.device === id ? 'it was killed' : 'it did not answer'})`)
    }
    for (const [id, j] of energyAt()) if (j > 0) lastEnergy.set(id, j)
    const elapsedS = (Date.now() - start) / 1000
    const latencies = stats.flatMap((s) => s.latenciesMs).map((x) => x / timeScale)
    const lat = latencies.length ? meanAndP95(latencies) : null
    const pred = predictedSamples.length ? { mean: avg(predictedSamples.map((p) => p.mean)), p95: avg(predictedSamples.map((p) => p.p95)) } : null
    const sum = (k: 'sent' | 'skipped' | 'completed' | 'failed' | 'resent' | 'duplicates') => stats.reduce((a, s) => a + s[k], 0)
    const energyJ = round([...lastEnergy].reduce((a, [id, j]) => a + Math.max(0, j - (energy0.get(id) ?? 0)), 0))
    const common = {
      emulated: true as const,
      scenario: scenario.name,
      jobId: job.id,
      model: job.model,
      coordination: o.coordination,
      planner: o.planner ?? 'dora',
      load: o.load ?? 1,
      durationS,
      energyJ,
      epochs,
      killed,
      breakdownMs: breakdown(traces),
      timeScale,
      clock: { source: clock.source, why: clock.why, hostFlopsPerSec: clock.host?.slowest ?? null, probeProcesses: clock.host?.processes ?? null },
    }
    if (training) {
      // energy of the devices the plan runs on (the prediction counts theirs, idle included)
      const planned = new Set(Object.keys(service.epoch!.assignments))
      const plannedJ = [...lastEnergy].filter(([id]) => planned.has(id)).reduce((a, [id, j]) => a + Math.max(0, j - (energy0.get(id) ?? 0)), 0)
      const t = trainingSummary(stepRecords, job.training!.microBatchesPerStep, service.epoch!, timeScale, plannedJ)
      return {
        ...common,
        requests: stepRecords.length, skipped: 0, completed: t.steps, lost: t.failedSteps, unfinished: 0, resent: 0, duplicates: 0,
        latencyMs: t.stepMs, predictedLatencyMs: { mean: round(t.predictedStepMs), p95: round(t.predictedStepMs) },
        throughputRps: t.samplesPerS, offeredRps: t.predictedSamplesPerS,
        failures: stepRecords.filter((r) => !r.ok).map((r) => ({ id: `step ${r.step}`, reason: 'a device did not finish the step in time' })),
        predictedSlotLatencyMs: null,
        training: t,
      }
    }
    return {
      ...common,
      requests: sum('sent'),
      skipped: sum('skipped'),
      completed: sum('completed'),
      lost: sum('failed'),
      unfinished: sum('sent') - sum('completed') - sum('failed'),
      resent: sum('resent'),
      duplicates: sum('duplicates'),
      latencyMs: { mean: lat ? round(lat.mean) : null, p95: lat ? round(lat.p95) : null },
      predictedLatencyMs: { mean: pred ? round(pred.mean) : null, p95: pred && Number.isFinite(pred.p95) ? round(pred.p95) : null },
      throughputRps: round((sum('completed') / elapsedS) * timeScale),
      offeredRps: round(((sum('sent') + sum('skipped')) / durationS) * timeScale),
      failures: stats.flatMap((s) => s.failures),
      transferMode: [...modesSeen].join(', '),
      predictedSlotLatencyMs: o.coordination === 'slots' && predictedSamples.length && predictedSamples.every((p) => p.slots !== null) ? round(avg(predictedSamples.map((p) => p.slots!))) : null,
      training: null,
    }
  } finally {
    await fleet?.stop(o.signal?.aborted ? 2000 : 10_000)
    await proxy?.close()
    await hub.stop()
    rmSync(cacheDir, { recursive: true, force: true })
  }
}

/** Enough wall-clock seconds for about 60 requests at the job's rate on the clock, 30-300 s. */
function autoDurationS(job: { rateRps?: number | undefined; sources?: Array<{ rateRps: number }> | undefined; training?: unknown }, timeScale: number): number {
  const rate = job.sources?.reduce((a, s) => a + s.rateRps, 0) ?? job.rateRps ?? 0
  if (job.training || !(rate > 0)) return 30
  return Math.round(Math.min(300, Math.max(30, (60 * timeScale) / rate)))
}

function clockLine(c: DemoClock): string {
  const host = c.host ? ` Host measured with the devices' micro-benchmark in ${c.host.processes} processes at once: ${(c.host.slowest.conv / 1e9).toFixed(0)} GFLOP/s conv, ${(c.host.slowest.matmul / 1e9).toFixed(0)} matmul, ${(c.host.slowest.elementwise / 1e9).toFixed(1)} elementwise a process.` : ''
  return c.timeScale === 1
    ? `EMULATION CLOCK x1 (real time): ${c.why}.${host}`
    : `EMULATION CLOCK x${c.timeScale}: every profile time (compute, Wi-Fi rates, slots) runs ${c.timeScale}x slower than the profiles say, and figures are reported divided by ${c.timeScale}. Why: ${c.why}.${host}`
}

/** The job with its rates (and throughput bound) multiplied by `f`. */
function scaleLoad<J extends { rateRps?: number | undefined; sources?: Array<{ device: string; rateRps: number }> | undefined; qoe: { throughputRps?: number | undefined } }>(job: J, f: number): J {
  if (f === 1) return job
  return {
    ...job,
    ...(job.rateRps !== undefined ? { rateRps: job.rateRps * f } : {}),
    ...(job.sources ? { sources: job.sources.map((x) => ({ ...x, rateRps: x.rateRps * f })) } : {}),
    qoe: { ...job.qoe, ...(job.qoe.throughputRps !== undefined ? { throughputRps: job.qoe.throughputRps * f } : {}) },
  }
}

function describeEpoch(e: { parts: ReadonlyArray<{ plan: { stages: ReadonlyArray<{ devices: readonly string[] }> }; weight: number }> }): string {
  return e.parts.map((p) => `${p.plan.stages.map((s) => s.devices.join('+')).join(' -> ')}${e.parts.length > 1 ? ` (${(p.weight * 100).toFixed(0)}%)` : ''}`).join(' | ')
}

/** A device that holds a stage and is not a source (killing a source ends its requests with it). */
function pickVictim(assignments: Readonly<Record<string, unknown>>, sources: ReadonlyMap<string | null, number>): string | null {
  return Object.keys(assignments).find((id) => !sources.has(id)) ?? null
}

/** Waits `ms`; rejects with DEMO_STOPPED at once when the demo is aborted. */
const sleep = (ms: number, signal?: AbortSignal) =>
  pause(ms, undefined, signal ? { signal } : {}).catch((err: Error) => {
    throw signal?.aborted ? new DoraError(ErrorCodes.DEMO_STOPPED, `the demo was stopped (${String(signal.reason)})`) : err
  })
const avg = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length
const round = (x: number) => Math.round(x * 10) / 10
const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-')
