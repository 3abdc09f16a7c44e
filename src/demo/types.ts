/**
 * The demo's options and summary (EMULATION): what `runDemo` takes and what it reports.
 */
import type { Logger } from '../log.js'
import type { StageBreakdown } from './breakdown.js'

export interface DemoOptions {
  readonly scenarioFile: string
  /** Seconds of requests (wall-clock); null: long enough for about 60 requests (30-300 s), or for a training job two optimizer steps as predicted on the clock (one if two take over 10 min; at least 30 s). */
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
  /**
   * Where `latencyMs` was measured: at the job's consumer (the hub receives the results of the
   * cameras' requests), or at the sources (a source that gets its own results, or the hub's own).
   */
  latencyMeasuredAt?: 'consumer (hub)' | 'sources'
  /** Wall seconds of air the emulated Wi-Fi could not replay because the demo's process was starved of CPU (0 on an idle machine). */
  wifiStalledS?: number
  /**
   * What the emulated links carried over the whole demo (set-up included): bytes per station, both
   * directions, and the Wi-Fi's air in use, seconds of profile time; and the bytes of the stage
   * models installed straight into the devices' model cache before the run (setup, demo.ts
   * deployBeforeRun: NOT carried over the emulated Wi-Fi, so not in carriedBytes nor airUsedS).
   */
  wifi?: { carriedBytes: Record<string, number>; airUsedS: number; modelBytesInstalledOutsideWifi: number }
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
  /** Wall seconds from the start of training to the end of its last step, and the steps the prediction fits in them (on the clock). */
  trainedWallS: number
  predictedSteps: number
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
