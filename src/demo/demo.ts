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
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../config/load.js'
import type { Config } from '../config/schema.js'
import { DoraError, ErrorCodes } from '../errors.js'
import { Hub } from '../hub/hub.js'
import { writeFileAtomic } from '../shared/atomic-write.js'
import type { HubSource } from '../hub/hub-source.js'
import type { JobService } from '../hub/job-service.js'
import type { PlanEpoch } from '../planner/adapt/adapter.js'
import { WIFI_STANDARDS } from '../planner/network/wifi.js'
import { readScenario } from '../scenario/load.js'
import type { JobConfig, Scenario } from '../scenario/schema.js'
import { WifiProxy } from '../emulation/wifi-proxy.js'
import { outstandingCap, type RequesterStats } from '../runtime/requester.js'
import { EmulatedFleet, type TraceEvent } from './fleet.js'
import { breakdown } from './breakdown.js'
import { demoClock, type DemoClock } from './host-clock.js'
import { predictionFor, slotLatencyMs, trainingDurationS, trainingSummary, transferMode } from './predictions.js'
import { clockLine, describeEpoch, progressLine } from './progress.js'
import { demoSleep, waitReady } from './ready.js'
import { requestResult, trainingResult } from './summary.js'
import type { DemoOptions, DemoSummary } from './types.js'
import type { StepRecord } from '../../device-firmware-bridge/training-source.js'

/** A wired device's link to the hub: gigabit Ethernet (the cost model's wired links assume the same). */
const WIRED_RATE_BPS = 1e9
/** The dashboard's MQTT username (an observer: reads everything, publishes nothing). */
export const DASHBOARD_USER = 'dashboard'
/** The status page's port unless --status-port says otherwise (Prometheus exporters' usual 9464). */
export const DEFAULT_STATUS_PORT = 9464

export type { DemoOptions, DemoSummary, TrainingSummary } from './types.js'

export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const setup = await prepare(o)
  const { scenario, job, clock } = setup
  o.progress(`EMULATION: ${scenario.devices.length} emulated devices of ${scenario.name} on an emulated ${scenario.network.standard} network; profiling ${job.model}...`)
  o.progress(clockLine(clock))
  const hub = new Hub(setup.config, o.log)
  const parts: Parts = { proxy: null, fleet: null, hubSource: null, installedModelBytes: () => 0 }
  try {
    // deployment is setup: the first plan's stage models go straight into the devices' model cache
    const deployed = deployBeforeRun(hub, setup.cacheDir, o.progress)
    parts.installedModelBytes = deployed.bytes
    const brokerPort = await startHub(hub, o, setup.dashboard)
    const service = hub.jobs.find((j) => j.id === job.id)!
    const wired = await startFleet(o, setup, brokerPort, parts)
    const timeoutS = o.readyTimeoutS ?? 180 * Math.max(1, setup.timeScale / 4)
    await waitReady(hub, service, { devices: scenario.devices.length, timeoutS, progress: o.progress, lines: wired.lines, signal: o.signal })
    deployed.end()
    // a training run without --duration: two optimizer steps as predicted on the clock
    const ran = setup.training && o.durationS === null ? { ...setup, durationS: trainingDurationS(service.epoch!.predicted.latencyMs, setup.timeScale) } : setup
    announce(o, ran, service.epoch!, wired.sourceRate)
    const run = await runRequests(o, ran, hub, service, wired, parts)
    return await collect(o, ran, hub, service, wired, parts, run)
  } finally {
    // the run is over: the jobs stop planning first, so the devices leaving is not a fleet to re-plan
    // (it would clear the epoch and log a warning that the job stopped running)
    for (const j of hub.jobs) await j.stop()
    await parts.fleet?.stop(o.signal?.aborted ? 2000 : 10_000)
    await parts.proxy?.close()
    await hub.stop()
    rmSync(setup.cacheDir, { recursive: true, force: true })
  }
}

/**
 * Until the run begins, the hub installs each epoch's stage models in the devices' shared model
 * cache (the devices find them there and fetch nothing) and the demo says so: deploying a model is
 * setup, not the job's data path, and on a stretched clock the emulated Wi-Fi would take many
 * minutes to carry a large model (DistilBERT's first stage, 180 MB, at x163: 6.6 min at
 * 600 Mbit/s / 163). Not paced by the emulated Wi-Fi. Once the run begins, a re-plan's models are
 * fetched over the emulated Wi-Fi, as a real fleet would fetch them, sharing the air with the job.
 */
export function deployBeforeRun(hub: Pick<Hub, 'installModels'>, cacheDir: string, progress: (line: string) => void): { end: () => void; bytes: () => number } {
  let bytes = 0
  const done = new Set<string>()
  hub.installModels = async (models) => {
    const fresh = models.filter((m) => !done.has(m.sha256))
    for (const m of fresh) {
      await writeFileAtomic(join(cacheDir, `${m.sha256}.onnx`), m.bytes)
      done.add(m.sha256)
      bytes += m.bytes.length
    }
    if (fresh.length) progress(`deploying: ${fresh.length} stage model(s), ${(fresh.reduce((a, m) => a + m.bytes.length, 0) / 1e6).toFixed(1)} MB, installed in the emulated devices' model cache (setup: not carried over the emulated Wi-Fi; models of a re-plan during the run are)`)
  }
  return { end: () => void (hub.installModels = null), bytes: () => bytes }
}

/** What the demo starts and must stop, whatever happens. */
interface Parts {
  proxy: WifiProxy | null
  fleet: EmulatedFleet | null
  hubSource: HubSource | null
  /** Bytes of stage models installed into the devices' cache before the run, not over the emulated Wi-Fi (deployBeforeRun). */
  installedModelBytes: () => number
}

interface Setup {
  readonly scenario: Scenario
  readonly job: JobConfig
  readonly clock: DemoClock
  readonly timeScale: number
  readonly durationS: number
  readonly training: boolean
  readonly passwords: ReadonlyMap<string, string>
  readonly dashboard: { username: string; password: string }
  readonly cacheDir: string
  readonly config: Readonly<Config>
}

/** The scenario read, its load applied, the clock chosen, and the hub's configuration. */
async function prepare(o: DemoOptions): Promise<Setup> {
  const scenario = await readScenario(o.scenarioFile)
  const job = scaleLoad(scenario.job, o.load ?? 1)
  const clock = await demoClock(o.scenarioFile, scenario, job, o.timeScale)
  const timeScale = clock.timeScale
  const durationS = o.durationS ?? autoDurationS(job, timeScale)
  if (o.kill && o.kill.atS >= durationS) throw new DoraError(ErrorCodes.USAGE, `--at ${o.kill.atS} must be before the end of the run (${durationS} s)`)
  const passwords = new Map(scenario.devices.map((d) => [d.id, randomBytes(12).toString('base64url')]))
  // a read-only MQTT login for dashboards (Home Assistant, mosquitto_sub) while the demo runs
  const dashboard = { username: DASHBOARD_USER, password: randomBytes(12).toString('base64url') }
  // stage models and the hub's state: a demo starts afresh and leaves nothing behind
  const cacheDir = mkdtempSync(join(tmpdir(), 'dora-demo-models-'))
  const config = await loadConfig(undefined, {
    hub: { heartbeatTimeoutMs: 6 * heartbeatWallMs(timeScale), stateMinIntervalMs: 500, metrics: { host: '127.0.0.1', port: o.statusPort ?? 0 }, stateDir: join(cacheDir, 'hub-state') },
    broker: { embedded: { host: '127.0.0.1', port: o.port, wsPort: 0 } },
    auth: { devices: scenario.devices.map((d) => ({ id: d.id, password: passwords.get(d.id)! })), observers: [dashboard] },
    homeassistant: { enabled: true, stateIntervalMs: 2000 },
    ...(scenario.network.chunkBytes !== undefined ? { tensors: { chunkBytes: scenario.network.chunkBytes } } : {}),
    jobs: [{ ...job, planner: o.planner ?? 'dora', network: { standard: scenario.network.standard, availableAirtime: scenario.network.availableAirtime } }],
  }).catch((err: unknown) => {
    rmSync(cacheDir, { recursive: true, force: true })
    throw err
  })
  return { scenario, job, clock, timeScale, durationS, training: !!job.training, passwords, dashboard, cacheDir, config }
}

/** Starts the hub and says where its status page and a read-only login are; the broker's port. */
async function startHub(hub: Hub, o: DemoOptions, dashboard: Setup['dashboard']): Promise<number> {
  await hub.start().catch((err: Error) => {
    throw /EADDRINUSE/.test(err.message) ? new DoraError(ErrorCodes.USAGE, `${err.message} (--port 0 and --status-port 0 pick free ports)`) : err
  })
  const brokerPort = hub.boundPorts!.port
  o.progress(`status page: http://127.0.0.1:${hub.metricsPort}/ (live; Prometheus metrics at /metrics)`)
  o.progress(`dashboard login (read-only MQTT observer): mqtt://127.0.0.1:${brokerPort} username ${dashboard.username} password ${dashboard.password}`
    + ` (e.g. mosquitto_sub -h 127.0.0.1 -p ${brokerPort} -u ${dashboard.username} -P ${dashboard.password} -t dora/v1/hub/state -t 'dora/v1/ha/#' -v; Home Assistant discovery is on under homeassistant/)`)
  return brokerPort
}

/** The running fleet's records: device messages, training steps, request traces (once tracing), source rates (wall-clock). */
interface Wired {
  readonly fleet: EmulatedFleet
  readonly lines: string[]
  readonly steps: StepRecord[]
  readonly traces: TraceEvent[]
  tracing: boolean
  /** When the last training step's record came (Date.now(); 0: none yet). */
  lastStepAtMs: number
  /** Requests a second per source (null: the hub), wall-clock: on a stretched clock sources slow down alike. */
  readonly sourceRate: ReadonlyMap<string | null, number>
}

/** The emulated Wi-Fi and one device process per scenario device, each through its station. */
async function startFleet(o: DemoOptions, setup: Setup, brokerPort: number, parts: Parts): Promise<Wired> {
  const { scenario, job, timeScale } = setup
  const proxy = new WifiProxy({ brokerHost: '127.0.0.1', brokerPort, standard: WIFI_STANDARDS[scenario.network.standard]!, availableAirtime: scenario.network.availableAirtime, timeScale })
  parts.proxy = proxy
  const errorsBy = new Map<string, number>()
  const sourceRate = new Map<string | null, number>()
  if (job.sources?.length) for (const s of job.sources) sourceRate.set(s.device, s.rateRps / timeScale)
  else sourceRate.set(job.source ?? null, job.rateRps! / timeScale)
  const w: Omit<Wired, 'fleet'> & { fleet: EmulatedFleet | null } = { fleet: null, lines: [], steps: [], traces: [], tracing: false, lastStepAtMs: 0, sourceRate }
  const fleet = new EmulatedFleet({
    scenarioFile: o.scenarioFile, cacheDir: setup.cacheDir, coordination: o.coordination, heartbeatMs: heartbeatWallMs(timeScale),
    onLine: (id, line, stream) => {
      if (stream !== 'stderr') return
      w.lines.push(`${id}: ${line}`)
      // what a device could not do is news (the first few of each device, then a count at the end)
      const n = (errorsBy.get(id) ?? 0) + 1
      errorsBy.set(id, n)
      if (n <= 5) o.progress(`${id}: ${line}${n === 5 ? ' (further messages of this device are counted, not shown)' : ''}`)
    },
    onTrace: (e) => {
      if (w.tracing) w.traces.push(e)
    },
    onStep: (_id, r) => {
      w.steps.push(r)
      w.lastStepAtMs = Date.now()
      o.progress(`step ${r.step} (epoch ${r.epoch}) ${r.ok ? `done in ${(r.ms / timeScale).toFixed(0)} ms profile time (${(r.ms / 1000).toFixed(1)} s wall; predicted ${r.predictedMs.toFixed(0)} ms), loss ${r.loss?.toPrecision(5) ?? '-'}${r.replicasAgree ? '' : ', REPLICAS DISAGREE'}` : 'FAILED'}`)
    },
    timeScale,
    ...(o.signal ? { signal: o.signal } : {}),
  })
  parts.fleet = fleet
  w.fleet = fleet
  for (const d of scenario.devices) {
    // a wired device's own link, paced on the emulation clock too
    const url = `mqtt://127.0.0.1:${await proxy.addStation(d.id, d.linkRateBps ?? WIRED_RATE_BPS, { wired: !d.linkRateBps })}`
    const rate = sourceRate.get(d.id)
    const holdsData = setup.training && d.id === job.source
    fleet.spawn({ id: d.id, url, password: setup.passwords.get(d.id)!, source: rate && !setup.training ? `${job.id}=${rate}` : null, train: holdsData ? job.id : null })
  }
  o.progress(`hub on mqtt://127.0.0.1:${brokerPort} (embedded broker); ${fleet.ids.length} device processes started (each through its emulated link: Wi-Fi stations sharing the air, wired ones at 1 Gbit/s)`)
  return w as Wired
}

function announce(o: DemoOptions, setup: Setup, e0: PlanEpoch, sourceRate: ReadonlyMap<string | null, number>): void {
  const { job, timeScale, durationS } = setup
  const wallRate = [...sourceRate.values()].reduce((a, x) => a + x, 0)
  o.progress(setup.training
    ? `epoch ${e0.epoch} ready: ${describeEpoch(e0)}; predicted ${e0.predicted.latencyMs.toFixed(0)} ms an optimizer step of ${job.training!.microBatchesPerStep} micro-batches. Training for ${durationS} s (wall).`
    : `epoch ${e0.epoch} ready: ${describeEpoch(e0)}; predicted ${e0.predicted.latencyMs.toFixed(0)} ms a request. Sending at ${(job.rateRps ?? wallRate * timeScale)} requests/s${timeScale !== 1 ? ` of profile time (${wallRate.toFixed(2)}/s wall)` : ''} for ${durationS} s.`)
}

/** What the run saw, for the summary. */
interface Run {
  readonly start: number
  readonly epochs: DemoSummary['epochs']
  readonly killed: DemoSummary['killed']
  readonly predictedSamples: ReadonlyArray<{ mean: number; p95: number; slots: number | null }>
  readonly modesSeen: ReadonlySet<string>
  readonly energy: Energy
}

/** Sends requests for the run's duration, reporting each second; kills the device asked for. */
async function runRequests(o: DemoOptions, setup: Setup, hub: Hub, service: JobService, w: Wired, parts: Parts): Promise<Run> {
  const { job, timeScale, durationS } = setup
  const energy = new Energy(hub)
  const start = Date.now()
  const e0 = service.epoch!
  const epochs: DemoSummary['epochs'] = [{ epoch: e0.epoch, atS: 0, reason: e0.reason, devices: Object.keys(e0.assignments) }]
  const hubRate = setup.training ? undefined : w.sourceRate.get(null)
  if (hubRate) {
    parts.hubSource = await hub.source(job.id, { maxOutstanding: outstandingCap(hubRate), timeScale })
    // the hub's requests arrive at random (Poisson), as the plan's prediction and the simulator have them
    parts.hubSource.drive(hubRate, { arrivals: 'poisson', seed: 1 })
  }
  w.tracing = true
  w.fleet.startSources()
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
    if (o.kill && !killed && t >= o.kill.atS) killed = kill(o, o.kill.device, e, w, t)
    energy.update()
    o.progress(progressLine(t, e.epoch, parts.hubSource?.requester.stats ?? null, energy.total(), timeScale, hub.results.consumed(job.id)))
  }
  return { start, epochs, killed, predictedSamples, modesSeen, energy }
}

function kill(o: DemoOptions, which: string, e: PlanEpoch, w: Wired, t: number): DemoSummary['killed'] {
  const victim = which === 'auto' ? pickVictim(e.assignments, w.sourceRate) : which
  if (!victim || !w.fleet.alive(victim)) {
    o.progress(`--kill-device: ${victim ? `${victim} is not running` : 'no device holds a stage without being a source'}; nothing killed`)
    return null
  }
  w.fleet.kill(victim)
  o.progress(`killed ${victim} at ${t.toFixed(1)} s (SIGKILL, no goodbye)`)
  return { device: victim, atS: Math.round(t * 10) / 10 }
}

/** The fleet's energy since the run began, from the devices' heartbeats (emulated). */
class Energy {
  private readonly first: Map<string, number>
  readonly last: Map<string, number>
  constructor(private readonly hub: Hub) {
    this.first = this.now()
    this.last = new Map(this.first)
  }
  private now(): Map<string, number> {
    return new Map(this.hub.registry.snapshot().map((d) => [d.id, d.lastHeartbeat?.energyJ ?? 0]))
  }
  update(): void {
    for (const [id, j] of this.now()) if (j > 0) this.last.set(id, j)
  }
  /** Joules of the devices `only` (all when unset). */
  total(only?: ReadonlySet<string>): number {
    return [...this.last].filter(([id]) => !only || only.has(id)).reduce((a, [id, j]) => a + Math.max(0, j - (this.first.get(id) ?? 0)), 0)
  }
}

/** Stops the sources, waits for what is outstanding, and sums the run up. */
async function collect(o: DemoOptions, setup: Setup, hub: Hub, service: JobService, w: Wired, parts: Parts, run: Run): Promise<DemoSummary> {
  const { job, timeScale, durationS, training } = setup
  o.progress(training ? 'stopping the training source after its step in progress...' : 'stopping the sources; waiting for outstanding requests...')
  const trained = training ? await w.fleet.stopTraining(Math.max(60_000, 3 * service.epoch!.predicted.latencyMs * timeScale)) : new Map<string, StepRecord[] | null>()
  const stepRecords = [...trained.values()].find((r) => r) ?? w.steps
  const stats: RequesterStats[] = []
  if (parts.hubSource) {
    await parts.hubSource.stop(o.signal?.aborted ? 0 : 15_000)
    stats.push(parts.hubSource.requester.stats)
  }
  const fromDevices = await w.fleet.stopSources(20_000)
  for (const [id, s] of fromDevices) {
    if (s) stats.push(s)
    else o.progress(`source ${id} reported no statistics (${run.killed?.device === id ? 'it was killed' : 'it did not answer'})`)
  }
  run.energy.update()
  const common = {
    emulated: true as const,
    scenario: setup.scenario.name,
    jobId: job.id,
    model: job.model,
    coordination: o.coordination,
    planner: o.planner ?? 'dora',
    load: o.load ?? 1,
    durationS,
    energyJ: round(run.energy.total()),
    epochs: run.epochs,
    killed: run.killed,
    breakdownMs: breakdown(w.traces),
    timeScale,
    wifiStalledS: round((parts.proxy?.stalledMs ?? 0) / 1000),
    wifi: { carriedBytes: Object.fromEntries(parts.proxy?.carried ?? []), airUsedS: round(parts.proxy?.airUsedS ?? 0), modelBytesInstalledOutsideWifi: parts.installedModelBytes() },
    clock: { source: setup.clock.source, why: setup.clock.why, hostFlopsPerSec: setup.clock.host?.slowest ?? null, probeProcesses: setup.clock.host?.processes ?? null },
  }
  if (training) {
    // energy of the devices the plan runs on (the prediction counts theirs, idle included)
    const plannedJ = run.energy.total(new Set(Object.keys(service.epoch!.assignments)))
    const trainedWallS = ((w.lastStepAtMs || Date.now()) - run.start) / 1000
    return trainingResult(common, stepRecords, trainingSummary(stepRecords, job.training!.microBatchesPerStep, service.epoch!, timeScale, plannedJ, trainedWallS))
  }
  // the hub consumes the results of device sources' requests (results: hub): their latency is measured there
  const atHub = job.results === 'hub' && !parts.hubSource ? hub.results.consumed(job.id)?.latenciesMs ?? null : null
  return requestResult(common, stats, run, o.coordination, timeScale, (Date.now() - run.start) / 1000, atHub)
}

/**
 * A device's heartbeat period, wall-clock ms: 1 s of profile time, stretched by the clock up to
 * 10 s. Heartbeats cross the emulated air; at one a wall second on a x131 clock the six Wi-Fi
 * cameras of the traffic scenario sent 131 a profile second each, 16% of the air in short frames
 * (a real fleet's one a second costs 0.1%), and frames took 21% longer than alone (measured with
 * the proxy and Aedes). The cap keeps the hub's view of the fleet (readiness, energy, timings)
 * fresh; a killed device is seen at once by its MQTT last will, a hung one after 6 heartbeats.
 */
export function heartbeatWallMs(timeScale: number): number {
  return Math.round(1000 * Math.min(Math.max(1, timeScale), 10))
}

/** Enough wall-clock seconds for about 60 requests at the job's rate on the clock, 30-300 s. */
function autoDurationS(job: { rateRps?: number | undefined; sources?: Array<{ rateRps: number }> | undefined; training?: unknown }, timeScale: number): number {
  const rate = job.sources?.reduce((a, s) => a + s.rateRps, 0) ?? job.rateRps ?? 0
  if (job.training || !(rate > 0)) return 30
  return Math.round(Math.min(300, Math.max(30, (60 * timeScale) / rate)))
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

/** A device that holds a stage and is not a source (killing a source ends its requests with it). */
function pickVictim(assignments: Readonly<Record<string, unknown>>, sources: ReadonlyMap<string | null, number>): string | null {
  return Object.keys(assignments).find((id) => !sources.has(id)) ?? null
}

const sleep = demoSleep
const round = (x: number) => Math.round(x * 10) / 10
