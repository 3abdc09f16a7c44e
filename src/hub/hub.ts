/**
 * The hub service: the one place that wires broker, client, registry, jobs (job-service.ts),
 * reports and integrations together. The constructor only assigns; `start()` does the I/O;
 * `stop()` removes every timer and listener, publishes `offline` and closes connections.
 */
import { JobSpecs } from './job-specs.js'
import { JobStore } from './job-store.js'
import { HomeAssistant } from '../integrations/home-assistant.js'
import { LiveStatus } from '../status/live-status.js'
import { OrphanUploads } from './orphan-uploads.js'
import { hubCheckpoints, type TrainingCheckpoints } from './checkpoints.js'
import { CheckpointFiles } from './checkpoint-files.js'
import { PlanLeases } from './lease.js'
import { decodeCbor } from '../protocol/codec.js'
import { CBOR_BUDGETS } from '../protocol/cbor-budgets.js'
import { HubSource, type HubSourceOptions } from './hub-source.js'
import { HubResults } from './hub-results.js'
import { randomBytes } from 'node:crypto'
import cron, { type ScheduledTask } from 'node-cron'
import type { Config } from '../config/schema.js'
import { Acl } from '../broker/acl.js'
import { EmbeddedBroker, type BoundPorts } from '../broker/embedded.js'
import { DoraClient } from '../mqtt/client.js'
import { Registry, type Outcome, type RegistryEvent } from '../registry/registry.js'
import { serveGrants, type GrantDesk } from './air-grants.js'
import { AVAILABILITY, PROTOCOL_VERSION, filters, parseTopic, topics } from '../protocol/topics.js'
import { planEpochSchema, type DeviceErrorPayload } from '../protocol/payloads.js'
import { HubReports, redact } from './hub-reports.js'
import { JobService, type JobServiceDeps } from './job-service.js'
import { AdaptWorker } from './adapt-worker.js'
import { HubMetrics } from './metrics.js'
import { BadMessages } from './bad-messages.js'
import { FleetIntake } from './fleet-intake.js'
import { DoraError, ErrorCodes } from '../errors.js'
import type { Logger } from '../log.js'

export const HUB_USERNAME = 'dora-hub'

export class Hub {
  readonly registry: Registry
  private broker: EmbeddedBroker | null = null
  private client: DoraClient | null = null
  private sweepTask: ScheduledTask | null = null
  /** Caps, availability and heartbeats into the registry; last wills judged (fleet-intake.ts). */
  private fleet: FleetIntake | null = null
  /** Hub-granted air (air-grants.ts). */
  private grants: GrantDesk | null = null
  /** The hub as the consumer of jobs' results (hub-results.ts: `consumed(jobId)`). */
  readonly results = new HubResults(() => this.clock(), (sender, topic, error) => this.bad?.report({ sender, kind: 'result', topic, code: ErrorCodes.PAYLOAD_INVALID, error }))
  private energyTask: ScheduledTask | null = null
  private readonly reports: HubReports
  private ports: BoundPorts | null = null
  private stopping = false
  /** The configured jobs, each kept compliant by the runtime adapter. */
  private readonly jobServices = new Map<string, { service: JobService; source: 'config' | 'submitted' }>()
  private specs: JobSpecs | null = null
  /** Submitted specs and every job's last epoch, kept across restarts (hub.stateDir). */
  private store: JobStore | null = null
  private readonly baseDir: string
  private metrics: HubMetrics | null = null
  private bad: BadMessages | null = null
  private status: LiveStatus | null = null
  private ha: HomeAssistant | null = null
  private leases: PlanLeases | null = null
  /** Training jobs' checkpoints (parameters and optimizer state per parameter; checkpoints.ts). */
  checkpoints: TrainingCheckpoints | null = null
  private checkpointFiles: CheckpointFiles | null = null
  /** Uploads no spec names, cleared after hub.uploads.orphanTtlMs (orphan-uploads.ts). */
  uploads: OrphanUploads | null = null
  private boundMetricsPort: number | null = null
  /** Installs an epoch's stage models on the devices before their assignments (JobServiceDeps.installModels); null: they fetch them. */
  installModels: JobServiceDeps['installModels'] | null = null
  /** The jobs' adapter searches, off the broker's event loop (null: in the hub's thread; hub.planning). */
  private readonly searches: AdaptWorker | null

  /** The jobs the hub runs: configured ones and those submitted on dora/v1/jobs/{job}/spec. */
  get jobs(): JobService[] {
    return [...this.jobServices.values()].map((j) => j.service)
  }

  constructor(
    private readonly config: Readonly<Config>,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
    /** Folder that relative model paths of configured jobs are resolved against. */
    baseDir: string = process.cwd(),
  ) {
    this.registry = new Registry({ heartbeatTimeoutMs: config.hub.heartbeatTimeoutMs })
    this.baseDir = baseDir
    this.searches = config.hub.planning.thread === 'worker' ? new AdaptWorker({ budgetMs: config.hub.planning.budgetMs, log: log.child({ component: 'adapt-worker' }) }) : null
    for (const j of config.jobs) this.jobServices.set(j.id, { service: this.newJob(j), source: 'config' })
    this.reports = new HubReports({
      hubId: config.hub.id, stateMinIntervalMs: config.hub.stateMinIntervalMs, client: () => this.client, devices: () => this.registry.snapshot(),
      takeEnergy: (nowMs) => this.jobs.map((j) => j.takeEnergy(nowMs)), clock, log,
    })
  }

  private newJob(j: Config['jobs'][number]): JobService {
    const service = new JobService(j, {
      publish: async (topic, payload) => {
        if (!this.client) throw new Error('hub is not connected')
        await this.client.publish(topic, payload, { qos: 1, retain: true })
      },
      online: () => this.registry.online(),
      log: this.log.child({ component: 'job', jobId: j.id }),
      clock: this.clock,
      baseDir: this.baseDir,
      chunkBytes: this.config.tensors.chunkBytes,
      onImplausible: (deviceId, what) => this.bad?.report({ sender: deviceId, kind: 'report', topic: topics.device(deviceId, 'heartbeat'), code: ErrorCodes.REPORT_IMPLAUSIBLE, error: what }),
      onAdapt: (jobId, action, seconds) => {
        this.metrics?.adaptations.inc({ job: jobId, action })
        this.metrics?.adaptSeconds.observe({ job: jobId }, seconds)
      },
      beforeEpoch: async (epoch) => this.store?.reserveEpoch(j.id, epoch),
      installModels: async (models) => this.installModels?.(models), grantsObserved: (deviceId) => this.grants?.observed(deviceId) ?? { granted: 0, meanHoldMs: undefined }, ...(this.searches ? { search: this.searches.run } : {}),
    })
    // devices ignore epochs older than the newest they saw: after a restart the numbering continues
    service.resumeAfter(this.store?.epochOf(j.id) ?? 0)
    return service
  }

  /** Port of the metrics endpoint (null when off). */
  get metricsPort(): number | null {
    return this.boundMetricsPort
  }

  /** Ports the embedded broker bound (null on an external broker). */
  get boundPorts(): BoundPorts | null {
    return this.ports
  }

  get brokerUrl(): string {
    return this.reports.broker.url
  }

  async start(): Promise<void> {
    const { config: c, log } = this
    this.reports.startedMs = this.clock()
    this.store = await JobStore.open(c, log.child({ component: 'state' }))
    for (const job of this.jobs) job.resumeAfter(this.store.epochOf(job.id))
    const metrics = this.createMetrics()
    const login = c.broker.url === null ? await this.startBroker(metrics) : { url: c.broker.url, username: c.broker.username ?? undefined, password: c.broker.password ?? undefined }
    if (c.broker.url !== null) this.reports.broker = { embedded: false, url: redact(c.broker.url) }
    const client = new DoraClient({
      ...login,
      clientId: `${c.hub.id}-${randomBytes(3).toString('hex')}`,
      maxInflight: c.client.maxInflight,
      publishTimeoutMs: c.client.publishTimeoutMs,
      will: { topic: topics.hubAvailability, payload: AVAILABILITY.offline, qos: 1, retain: true },
      onHandlerError: (topic, err) => this.handlerFailed(topic, err),
      onReconnect: () => this.rejoined(),
    })
    this.client = client
    try {
      await client.start()
    } catch (err) {
      await this.broker?.stop()
      throw err
    }
    log.info({ broker: this.reports.broker.url, embedded: this.reports.broker.embedded }, 'hub connected to broker')
    this.uploads = new OrphanUploads({ client, ttlMs: c.hub.uploads.orphanTtlMs, clock: this.clock, log: log.child({ component: 'uploads' }) })
    await this.uploads.start()
    this.specs = new JobSpecs({
      client, config: c, log: log.child({ component: 'job-specs' }), clock: this.clock, jobs: this.jobServices,
      newJob: (entry) => this.newJob(entry), changed: () => { this.ha?.jobsChanged(); this.checkpoints?.keepJobs(this.jobServices) }, bad: this.bad, store: this.store, uploads: this.uploads,
    })
    await this.followFleet(client)
    this.checkpointFiles = new CheckpointFiles(this.store.dir, log.child({ component: 'checkpoints' }))
    this.checkpoints = hubCheckpoints(client, { registry: this.registry, jobs: this.jobServices, clock: this.clock, bad: this.bad, chunkBytes: c.tensors.chunkBytes, files: this.checkpointFiles })
    await this.checkpoints.follow(client)
    // scale-out: each job is planned by the hub holding its lease; the others follow its epochs
    const redis = c.broker.url === null ? c.broker.embedded.redis : null
    await this.startJobs(client, redis !== null)
    await this.serveMetrics(metrics)
    if (redis) {
      this.leases = new PlanLeases(redis, c.hub.id, c.broker.embedded.leaseMs, (jobId, held) => this.jobServices.get(jobId)?.service.setLeader(held), log.child({ component: 'lease' }))
      await this.leases.start(() => this.jobs.map((j) => j.id))
    }
    await this.startHomeAssistant(client)
    log.info({ hubId: c.hub.id, jobs: this.jobs.length }, 'hub started')
  }

  /** The live status page, the metrics it is served with, and the bad-message accounting. */
  private createMetrics(): HubMetrics {
    const c = this.config
    const status = new LiveStatus(() => ({ hubId: c.hub.id, devices: this.registry.snapshot(), jobs: this.jobs, nowMs: this.clock() }))
    this.status = status
    const metrics = new HubMetrics({
      devices: () => this.registry.snapshot(),
      jobs: () => this.jobs,
      statusPage: () => status.page(),
      statusEvents: (req, res) => status.attach(req, res),
    })
    this.metrics = metrics
    this.bad = new BadMessages({
      ...c.hub.badMessages, clock: this.clock, log: this.log.child({ component: 'bad-messages' }),
      count: (kind, code) => metrics.badMessages.inc({ kind, code }),
      suppressed: (kind) => metrics.repliesSuppressed.inc({ kind }),
    })
    return metrics
  }

  /** The embedded broker, with the hub's own login; returns how the hub connects to it. */
  private async startBroker(metrics: HubMetrics): Promise<{ url: string; username: string; password: string }> {
    const { config: c, log } = this
    const password = randomBytes(24).toString('base64url')
    const username = HUB_USERNAME
    const e = c.broker.embedded
    this.broker = new EmbeddedBroker({
      host: e.host,
      port: e.port,
      wsPort: e.wsPort,
      tls: e.tls,
      maxPacketBytes: e.maxPacketBytes,
      drainTimeoutMs: e.drainTimeoutMs,
      maxConnectionsPerAccount: e.maxConnectionsPerAccount,
      maxKeepaliveS: e.maxKeepaliveS,
      partialPacketTimeoutMs: e.partialPacketTimeoutMs,
      maxQueued: { maxMessages: e.maxQueuedMessages, maxBytes: e.maxQueuedBytes },
      onRefused: (reason) => metrics.refusedConnections.inc({ reason }),
      log: log.child({ component: 'broker' }),
      redis: e.redis,
      stateDir: this.store?.dir ?? null,
      acl: new Acl({
        hub: { username, password },
        devices: c.auth.devices,
        observers: c.auth.observers,
        operators: c.auth.operators,
        allowAnonymous: e.allowAnonymous,
        anonymousLoopbackOnly: e.anonymousLoopbackOnly,
        jobsOf: (deviceId) => this.jobs.filter((j) => j.devices().has(deviceId)).map((j) => j.id),
        homeAssistantPrefix: c.homeassistant.enabled ? c.homeassistant.discoveryPrefix : null,
      }),
    })
    this.ports = await this.broker.start()
    log.info({ host: e.host, ...this.ports, maxPacketBytes: e.maxPacketBytes, anonymous: e.allowAnonymous, devices: c.auth.devices.length }, 'embedded broker listening')
    this.reports.broker = { embedded: true, url: `mqtt://${e.host}:${this.ports.port}` }
    return { url: `mqtt://127.0.0.1:${this.ports.port}`, username, password }
  }

  /** Devices' caps, availability and heartbeats into the registry; the sweep and energy tasks; the first state. */
  private async followFleet(client: DoraClient): Promise<void> {
    const c = this.config
    this.registry.on('event', this.onRegistryEvent)
    this.fleet = new FleetIntake({ registry: this.registry, client, clock: this.clock, log: this.log.child({ component: 'fleet' }), refused: (id, topic, outcome) => this.rejectPayload(id, topic, outcome) })
    await this.fleet.start()
    await this.results.start(client)
    this.grants = await serveGrants(client, this.clock, (sender, topic, error) => this.bad?.report({ sender, kind: 'air', topic, code: ErrorCodes.PAYLOAD_INVALID, error }))
    await client.publish(topics.hubAvailability, AVAILABILITY.online, { qos: 1, retain: true })
    this.sweepTask = cron.schedule(c.hub.sweepCron, () => {
      this.fleet?.sweep()
      void this.checkpointFiles?.pruneOrphans((id) => this.jobServices.has(id), this.clock(), c.hub.uploads.orphanTtlMs)
    })
    this.energyTask = cron.schedule(c.hub.energyCron, () => {
      this.reports.publishEnergy().catch((err: Error) => this.log.warn({ err: err.message }, 'could not publish the energy summary'))
    })
    await this.reports.publishState()
  }

  /** The configured jobs (standby ones follow the epochs another hub publishes), then submitted ones. */
  private async startJobs(client: DoraClient, standby: boolean): Promise<void> {
    if (standby) {
      for (const job of this.jobs) job.setLeader(false)
      await client.subscribe(filters.allJobPlans, (topic, payload) => {
        const t = parseTopic(topic)
        const job = t?.scope === 'job' ? this.jobServices.get(t.jobId)?.service : undefined
        const d = payload.length ? decodeCbor(payload, CBOR_BUDGETS.plan) : null
        const plan = d?.ok ? planEpochSchema.safeParse(d.value) : null
        if (job && plan?.success) job.observe(plan.data)
      })
    }
    if (this.jobs.length) this.searches?.start() // it loads while the jobs load their models
    try {
      for (const job of this.jobs) {
        await job.start()
        await this.specs!.publishStatus(job.id, 'accepted', 'config')
      }
    } catch (err) {
      await this.stop()
      throw new DoraError(ErrorCodes.JOB_START, `cannot start the configured jobs: ${(err as Error).message}`)
    }
    // jobs submitted at run time (retained specs survive a hub restart)
    await client.subscribe(filters.allJobSpecs, (topic, payload) => this.specs?.onMessage(topic, payload))
    // on the embedded broker the stored specs come back (an external broker kept its retained ones)
    const restored = this.config.broker.url === null ? await this.store!.republishSpecs(client) : []
    if (restored.length) this.log.info({ jobs: restored }, 'submitted jobs restored from the state folder')
  }

  private async serveMetrics(metrics: HubMetrics): Promise<void> {
    const c = this.config
    if (c.hub.metrics.port === null) return
    try {
      this.boundMetricsPort = await metrics.listen(c.hub.metrics.host, c.hub.metrics.port)
    } catch (err) {
      await this.stop()
      throw new DoraError(ErrorCodes.METRICS_LISTEN, `cannot serve metrics on ${c.hub.metrics.host}:${c.hub.metrics.port}: ${(err as Error).message}`)
    }
    this.status?.start()
    this.log.info({ url: `http://${c.hub.metrics.host}:${this.boundMetricsPort}/metrics` }, 'metrics endpoint listening')
  }

  private async startHomeAssistant(client: DoraClient): Promise<void> {
    const c = this.config
    if (!c.homeassistant.enabled) return
    this.ha = new HomeAssistant({
      client, registry: this.registry, jobs: () => this.jobs, setGoal: (id, goal) => this.jobServices.get(id)?.service.setGoal(goal) ?? `no job ${id}`, prefix: c.homeassistant.discoveryPrefix,
      stateIntervalMs: c.homeassistant.stateIntervalMs, clock: this.clock, log: this.log.child({ component: 'homeassistant' }),
      onBad: (topic, error) => this.bad?.report({ sender: topic.split('/')[4] ?? topic, kind: 'goal', topic, code: ErrorCodes.PAYLOAD_INVALID, error }),
    })
    try {
      await this.ha.start()
    } catch (err) {
      await this.stop()
      throw new DoraError(ErrorCodes.HA_DISCOVERY, `cannot publish Home Assistant discovery under ${c.homeassistant.discoveryPrefix}/: ${(err as Error).message}`)
    }
    this.log.info({ prefix: c.homeassistant.discoveryPrefix }, 'home assistant discovery published')
  }

  /** A request source on the hub's connection for a job (requests that originate on the hub). */
  async source(jobId: string, o: HubSourceOptions = {}): Promise<HubSource> {
    if (!this.client) throw new Error('the hub is not started')
    const job = this.jobServices.get(jobId)?.service
    const s = new HubSource(this.client, jobId, { chunkBytes: this.config.tensors.chunkBytes, ...(job ? { report: (r) => job.sourceReported(r) } : {}), ...o })
    return s.start().then(() => s)
  }

  async stop(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    // give up the plan leases first: another hub takes over at once
    await this.leases?.stop()
    this.leases = null
    this.ha?.stop()
    this.ha = null
    this.registry.off('event', this.onRegistryEvent)
    this.fleet?.stop()
    await this.checkpoints?.stop()
    await this.specs?.stop()
    await this.uploads?.stop()
    await this.store?.flush()
    for (const job of this.jobs) await job.stop()
    await this.searches?.stop()
    this.status?.stop()
    this.status = null
    await this.metrics?.close()
    await this.sweepTask?.destroy()
    this.sweepTask = null
    this.grants?.stop()
    this.grants = null
    await this.energyTask?.destroy()
    this.energyTask = null
    this.reports.stop()
    if (this.client?.connected) await this.reports.publishOffline(this.client)
    await this.client?.stop()
    this.client = null
    await this.broker?.stop()
    this.broker = null
    this.log.info('hub stopped')
  }

  /** The broker connection is back: the hub's `online` again (a restarted broker lost it, or holds the hub's will), its state, the fleet's liveness. */
  private rejoined(): void {
    if (this.stopping) return
    this.fleet?.reconnected()
    this.client?.publish(topics.hubAvailability, AVAILABILITY.online, { qos: 1, retain: true }).catch((err: Error) => this.log.warn({ err: err.message }, 'could not announce the hub online again'))
    this.reports.scheduleState(true)
  }

  private rejectPayload(deviceId: string, topic: string, outcome: Extract<Outcome, { ok: false }>): void {
    const t = parseTopic(topic)
    const kind = t?.scope === 'device' ? t.kind : 'device'
    if (!this.bad?.report({ sender: deviceId, kind, topic, code: outcome.code, error: outcome.error })) return
    const body: DeviceErrorPayload = { v: PROTOCOL_VERSION, code: outcome.code, message: outcome.error, topic, timeMs: this.clock() }
    // the bulk lane: answers to a bad sender never hold up plans and assignments
    this.client?.publish(topics.device(deviceId, 'error'), JSON.stringify(body), { qos: 1, lane: 'bulk' }).catch((err: Error) => this.log.debug({ deviceId, err: err.message }, 'could not publish device error'))
  }

  /** A message handler threw: logged and counted (rate-limited per sender), the hub carries on. */
  private handlerFailed(topic: string, err: Error): void {
    const t = parseTopic(topic)
    const sender = t?.scope === 'device' ? t.deviceId : t?.scope === 'job' ? t.jobId : topic.slice(0, 128)
    this.bad?.report({ sender, kind: 'handler', topic, code: ErrorCodes.HANDLER_FAILED, error: err.message })
  }

  private readonly onRegistryEvent = (event: RegistryEvent): void => {
    if (event.type === 'joined') this.log.info({ deviceId: event.device.id, kind: event.device.caps?.kind, emulated: event.device.caps?.emulated }, 'device joined')
    if (event.type === 'left') this.grants?.forget(event.device.id)
    if (event.type === 'left') this.log.info({ deviceId: event.device.id, reason: event.reason }, 'device left')
    if (event.type === 'changed' && event.what === 'measurements') {
      for (const job of this.jobs) job.measured(event.device)
      this.reports.scheduleState()
      return
    }
    if (event.type === 'changed' && event.what === 'battery') for (const job of this.jobs) job.measured(event.device)
    const why = event.type === 'joined' ? `${event.device.id} joined` : event.type === 'left' ? `${event.device.id} left (${event.reason})` : `${event.device.id}: ${event.what} changed`
    for (const job of this.jobs) job.fleetChanged(why)
    this.reports.scheduleState(true)
  }
}
