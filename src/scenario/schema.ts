/**
 * Scenario files (config/scenarios/*.yaml): a fleet of device profiles, the Wi-Fi, and a job.
 * Device figures are profiles (emulation), each with its source in the file's comments.
 */
import { z } from 'zod'
import { isValidId } from '../protocol/topics.js'

const id = z.string().refine(isValidId, { message: 'must be 1-64 characters of A-Z a-z 0-9 _ - .' })
const positive = z.number().finite().positive()
const nonNeg = z.number().finite().nonnegative()

export const scenarioDeviceSchema = z.object({
  id,
  kind: z.string().min(1),
  flopsPerSec: z.object({ conv: positive, matmul: positive, elementwise: positive }),
  stageOverheadMs: nonNeg.default(1),
  memoryBytes: positive,
  idleW: nonNeg,
  activeW: nonNeg,
  // Per-byte radio energy; defaults from the per-packet Wi-Fi model in the design brief.
  txJPerByte: nonNeg.default(1.9e-6),
  rxJPerByte: nonNeg.default(0.42e-6),
  /** Effective rate to the access point, bit/s; null for a wired device. */
  linkRateBps: positive.nullable(),
  battery: z.object({ capacityWh: positive, levelPct: z.number().min(0).max(100), minPct: z.number().min(0).max(100) }).nullable().default(null),
})

/** A job: its model, load, goal and QoE bounds (shared with the hub's configured jobs). */
export const jobSchema = z.object({
  id,
  /** A zoo model name or an ONNX file path (relative to the scenario file). */
  model: z.string().min(1),
  batch: z.number().int().min(1).default(1),
  /** Requests per second (with `sources`: their sum, which may be left out). */
  rateRps: positive.optional(),
  /** Several sources, each with its own rate (frames per second per camera); inference only. */
  sources: z.array(z.object({ device: id, rateRps: positive })).min(1).max(256).optional(),
  goal: z.enum(['latency', 'energy', 'throughput']),
  /** Device where requests originate; null for the hub (wired). */
  source: id.nullable().default(null),
  /**
   * Where results go (the job's consumer): `hub` (the default: the hub receives them, counts them
   * and measures each request's latency there), `source` (each source gets its own results: a
   * camera that asks for its detections), or `{ device: id }` (one device, say a dashboard's).
   */
  results: z.union([z.enum(['hub', 'source']), z.object({ device: id })]).default('hub'),
  /** A training job (1F1B with a flush per step); absent for inference. */
  training: z.object({
    microBatchesPerStep: z.number().int().min(1).max(1024).default(8),
    optimizerStateFactor: nonNeg.default(2),
    /**
     * Devices send their stages' state (parameters, Adam's moments) to the hub every this many
     * optimizer steps: a device that crashes loses at most the steps since (0: only at re-plans).
     */
    checkpointEverySteps: z.number().int().min(0).max(1_000_000).default(10),
  }).optional(),
  /**
   * Activation compression: the planner sends a cut's float32 tensors as float16 or int8 where the
   * model's output error, measured at that cut, stays within `maxOutputError` (relative L2); a
   * plan whose compressed cuts' errors sum above it (they add over cuts) sends some of them
   * lighter until the sum holds (planner/compression.ts withinErrorBound).
   * Absent: everything travels as float32.
   */
  compression: z.object({ maxOutputError: z.number().min(0).max(1) }).optional(),
  /**
   * Force the transfer mode of the job's plans (to measure one): `slots`, `grants` or `at-once`;
   * the prediction shown is that mode's. Absent: each plan runs the mode predicted fastest.
   */
  transfers: z.enum(['slots', 'grants', 'at-once']).optional(),
  qoe: z.object({
    latencyMs: positive.optional(),
    p95LatencyMs: positive.optional(),
    throughputRps: positive.optional(),
    energyJPerRequest: positive.optional(),
    memoryFraction: z.number().gt(0).max(1).optional(),
    /** Highest busy fraction of any resource (the air, each device) a plan may reach (default 0.75). */
    utilisationCap: z.number().gt(0).max(1).optional(),
  }).default({}),
})

export const scenarioSchema = z.object({
  name: z.string().min(1),
  description: z.string().default(''),
  network: z.object({
    standard: z.enum(['wifi4', 'wifi5', 'wifi6']),
    /** Share of airtime left by other traffic, 0..1. */
    availableAirtime: z.number().gt(0).max(1).default(1),
    /**
     * Other networks' traffic as random bursts (seeded in the simulator): the share of the air it
     * takes on average, its burst size and PHY rate. The planner sees its mean.
     */
    background: z.object({
      airShare: z.number().min(0).max(0.9),
      burstBytes: positive.default(1.5e6),
      rateBps: positive.default(1e8),
    }).optional(),
    /** A grant's round trip as measured (a hub's figure), ms: grants cost this instead of the modelled round trip. */
    grantRoundTripMs: positive.max(10_000).optional(),
    /** Tensor bytes per chunk message, as the hub's `tensors.chunkBytes` (default 256 KiB). */
    chunkBytes: z.number().int().min(1024).max(64 * 1024 * 1024).optional(),
  }),
  devices: z.array(scenarioDeviceSchema).min(1).max(1024),
  /** Scripted runtime dynamics for `dora simulate --dynamics` (times in seconds from the start). */
  dynamics: z.object({
    durationS: positive.max(86_400).default(300),
    events: z.array(z.discriminatedUnion('kind', [
      z.object({ atS: nonNeg, kind: z.literal('leave'), device: id }),
      z.object({ atS: nonNeg, kind: z.literal('return'), device: id }),
      z.object({ atS: nonNeg, kind: z.literal('battery'), device: id, levelPct: z.number().min(0).max(100) }),
      z.object({ atS: nonNeg, kind: z.literal('airtime'), availableAirtime: z.number().gt(0).max(1), durationS: positive }),
      z.object({ atS: nonNeg, kind: z.literal('rate'), source: id.nullable().default(null), rateRps: positive }),
    ])).max(1000),
  }).optional(),
  job: jobSchema,
  /**
   * Emulation on this machine (`dora demo`): `timeScale` stretches every profile time (compute
   * waits, Wi-Fi rates, slots) by one factor, for fleets whose profiles are faster than the host
   * can run their models; the demo reports figures divided by it and says so.
   */
  emulation: z.object({ timeScale: z.number().min(1).max(1000).default(1) }).default({ timeScale: 1 }),
}).superRefine((s, ctx) => {
  const ids = new Set<string>()
  s.devices.forEach((d, i) => {
    if (ids.has(d.id)) ctx.addIssue({ code: 'custom', path: ['devices', i, 'id'], message: `duplicate device id ${d.id}` })
    ids.add(d.id)
  })
  if (s.job.source !== null && !ids.has(s.job.source)) ctx.addIssue({ code: 'custom', path: ['job', 'source'], message: `no device ${s.job.source} in this scenario` })
  for (const [i, e] of (s.dynamics?.events ?? []).entries()) {
    if ('device' in e && !ids.has(e.device)) ctx.addIssue({ code: 'custom', path: ['dynamics', 'events', i, 'device'], message: `no device ${e.device} in this scenario` })
    if (e.kind === 'rate' && e.source !== null && !(s.job.sources ?? []).some((x) => x.device === e.source)) ctx.addIssue({ code: 'custom', path: ['dynamics', 'events', i, 'source'], message: `${e.source} is not a source of the job` })
    if (s.dynamics && e.atS >= s.dynamics.durationS) ctx.addIssue({ code: 'custom', path: ['dynamics', 'events', i, 'atS'], message: `after the end of the run (${s.dynamics.durationS} s)` })
  }
  const srcs = s.job.sources ?? []
  srcs.forEach((x, i) => {
    if (!ids.has(x.device)) ctx.addIssue({ code: 'custom', path: ['job', 'sources', i, 'device'], message: `no device ${x.device} in this scenario` })
    if (srcs.findIndex((y) => y.device === x.device) !== i) ctx.addIssue({ code: 'custom', path: ['job', 'sources', i, 'device'], message: `${x.device} is listed twice` })
  })
  if (srcs.length && s.job.source !== null) ctx.addIssue({ code: 'custom', path: ['job', 'source'], message: 'give either source or sources, not both' })
  if (typeof s.job.results === 'object' && ['hub', 'source'].includes(s.job.results.device)) ctx.addIssue({ code: 'custom', path: ['job', 'results', 'device'], message: 'hub and source are reserved names (use results: hub or results: source)' })
  else if (typeof s.job.results === 'object' && !ids.has(s.job.results.device)) ctx.addIssue({ code: 'custom', path: ['job', 'results', 'device'], message: `no device ${s.job.results.device} in this scenario` })
  if (srcs.length && s.job.training) ctx.addIssue({ code: 'custom', path: ['job', 'sources'], message: 'a training job reads its data from one source' })
  const sum = srcs.reduce((a, x) => a + x.rateRps, 0)
  if (!srcs.length && s.job.rateRps === undefined) ctx.addIssue({ code: 'custom', path: ['job', 'rateRps'], message: 'required (or give sources with their rates)' })
  if (srcs.length && s.job.rateRps !== undefined && Math.abs(s.job.rateRps - sum) > 1e-9 * sum) {
    ctx.addIssue({ code: 'custom', path: ['job', 'rateRps'], message: `is ${s.job.rateRps} but the sources add up to ${sum}` })
  }
})

export type Scenario = z.infer<typeof scenarioSchema>

export type JobConfig = z.infer<typeof jobSchema>
