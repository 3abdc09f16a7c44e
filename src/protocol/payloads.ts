/**
 * Payload schemas of the wire protocol (topics.md § Payloads). Each schema is the single source
 * of both the runtime validation and the TypeScript type. Every payload carries `v` (protocol
 * version) so Dora never depends on MQTT 5 properties: devices may speak MQTT 3.1.1.
 */
import { z } from 'zod'
import { PROTOCOL_VERSION, isValidId } from './topics.js'
import { DTYPE_NAMES } from './dtypes.js'
import { textLists } from './text-lists.js'

const version = z.literal(PROTOCOL_VERSION)
const nonNeg = z.number().finite().nonnegative()
const positive = z.number().finite().positive()
const shortText = z.string().min(1).max(128)
/** A device or job id (topics.md: 1-64 characters of A-Z a-z 0-9 _ - .): what a topic level may name. */
const id = z.string().refine(isValidId, 'must be an id: 1-64 characters of A-Z a-z 0-9 _ - .')

/**
 * Upper bounds on what a device may claim (anything above is refused as implausible): 1 PFLOP/s
 * for convolutions and matrix products (a data-centre GPU's dense FP16), 100 TFLOP/s elementwise,
 * 16 TiB of memory, 10 kW, and per link the standard's top PHY rate (802.11n 600 Mbit/s, ac
 * 6.93 Gbit/s, ax 9.6 Gbit/s, be 46 Gbit/s; 400 Gbit/s wired, 20 Gbit/s cellular).
 */
export const CAPS_LIMITS = {
  flopsPerSec: { conv: 1e15, matmul: 1e15, elementwise: 1e14 },
  memoryBytes: 2 ** 44,
  watts: 10_000,
  linkRateBps: { wifi4: 6e8, wifi5: 6.93e9, wifi6: 9.6e9, wifi7: 4.61e10, wifi: 4.61e10, ethernet: 4e11, cellular: 2e10, other: 4e11 },
} as const

/** Effective FLOP/s per op class, as measured by the device (onnxruntime micro-benchmark). */
export const flopsPerSecSchema = z.object({
  conv: positive.max(CAPS_LIMITS.flopsPerSec.conv),
  matmul: positive.max(CAPS_LIMITS.flopsPerSec.matmul),
  elementwise: positive.max(CAPS_LIMITS.flopsPerSec.elementwise),
})

export const capsSchema = z.object({
  v: version,
  deviceId: id,
  /** Free text naming the hardware, e.g. "raspberry-pi-5", "laptop", "jetson-orin-nano". */
  kind: shortText,
  /** True when the device is an emulation (time-dilated profile); shown in every output. */
  emulated: z.boolean(),
  compute: z.object({
    cores: z.number().int().min(1).max(4096),
    flopsPerSec: flopsPerSecSchema,
    accelerators: z.array(shortText).max(16),
  }),
  memory: z.object({
    totalBytes: positive.max(CAPS_LIMITS.memoryBytes),
    availableBytes: nonNeg.max(CAPS_LIMITS.memoryBytes),
  }),
  power: z.object({
    idleW: nonNeg.max(CAPS_LIMITS.watts),
    activeW: nonNeg.max(CAPS_LIMITS.watts),
    /** Null for mains-powered devices. */
    battery: z
      .object({ capacityWh: positive.max(CAPS_LIMITS.watts), levelPct: z.number().min(0).max(100), charging: z.boolean() })
      .nullable(),
  }),
  network: z.object({
    /** Effective link rate to the access point or switch, bits per second. */
    linkRateBps: positive,
    interface: z.enum(['wifi', 'ethernet', 'cellular', 'other']),
    /** For Wi-Fi: wifi4 / wifi5 / wifi6 (802.11n/ac/ax). */
    standard: z.enum(['wifi4', 'wifi5', 'wifi6', 'wifi7']).nullable(),
  }),
  runtime: z.object({
    dora: shortText,
    onnxruntime: shortText.nullable(),
  }),
}).superRefine((c, ctx) => {
  const n = c.network
  const key = n.interface === 'wifi' ? n.standard ?? 'wifi' : n.interface
  const max = CAPS_LIMITS.linkRateBps[key]
  if (n.linkRateBps > max) ctx.addIssue({ code: 'custom', path: ['network', 'linkRateBps'], message: `${n.linkRateBps} bit/s is above what ${key} carries (${max})` })
})
export type Caps = z.infer<typeof capsSchema>

export const stageTimingSchema = z.object({
  jobId: id,
  stage: z.number().int().nonnegative(),
  meanMs: nonNeg,
  count: z.number().int().nonnegative(),
})

export const heartbeatSchema = z.object({
  v: version,
  /** Monotonic per device session; lets the hub spot lost or reordered heartbeats. */
  seq: z.number().int().nonnegative(),
  /** Device wall clock, ms since the Unix epoch (used to estimate clock offset). */
  timeMs: nonNeg,
  /** CPU load as a fraction of all cores, 0..1. */
  load: z.number().min(0).max(1),
  freeMemoryBytes: nonNeg.max(CAPS_LIMITS.memoryBytes),
  batteryPct: z.number().min(0).max(100).nullable(),
  /** Measured throughput to the broker, bits per second; null until measured. */
  linkThroughputBps: nonNeg.max(CAPS_LIMITS.linkRateBps.ethernet).nullable(),
  queueDepth: z.number().int().nonnegative(),
  /** The plan epoch the device is running; null before its first assignment. */
  epoch: z.number().int().nonnegative().nullable(),
  stageTimings: z.array(stageTimingSchema).max(256),
  /** Energy used since the device agent started, J, from its power model (optional). */
  energyJ: nonNeg.optional(),
  /**
   * End-to-end latency of the requests this device sent and got results for (a source device),
   * per job, since its last heartbeat. Optional: only sources report it.
   */
  requestLatencies: z.array(z.object({
    jobId: id,
    meanMs: nonNeg,
    p95Ms: nonNeg,
    count: z.number().int().nonnegative(),
  })).max(64).optional(),
  /**
   * Round trips of the air grants this device got since its last heartbeat (ask to grant, less
   * the hub's queueing; topics.md § Air grants), in profile time. Optional: only devices that
   * sent with grants report it.
   */
  grants: z.object({
    meanMs: nonNeg.max(10_000),
    count: z.number().int().positive().max(1_000_000),
  }).optional(),
})
export type Heartbeat = z.infer<typeof heartbeatSchema>

/** Published by the hub to `dora/v1/devices/{id}/error` (JSON) when it rejects a device payload. */
export interface DeviceErrorPayload {
  v: typeof PROTOCOL_VERSION
  code: string
  message: string
  topic: string
  timeMs: number
}

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; error: string; version?: boolean }

/** Validates a decoded payload, naming each failing field in one readable line. */
export function validate<T>(schema: z.ZodType<T>, value: unknown): ValidationResult<T> {
  if (value !== null && typeof value === 'object' && 'v' in value && value.v !== PROTOCOL_VERSION) {
    return { ok: false, version: true, error: `unsupported protocol version ${JSON.stringify(value.v)} (this hub speaks v${PROTOCOL_VERSION})` }
  }
  const parsed = schema.safeParse(value)
  if (parsed.success) return { ok: true, value: parsed.data }
  return { ok: false, error: formatIssues(parsed.error) }
}

export function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 8)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ')
}

const stageRef = z.object({
  /** Half-open layer range of the planner's model profile. */
  layers: z.tuple([z.number().int().nonnegative(), z.number().int().positive()]),
  /** The ONNX node range the stage model holds (`dora split --cuts`), when known. */
  nodes: z.tuple([z.number().int().nonnegative(), z.number().int().positive()]).nullable(),
  devices: z.array(shortText).min(1).max(1024),
  /** The tensors the stage reads (model inputs or earlier stages' outputs) and produces. */
  inputs: z.array(z.string().min(1).max(256)).max(256).optional(),
  outputs: z.array(z.string().min(1).max(256)).max(256).optional(),
  /** Share of the stage's requests per device (same order; sum 1): replicas by speed. */
  shares: z.array(z.number().min(0).max(1)).max(1024).optional(),
  /** How the stage's float32 outputs travel to later stages (activation-codec.ts); absent: float32. Results are never compressed. */
  codec: z.enum(['fp16', 'int8']).optional(),
})

/** A model input a source sends with each request. */
const tensorSpec = z.object({
  name: z.string().min(1).max(256),
  dtype: z.enum(DTYPE_NAMES),
  shape: z.array(z.number().int().nonnegative()).max(16),
})
export type TensorSpec = z.infer<typeof tensorSpec>

/** Published by the hub, retained, on `dora/v1/jobs/{jobId}/plan` (CBOR): the job's plan epoch. */
export const planEpochSchema = z.object({
  v: version,
  jobId: shortText,
  epoch: z.number().int().positive(),
  /** Hub clock, ms since the Unix epoch: devices switch at this instant (a period boundary). */
  activateAtMs: nonNeg,
  /** The plans of the mix and the share of requests each takes. */
  parts: z.array(z.object({
    planId: shortText,
    weight: z.number().min(0).max(1),
    microBatch: z.number().int().min(1),
    stages: z.array(stageRef).min(1).max(64),
    /** The plan's transfer schedule (null: no slots, transfers go as the hub grants the air). */
    schedule: z.object({
      periodMs: positive,
      cycleMs: positive,
      microBatchesPerCycle: z.number().int().min(1),
      guardMs: nonNeg,
      /**
       * Whose turn each micro-batch of the cycle is (a source's device id, or `hub`): with slots,
       * a device source captures at its turns (runtime/turn-clock.ts).
       */
      turns: z.array(shortText).max(1024).optional(),
    }).nullable(),
    /**
     * How the plan's transfers go (the mode predicted fastest): in the schedule's slots; as the
     * hub grants the air (topics.md § Air grants); or at once (no slots in the assignments).
     */
    transfers: z.enum(['slots', 'grants', 'at-once']).optional(),
  })).min(1).max(16),
  predicted: z.object({ latencyMs: nonNeg, p95LatencyMs: nonNeg.optional(), energyJPerRequest: nonNeg }),
  /** The model inputs a source sends with each request. */
  inputs: z.array(tensorSpec).max(64).optional(),
  /** The model outputs a result carries. */
  outputs: z.array(z.string().min(1).max(256)).max(64).optional(),
  /** Devices of the previous epoch that left the fleet: sources re-send requests routed through them. */
  departed: z.array(shortText).max(1024).optional(),
  /** The job's sources (device ids; `hub` for requests the hub sends). */
  sources: z.array(shortText).max(1024).optional(),
  /**
   * Where the last stage sends results (topics.md § Results and receipts): `hub`, `source` (each
   * request's own source), or a device id. Absent: `hub`.
   */
  resultsTo: shortText.optional(),
  reason: z.string().max(1024),
  /** True when any device of the plan is emulated. */
  emulated: z.boolean(),
  /** A training job: each optimizer step runs this many micro-batches (1F1B, flush per step). */
  training: z.object({
    microBatchesPerStep: z.number().int().min(1).max(4096),
    /** Devices send their stages' state to the hub every this many steps (0: only at re-plans; absent: 10). */
    checkpointEverySteps: z.number().int().min(0).max(1_000_000).optional(),
  }).optional(),
})
export type PlanEpochPayload = z.infer<typeof planEpochSchema>

const modelRef = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().positive(), chunks: z.number().int().positive() })

/** Published by the hub, retained, on `dora/v1/devices/{id}/assignment` (CBOR): what the device runs. */
export const assignmentSchema = z.object({
  v: version,
  jobId: shortText,
  epoch: z.number().int().positive(),
  activateAtMs: nonNeg,
  /** Empty: the device has nothing to run for this job in this epoch. */
  stages: z.array(z.object({
    planId: shortText,
    stage: z.number().int().nonnegative(),
    layers: z.tuple([z.number().int().nonnegative(), z.number().int().positive()]),
    nodes: z.tuple([z.number().int().nonnegative(), z.number().int().positive()]).nullable(),
    /** Share of the job's requests that go through this plan. */
    weight: z.number().min(0).max(1),
    /** The stage's ONNX model: fetch its chunks from dora/v1/models/{sha256}/{i}, i < chunks. */
    model: modelRef.nullable(),
    /**
     * A training job's stage: `model` is the forward model (its initializers hold the starting
     * parameters and its outputs the stash), `backward` the backward model, `params` the
     * trainable parameters in the order of the flat gradient replicas all-reduce.
     */
    backward: modelRef.optional(),
    params: z.array(z.string().min(1).max(256)).max(100_000).optional(),
    /** Floating-point operations per request by op class: an emulated device waits until its profile's time. */
    flops: z.object({ conv: nonNeg, matmul: nonNeg, elementwise: nonNeg }).optional(),
  })).max(64),
  /** The device's sending slots, relative to its plan's cycle start (epoch start + k cycles). */
  slots: z.array(z.object({
    planId: shortText,
    to: shortText,
    tensor: shortText,
    offsetMs: nonNeg,
    durationMs: nonNeg,
    bytes: nonNeg,
  })).max(100_000),
})
export type AssignmentPayload = z.infer<typeof assignmentSchema>

/** Published by the hub, retained, on `dora/v1/models/{sha256}/{index}` (CBOR): one chunk of a stage model. */
export const modelChunkSchema = z.object({
  v: version,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  index: z.number().int().nonnegative(),
  count: z.number().int().positive(),
  totalBytes: z.number().int().positive(),
  data: z.custom<Uint8Array>((x) => x instanceof Uint8Array, { message: 'must be a byte string' }),
}).refine((c) => c.index < c.count, { message: 'index must be below count' })
export type ModelChunk = z.infer<typeof modelChunkSchema>

/**
 * On `dora/v1/jobs/{jobId}/steps` (CBOR, not retained), for training jobs:
 * - `start`, from the job's source: one optimizer step begins; `routes[i]` is the device of
 *   every stage for micro-batch i (so each replica knows how many it will run);
 * - `done`, from every device of every stage once its parameters are updated: the step's loss
 *   (stages that compute part of the objective) and a digest of the stage's parameters (equal on
 *   every replica of a stage after the all-reduce).
 */
export const trainingStepSchema = z.discriminatedUnion('kind', [
  z.object({
    v: version,
    kind: z.literal('start'),
    epoch: z.number().int().positive(),
    planId: shortText,
    step: z.number().int().nonnegative(),
    // one loop, one issue (text-lists.ts): zod's own check costs a second on 262,144 bad elements
    routes: textLists({ min: 1, max: 4096 }, { min: 1, max: 64, maxChars: 128 }),
    startedAtMs: nonNeg,
  }),
  z.object({
    v: version,
    kind: z.literal('done'),
    epoch: z.number().int().positive(),
    planId: shortText,
    step: z.number().int().nonnegative(),
    stage: z.number().int().nonnegative(),
    device: shortText,
    microBatches: z.number().int().nonnegative(),
    loss: z.number().nullable(),
    paramsSha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
])
export type TrainingStep = z.infer<typeof trainingStepSchema>

/** Longest air a grant may lease, ms (a device that never gives the air back holds it no longer). */
export const MAX_GRANT_LEASE_MS = 10_000

const seq = z.number().int().nonnegative().max(2 ** 31)

/**
 * Published by a device on `dora/v1/devices/{id}/air` (CBOR, QoS 1): `ask`, the air for one
 * transfer of `bytes`, which the device expects to take `airMs` (its own estimate, wall clock);
 * `done`, the air it was granted for `seq` is free again. topics.md § Air grants.
 */
export const airMessageSchema = z.discriminatedUnion('kind', [
  z.object({ v: version, kind: z.literal('ask'), seq, bytes: z.number().int().positive().max(2 ** 31), airMs: positive.max(MAX_GRANT_LEASE_MS) }),
  z.object({ v: version, kind: z.literal('done'), seq }),
])
export type AirMessage = z.infer<typeof airMessageSchema>

/**
 * Published by the hub on `dora/v1/devices/{id}/grant` (CBOR, QoS 1): the air is the device's
 * for `seq`, for at most `leaseMs`; the ask waited `queuedMs` at the hub behind other grants (so
 * the device can tell the round trip from the queue).
 */
export const airGrantSchema = z.object({ v: version, seq, leaseMs: positive.max(MAX_GRANT_LEASE_MS), queuedMs: nonNeg })
export type AirGrant = z.infer<typeof airGrantSchema>

/**
 * A receipt (CBOR, on `dora/v1/jobs/{jobId}/receipts/{source}`): the last stage tells a request's
 * source that its results went to the job's consumer, so the source counts it answered (and
 * re-sends only what has none) without receiving the results.
 */
export const receiptSchema = z.object({
  v: version,
  /** The request attempt's id (`{source}.{n}.{attempt}`), as its chunks carry it. */
  req: shortText,
  epoch: z.number().int().positive(),
  /** The model outputs that went to the consumer. */
  outputs: z.array(z.string().min(1).max(256)).min(1).max(64),
  /** Where they went (`hub` or a device id). */
  to: shortText,
})
export type ReceiptPayload = z.infer<typeof receiptSchema>
