/**
 * How much the hub believes a device's reports (README § Security): pure checks applied before a
 * report changes a plan.
 * - A stage time must be positive and finite. Against the time the device's profile predicts, one
 *   report counts at most `REPORT_FACTOR` times slower or faster: a single absurd figure moves the
 *   device's slowdown little, consistent measurements move it all the way over a few heartbeats
 *   (so a device that claims far more FLOP/s than it runs loses its stages once measured).
 * - The slowdown stays within [MIN_SLOWDOWN, MAX_SLOWDOWN] of the claimed caps. MIN_SLOWDOWN is 1:
 *   measurements may slow a device down against its caps, never speed it up past them, so a
 *   device reporting stage times faster than its caps predict (a flood of them drew a job onto
 *   the device at 1/283 of its caps' stage time, test/hardening/speed-claims.test.ts) is
 *   planned at most as fast as it claims, a claim the caps schema bounds.
 * - Request latencies of a job count only from the job's own source devices.
 * - A grant's measured round trip counts only within REPORT_FACTOR of the model's for the
 *   device's link, either way (hub/grant-round-trips.ts; beyond, it is refused).
 * Caps themselves are bounded by their schema (per op class, link rate per standard).
 */
import { jobSources, type Job } from '../planner/types.js'

export const REPORT_FACTOR = 10
export const MIN_SLOWDOWN = 1
export const MAX_SLOWDOWN = 1e9

/** Measured over predicted stage time as the hub weighs it, or null for a report it refuses. */
export function stageTimeRatio(measuredMs: number, predictedMs: number): { ratio: number; clamped: boolean } | null {
  if (!(measuredMs > 0) || !Number.isFinite(measuredMs) || !(predictedMs > 0) || !Number.isFinite(predictedMs)) return null
  const raw = measuredMs / predictedMs
  const ratio = Math.min(REPORT_FACTOR, Math.max(1 / REPORT_FACTOR, raw))
  return { ratio, clamped: ratio !== raw }
}

export function boundSlowdown(x: number): number {
  return Math.min(MAX_SLOWDOWN, Math.max(MIN_SLOWDOWN, x))
}

/** Whether `deviceId` is one of the job's sources (the only devices whose request latencies count). */
export function isSourceOf(job: Job, deviceId: string): boolean {
  return jobSources(job).some((s) => s.device === deviceId)
}

/** Whether a device's measured grant round trip (ms) is one the hub plans with: within REPORT_FACTOR of the model's `modelledMs`. */
export function grantRoundTripPlausible(measuredMs: number, modelledMs: number): boolean {
  if (!(measuredMs > 0) || !Number.isFinite(measuredMs) || !(modelledMs > 0) || !Number.isFinite(modelledMs)) return false
  return measuredMs <= modelledMs * REPORT_FACTOR && measuredMs >= modelledMs / REPORT_FACTOR
}
