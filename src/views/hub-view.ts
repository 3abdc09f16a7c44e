/**
 * The narrow, read-only view of the hub that its readers get (the status page, Home Assistant,
 * metrics): the jobs as planned and measured, and the fleet as the registry sees it. The hub's
 * job services and registry implement it; readers never reach the hub's classes.
 */
import type { PlanEpoch } from '../planner/adapt/adapter.js'
import type { Job } from '../planner/types.js'
import type { DeviceRecord, RegistryEvent } from '../registry/registry.js'

export interface MeasuredFigures {
  readonly latencyMs: number
  readonly p95Ms: number
  readonly throughputRps: number
}

/** One job as its readers see it. */
export interface JobView {
  readonly id: string
  /** The model as configured (a zoo name or a file). */
  readonly model: string
  /** The running epoch, or null before the first plan. */
  readonly epoch: PlanEpoch | null
  /** The job as planned (its goal, rate and bounds), once started. */
  readonly plannerJob: Job | null
  /** Why the job is not running (no plan runs on the devices online; its plan epoch was cleared), or null. */
  readonly notRunning?: string | null
  /** What the sources measured over the last `windowMs` (null: nothing reported). */
  measuredFigures(nowMs: number, windowMs?: number): MeasuredFigures | null
}

/** The fleet as the registry sees it, and its changes. */
export interface FleetView {
  snapshot(): DeviceRecord[]
  on(event: 'event', listener: (e: RegistryEvent) => void): unknown
  off(event: 'event', listener: (e: RegistryEvent) => void): unknown
}
