/**
 * Options and results of an event-driven run of a plan (the simulator's runs and the training
 * replay alike). Everything reported is emulation.
 */
import type { Schedule } from '../network/scheduler.js'

export interface SimOptions {
  readonly durationS: number
  readonly warmupS: number
  readonly seed: number
  /** Coefficient of variation of compute time (device speed jitter). */
  readonly computeJitter: number
  /**
   * The network scheduler's slots for this plan (with scheduled coordination): micro-batches are
   * released every period on their routes, and each transfer waits for its slot.
   */
  readonly schedule?: Schedule
}

export interface SimResult {
  readonly emulated: true
  readonly requests: number
  readonly completed: number
  readonly latencyMs: number
  readonly p95LatencyMs: number
  readonly throughputRps: number
  readonly energyJPerRequest: number
  readonly energyJByDevice: Readonly<Record<string, number>>
  readonly airBusyFraction: number
  readonly qoeMet: boolean
  /** Mean latency of each source's requests, ms, in the order of jobSources (inference; empty for training). */
  readonly latencyMsBySource: readonly number[]
  /** Every measured request's latency, ms (inference; empty for training). */
  readonly samplesMs: readonly number[]
  /** Training: checkpoint bytes the devices send the hub per step, mean over the run's steps. */
  readonly checkpointBytesPerStep?: number
}
