/**
 * Plain, immutable planner types (no algorithms here). Units are in the names: Ms, S, Bytes,
 * Bps (bits per second), W, J, Flops. Layer ranges are half-open: [start, end).
 */
import type { ActivationCodec } from '../protocol/activation-codec.js'

import type { DeviceProfile, OpClassFlops } from '../shared/device-profile.js'
import type { WifiStandard } from './network/wifi.js'
import type { Transport } from './network/transport.js'

export type { DeviceProfile, OpClassFlops } from '../shared/device-profile.js'

/** A model as the planner sees it: units between candidate cut points. */
export interface ModelProfile {
  readonly name: string
  /** One entry per layer (a run of ONNX nodes between two candidate cuts). */
  readonly layers: ReadonlyArray<{
    readonly flops: OpClassFlops
    readonly paramBytes: number
    /** Largest tensor the layer produces (for activation memory). */
    readonly peakActivationBytes: number
    /**
     * All tensors the layer produces per sample, which training stashes for the backward pass
     * (default: peakActivationBytes).
     */
    readonly activationBytes?: number
  }>
  /** boundaryBytes[i]: bytes crossing the boundary before layer i per sample; [0] the input, [L] the output. */
  readonly boundaryBytes: readonly number[]
  /**
   * Model outputs each layer produces, bytes per sample (a detector's early heads): they go to
   * the results from the stage that holds the layer. Absent: all from the last layer.
   */
  readonly outputBytesByLayer?: readonly number[]
  /** ONNX node index at each layer boundary ([0] = 0, [L] = node count), to split the model file. */
  readonly nodeBounds?: readonly number[]
  /**
   * How the float32 tensors crossing each boundary travel (planner/compression.ts: the smallest
   * codec within the job's error bound; null: float32); boundaryBytes already counts it.
   */
  readonly boundaryCodecs?: ReadonlyArray<ActivationCodec | null>
  /** The measured output error of each boundary's codec (0: float32), relative L2, one cut alone. */
  readonly boundaryErrors?: readonly number[]
  /**
   * Per boundary, what a plan may fall back to when its cuts' errors add above the bound
   * (planner/compression.ts withinErrorBound): the float32 bytes per sample crossing it and each
   * codec's measured error (null: not compressible). Set with boundaryCodecs.
   */
  readonly boundaryOptions?: ReadonlyArray<{ readonly floatBytes: number; readonly error: Readonly<Record<ActivationCodec, number>> } | null>
  /**
   * The job's bound on the output error a request gets from compression (relative L2): a plan is
   * compliant only if the sum of its cuts' errors is within it (planOutputError); the search
   * sends a plan's cuts lighter until it is (withinErrorBound).
   */
  readonly maxOutputError?: number
}

export interface QoE {
  readonly latencyMs?: number
  readonly p95LatencyMs?: number
  readonly throughputRps?: number
  readonly energyJPerRequest?: number
  /** Fraction of each device's memory a plan may use (default 0.8). */
  readonly memoryFraction?: number
  /**
   * Highest busy fraction a plan may put on any resource (the air, each device) at the offered
   * load, inference only (default 0.75): queues need headroom, and small model errors grow as
   * u / (1 - u) near saturation.
   */
  readonly utilisationCap?: number
}

export type Goal = 'latency' | 'energy' | 'throughput'

/**
 * A training job: each optimizer step runs `microBatchesPerStep` micro-batches through the
 * pipeline in the 1F1B order with a flush at the step's end (PipeDream-Flush / DAPPLE), then the
 * replicas of each replicated stage synchronise their gradients (ring all-reduce).
 */
export interface TrainingSpec {
  readonly microBatchesPerStep: number
  /** Optimizer state per parameter byte (Adam keeps two moments: 2; SGD with momentum: 1). */
  readonly optimizerStateFactor: number
  /** Devices checkpoint their stages' state to the hub every this many steps (0: only at re-plans); default 10. */
  readonly checkpointEverySteps?: number
}

export interface Job {
  readonly id: string
  readonly model: ModelProfile
  /** Offered load, requests per second. */
  readonly rateRps: number
  readonly qoe: QoE
  readonly goal: Goal
  /** Where requests originate and results go (a device id); null: the hub, wired to the AP. */
  readonly sourceDevice: string | null
  /**
   * Several sources (cameras, say), each sending its share of the requests and getting its own
   * results back; overrides sourceDevice. Inference only. See jobSources.
   */
  readonly sources?: ReadonlyArray<{ readonly device: string | null; readonly share: number }>
  /**
   * Where results go (the job's consumer): `{ device: null }` the hub (wired), `{ device: id }` a
   * device, `source` (or absent) each request's own source. See routing.ts consumerOf.
   */
  readonly resultsTo?: 'source' | { readonly device: string | null }
  /**
   * Present for a training job. Its requests are samples: latency is the time of one optimizer
   * step, throughput is samples per second, energy is per sample; `rateRps` is not an offered
   * load (training runs as fast as the plan allows).
   */
  readonly training?: TrainingSpec
  /**
   * The transfer mode the job's plans run, forced (to measure one mode; the prediction is that
   * mode's): `slots` when the plan has a schedule, else at once. Absent: the mode predicted
   * fastest (adapt/transfer-mode.ts).
   */
  readonly transfers?: 'slots' | 'grants' | 'at-once'
  /**
   * Device sources capture on frame clocks of their own, each at its rate from a random phase, as
   * the device agent does when it sends at once (device-firmware-bridge/agent.ts startSource:
   * free-running, not phased to turns); the hub's source stays Poisson (the demo drives it so).
   * Set for the at-once and grants predictions (adapt/transfer-mode.ts: without turns a device
   * captures on its own clock in either mode) and their runs (`dora simulate`, its grants and
   * `--uncoordinated`; with slots the schedule phases the sources). Absent: every source Poisson.
   */
  readonly frameClocks?: boolean
}

export interface Stage {
  /** Half-open layer range [start, end). */
  readonly layers: readonly [number, number]
  /** One device, or several replicas sharing the stage's requests. */
  readonly devices: readonly string[]
}

export interface Plan {
  readonly id: string
  readonly stages: readonly Stage[]
  /** Requests per micro-batch. */
  readonly microBatch: number
  /** Which planner made it (for reports). */
  readonly planner: string
  /**
   * Boundaries where this plan sends lighter than the model's codec (boundaryCodecs), to keep its
   * summed compression error within the bound (planner/compression.ts withinErrorBound): fp16
   * instead of int8, or null (float32). Absent: the model's codecs at every cut.
   */
  readonly codecs?: Readonly<Record<number, ActivationCodec | null>>
}

export interface Prediction {
  readonly latencyMs: number
  readonly p95LatencyMs: number
  /** Sustainable rate of the pipeline, requests per second. */
  readonly capacityRps: number
  /** Delivered rate: the offered rate if the pipeline sustains it, else its capacity. */
  readonly throughputRps: number
  readonly energyJPerRequest: number
  /** Busiest resource's time per request (a stage replica or the air), ms. */
  readonly bottleneckMs: number
  readonly bottleneck: string
  readonly memoryBytes: Readonly<Record<string, number>>
  readonly airtimeMsPerRequest: number
  /**
   * How transfers share the air in this prediction: `granted`, one own transfer on the air at a
   * time in order of request (the hub's grants; `dora simulate`'s default); `contended`, all at
   * once per the DCF model.
   */
  readonly transferMode: 'granted' | 'contended'
  /** Busy fraction of every resource at the offered load: `air`, and each device by id. */
  readonly utilisation: Readonly<Record<string, number>>
  /**
   * How far the p95 estimate may be off, ms: 10% of it (the model's error at light load is
   * within 2%) plus half its queueing (Kingman's and Whitt's approximations: the benchmarked
   * error of the waits). A plan is compliant only if p95 + this is within the bound.
   */
  readonly p95UncertaintyMs: number
  /** Output error from activation compression along the path (planner/compression.ts planOutputError); absent: none. */
  readonly outputError?: number
}

export interface Violation {
  readonly bound: 'latencyMs' | 'p95LatencyMs' | 'throughputRps' | 'energyJPerRequest' | 'memory' | 'battery' | 'overload' | 'utilisation' | 'outputError'
  /** Device the violation concerns, if any. */
  readonly device: string | null
  readonly limit: number
  readonly predicted: number
}

export interface Compliance {
  readonly compliant: boolean
  readonly violations: readonly Violation[]
  /** The p95 bound minus predicted p95 and its uncertainty, ms (negative: inside the uncertainty); null without a p95 bound. */
  readonly p95MarginMs: number | null
  /** The utilisation cap minus the busiest resource's utilisation (inference; null for training). */
  readonly utilisationMargin: number | null
}

/** Model-output bytes per sample that layers [a, b) produce (their stage sends them to the results). */
export function outputBytesOf(model: ModelProfile, layers: readonly [number, number]): number {
  const L = model.layers.length
  if (!model.outputBytesByLayer) return layers[1] === L ? model.boundaryBytes[L]! : 0
  let s = 0
  for (let i = layers[0]; i < layers[1]; i++) s += model.outputBytesByLayer[i] ?? 0
  return s
}

/** The sources of a job's requests with their shares (one source, the sourceDevice, by default). */
export function jobSources(job: Job): ReadonlyArray<{ readonly device: string | null; readonly share: number }> {
  return job.sources && job.sources.length ? job.sources : [{ device: job.sourceDevice, share: 1 }]
}

/**
 * The job as a fleet can serve it: sources that are not in the fleet send nothing (the others
 * keep their rates). Null when no source is left (a single source device that is gone).
 */
export function jobForFleet(job: Job, present: { has(id: string): boolean }): Job | null {
  if (!job.sources || !job.sources.length) return job.sourceDevice === null || present.has(job.sourceDevice) ? job : null
  const rates = job.sources.map((x) => (x.device === null || present.has(x.device) ? x.share * job.rateRps : 0))
  const total = rates.reduce((a, x) => a + x, 0)
  if (total <= 0) return null
  const sources = job.sources.map((x, i) => ({ ...x, share: rates[i]! / total })).filter((x) => x.share > 0)
  return { ...job, rateRps: total, sources }
}

/** The shared medium the fleet talks over. */
export interface Network {
  readonly standard: WifiStandard
  /** Scheduled transfer slots (Dora) or uncoordinated sending. */
  readonly coordination: 'scheduled' | 'contended'
  /** Fraction of airtime left by other traffic (1 = the channel is ours), on average. */
  readonly availableAirtime: number
  /**
   * Other networks' traffic as random bursts (the simulator draws them; the cost model sees its
   * mean through availableAirtime, which already excludes `airShare`).
   */
  readonly background?: Readonly<{ airShare: number; burstBytes: number; rateBps: number }>
  /** Framing, wired links and the broker's relay (network/transport.ts; default DEFAULT_TRANSPORT). */
  readonly transport?: Transport
  /**
   * With scheduled coordination and no slots: the hub grants the air over MQTT (topics.md § Air
   * grants), and every air hop a device sends first pays its grant's round trip, the air held
   * for it meanwhile (network/grants.ts). Absent or false: grants cost nothing (the ideal
   * one-at-a-time medium, which slots and the training replay's slots also assume).
   */
  readonly grants?: boolean
  /**
   * A grant's round trip as the devices measured it (ask to grant, less the hub's queueing),
   * ms in profile time, the hub's fleet-wide figure (hub/grant-round-trips.ts). Given: every
   * device hop with grants pays this instead of the modelled round trip (network/grants.ts), in
   * the cost model and the simulator alike. Absent: the modelled figure.
   */
  readonly grantRoundTripMs?: number
  /**
   * With scheduled coordination, no grants and no slots: the devices send at once and the stations
   * with hops waiting share the air as DCF does (inference.ts dcfShare), not one hop whole after
   * another (the planner's at-once prediction sets it: adapt/transfer-mode.ts predictAtOnce);
   * the simulator's counterpart is its
   * contended medium (`dora simulate --uncoordinated`). Each hop's air time stays its
   * station's solo one: the cost model's contended coordination (every hop at once) is the worst
   * case, not this. Absent: the queued air, first come first served.
   */
  readonly dcf?: boolean
}

export interface Fleet {
  readonly devices: ReadonlyMap<string, DeviceProfile>
}
