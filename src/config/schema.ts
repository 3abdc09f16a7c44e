/**
 * The hub's configuration schema: one zod schema gives validation, defaults and the type.
 * `config/default.yaml` documents every key; a user file and CLI flags override it.
 */
import { z } from 'zod'
import { BASELINES, type BaselineName } from '../planner/baselines/index.js'
import { isValidId } from '../protocol/topics.js'
import { MAX_CHUNK_BYTES, MIN_CHUNK_BYTES } from '../protocol/chunks.js'
import { jobSchema } from '../scenario/schema.js'

const id = (what: string) => z.string().refine(isValidId, { message: `${what} must be 1-64 characters of A-Z a-z 0-9 _ - .` })
const port = z.number().int().min(0).max(65535)
const secret = z.string().min(8, 'must be at least 8 characters')

const credentialSchema = z
  .object({
    password: secret.optional(),
    /** Hex SHA-256 of the password, so config files need not hold plain passwords. */
    passwordSha256: z.string().regex(/^[0-9a-f]{64}$/i, 'must be 64 hex digits').optional(),
  })
  .refine((c) => c.password !== undefined || c.passwordSha256 !== undefined, {
    message: 'give password or passwordSha256',
  })

/** A job the hub runs: a scenario job plus the Wi-Fi it shares and its adapter settings. */
export const hubJobSchema = jobSchema.extend({
    network: z.object({
      standard: z.enum(['wifi4', 'wifi5', 'wifi6']).default('wifi5'),
      availableAirtime: z.number().gt(0).max(1).default(1),
    }).default({ standard: 'wifi5', availableAirtime: 1 }),
    /** A device on battery below this level is not used. */
    batteryMinPct: z.number().min(0).max(100).default(20),
    /** node-cron expression (with seconds) of the periodic re-costing. */
    recostCron: z.string().min(1).default('*/30 * * * * *'),
    /**
     * Who plans the job: `dora` (the partitioner and the runtime adapter), or a baseline whose plan
     * runs as is, re-made only when the fleet changes (to compare systems on the same fleet).
     */
    planner: z.enum(['dora', ...(Object.keys(BASELINES) as BaselineName[])]).default('dora'),
    /** Measured stage times drifting this far (fraction) from the planned ones trigger the adapter. */
    driftThreshold: z.number().gt(0).max(10).default(0.2),
})

export const configSchema = z.object({
  version: z.literal(1),
  hub: z.object({
    id: id('hub.id'),
    /** A device with no heartbeat for this long is marked offline. */
    heartbeatTimeoutMs: z.number().int().min(1000),
    /** node-cron expression (with seconds) of the liveness sweep. */
    sweepCron: z.string().min(1),
    /** Minimum gap between two publishes of the hub state (it is published on every change). */
    stateMinIntervalMs: z.number().int().min(0),
    /**
     * Where the jobs' adapter searches run: `worker`, a worker thread (the embedded broker, which
     * shares the hub's thread, keeps serving devices while a job re-plans); `hub`, the hub's own
     * thread (it blocks for the whole search). A search in the worker running past `budgetMs` is
     * stopped and the job keeps its current epoch.
     */
    planning: z.object({
      thread: z.enum(['worker', 'hub']).default('worker'),
      budgetMs: z.number().int().min(100).max(3_600_000).default(30_000),
    }).default({ thread: 'worker', budgetMs: 30_000 }),
    /** node-cron expression (with seconds) of the energy summary of the jobs (default: daily at midnight). */
    energyCron: z.string().min(1).default('0 0 0 * * *'),
    /**
     * Bad messages (refused payloads, failing handlers): per sender, the first `burst` in each
     * window are logged and answered on its error topic; the rest are only counted (metrics).
     */
    badMessages: z.object({
      burst: z.number().int().min(0).max(100_000).default(10),
      windowMs: z.number().int().min(100).default(10_000),
    }).default({ burst: 10, windowMs: 10_000 }),
    /** Prometheus metrics at http://host:port/metrics; port null turns them off. */
    metrics: z.object({ host: z.string().min(1).default('127.0.0.1'), port: port.nullable().default(null) }).default({ host: '127.0.0.1', port: null }),
    /**
     * The folder whose regular files submitted job specs may name as their model (besides zoo
     * models and uploads); null: $XDG_DATA_HOME/dora/models, else ~/.local/share/dora/models. Configured jobs may name any file.
     */
    modelsDir: z.string().min(1).nullable().default(null),
    /**
     * Where the hub keeps what must survive a restart (the specs of submitted jobs, every job's
     * last plan epoch); null: $XDG_STATE_HOME/dora/{hub.id}, else ~/.local/state/dora/{hub.id}.
     */
    stateDir: z.string().min(1).nullable().default(null),
    /** ONNX models uploaded with submitted jobs: where they are kept (null: $XDG_CACHE_HOME/dora/uploads, else ~/.cache/dora/uploads) and the largest accepted. */
    uploads: z.object({
      dir: z.string().min(1).nullable().default(null),
      maxBytes: z.number().int().positive().max(2 ** 31).default(512 * 1024 * 1024),
      /** How long the hub waits for an upload's chunks. */
      timeoutMs: z.number().int().positive().default(60_000),
      /** Chunks of an upload no spec names are cleared from the broker this long after the hub first sees them. */
      orphanTtlMs: z.number().int().min(1000).max(7 * 24 * 3600 * 1000).default(600_000),
    }).default({ dir: null, maxBytes: 512 * 1024 * 1024, timeoutMs: 60_000, orphanTtlMs: 600_000 }),
  }),
  broker: z.object({
    /** External broker URL (mqtt://, mqtts://, ws://, wss://); null runs the embedded broker. */
    url: z.string().url().nullable(),
    username: z.string().nullable(),
    password: z.string().nullable(),
    embedded: z.object({
      host: z.string().min(1),
      port,
      /** WebSocket port; null disables WebSocket. */
      wsPort: port.nullable(),
      tls: z
        .object({ port, keyFile: z.string().min(1), certFile: z.string().min(1) })
        .nullable(),
      /** Largest MQTT packet accepted, bytes; larger ones close the sender's connection. */
      maxPacketBytes: z.number().int().min(4096).max(256 * 1024 * 1024),
      /** A subscriber that does not drain within this time is disconnected. */
      drainTimeoutMs: z.number().int().min(100),
      /** Connections one account (device, observer, operator, anonymous) may hold at once. */
      maxConnectionsPerAccount: z.number().int().min(1).max(100_000).default(16),
      /** Keepalive given to clients asking for 0 (never time out) or for more, s. */
      maxKeepaliveS: z.number().int().min(1).max(65_535).default(300),
      /** A packet begun and not finished within this time closes the sender's connection, ms. */
      partialPacketTimeoutMs: z.number().int().min(100).default(30_000),
      /**
       * QoS 1 messages an account's persistent sessions (clean=false) may have queued (away, or
       * sent and not acknowledged), and their bytes; beyond, new ones are dropped. Mosquitto's
       * max_queued_messages and max_queued_bytes (`dora mosquitto-config` writes these).
       */
      maxQueuedMessages: z.number().int().min(1).max(10_000_000).default(10_000),
      maxQueuedBytes: z.number().int().min(65_536).max(64 * 1024 * 1024 * 1024).default(256 * 1024 * 1024),
      /** Anonymous clients (no username) may connect; off by default. */
      allowAnonymous: z.boolean(),
      /** With allowAnonymous, only clients from loopback addresses are let in anonymously. */
      anonymousLoopbackOnly: z.boolean(),
      /**
       * Scale-out: several hubs share one fleet through this Redis (redis://host:port); each job
       * is planned by one hub at a time, the holder of its lease. Null: one hub.
       */
      redis: z.string().regex(/^redis:\/\//, 'a redis:// URL').nullable().default(null),
      /** How long a hub's lease on a job's planning lasts unrenewed (a crashed hub's is taken over after it). */
      leaseMs: z.number().int().min(500).default(10_000),
    }),
  }),
  auth: z.object({
    /** Devices and their credentials: the MQTT username is the device id. */
    devices: z.array(credentialSchema.and(z.object({ id: id('device id') }))),
    /** Read-only clients (dashboards): may subscribe to dora/v1/#, publish nothing. */
    observers: z.array(credentialSchema.and(z.object({ username: z.string().min(1) }))),
    /** Operators: read like observers, and submit or cancel jobs (dora job submit|cancel). */
    operators: z.array(credentialSchema.and(z.object({ username: z.string().min(1) }))).default([]),
  }),
  client: z.object({
    /** Most QoS>0 publishes awaiting acknowledgement at once, per client. */
    maxInflight: z.number().int().min(1).max(1024),
    /** A publish not acknowledged within this time fails (the broker may be unreachable). */
    publishTimeoutMs: z.number().int().min(100),
  }),
  tensors: z.object({
    /** Tensor bytes per chunk message; keep below the smallest broker packet limit in use. */
    chunkBytes: z.number().int().min(MIN_CHUNK_BYTES).max(MAX_CHUNK_BYTES),
    /** An incomplete tensor is dropped this long after its first chunk. */
    reassemblyTimeoutMs: z.number().int().min(100),
  }),
  log: z.object({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
  }),
  /**
   * Jobs the hub plans and keeps compliant on the devices that are online (the runtime
   * adapter): model, load, goal, QoE bounds as in a scenario file, plus the Wi-Fi they share.
   */
  jobs: z.array(hubJobSchema).default([]),
  /** Home Assistant MQTT discovery: devices and jobs appear as Home Assistant devices. */
  homeassistant: z.object({
    enabled: z.boolean().default(false),
    discoveryPrefix: z.string().regex(/^[a-zA-Z0-9_-]+(\/[a-zA-Z0-9_-]+)*$/, 'letters, digits, _ - and /').default('homeassistant'),
    stateIntervalMs: z.number().int().min(500).default(5000),
  }).default({ enabled: false, discoveryPrefix: 'homeassistant', stateIntervalMs: 5000 }),
}).superRefine((c, ctx) => {
  if (c.tensors.chunkBytes + 2048 > c.broker.embedded.maxPacketBytes && c.broker.url === null) {
    ctx.addIssue({ code: 'custom', path: ['tensors', 'chunkBytes'], message: `must leave 2048 bytes of header room under broker.embedded.maxPacketBytes (${c.broker.embedded.maxPacketBytes})` })
  }
  const jobIds = new Set<string>()
  c.jobs.forEach((j, i) => {
    if (jobIds.has(j.id)) ctx.addIssue({ code: 'custom', path: ['jobs', i, 'id'], message: `duplicate job id ${j.id}` })
    jobIds.add(j.id)
    if (j.rateRps === undefined && !j.sources) ctx.addIssue({ code: 'custom', path: ['jobs', i, 'rateRps'], message: 'required (or give sources with their rates)' })
    if (j.training && (!j.source || j.sources)) ctx.addIssue({ code: 'custom', path: ['jobs', i, 'source'], message: 'a training job needs one source device (the device that holds the training data)' })
  })
  const ids = new Set<string>()
  c.auth.devices.forEach((d, i) => {
    if (ids.has(d.id)) ctx.addIssue({ code: 'custom', path: ['auth', 'devices', i, 'id'], message: `duplicate device id ${d.id}` })
    ids.add(d.id)
  })
})

export type Config = z.infer<typeof configSchema>
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object | null ? DeepPartial<NonNullable<T[K]>> | T[K] : T[K] }
