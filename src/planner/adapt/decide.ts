/**
 * One adapter decision as a plain request (pure): what the hub's job service asks on a fleet
 * change, the runtime adapter (`dora`) or a baseline's fixed policy. The request and the
 * decision are plain data (objects, arrays, Maps, numbers, strings): structured-clone-safe, so
 * the same call runs in the hub's thread or in a worker thread (src/hub/adapt-worker.ts) with
 * the same result.
 */
import type { BaselineName } from '../baselines/index.js'
import type { Network, Fleet, Job } from '../types.js'
import { adapt, type AdaptDecision, type AdapterState } from './adapter.js'
import { fixedDecision } from './fixed.js'

export interface AdaptRequest {
  /** Who plans the job: the adapter, or a baseline run as is. */
  readonly planner: 'dora' | BaselineName
  readonly state: AdapterState
  readonly job: Job
  readonly fleet: Fleet
  readonly network: Network
  /** The running epoch's measured mean latency, ms (adapter only). */
  readonly measuredLatencyMs?: number
  readonly nowMs: number
  readonly why: string
  /** A join or a leave decided quickly from the kept plans first (AdapterOptions.quick; adapter only). */
  readonly quick?: boolean
  /** Micro-batch sizes the search may choose (absent: its own). */
  readonly microBatches?: readonly number[]
}

export function decide(r: AdaptRequest): AdaptDecision {
  if (r.planner !== 'dora') return fixedDecision(r.state, r.planner, r.job, r.fleet, r.network, r.nowMs, r.why, r.microBatches)
  const inputs = { job: r.job, fleet: r.fleet, network: r.network, ...(r.measuredLatencyMs !== undefined ? { measuredLatencyMs: r.measuredLatencyMs } : {}) }
  return adapt(r.state, inputs, r.nowMs, r.why, { ...(r.quick !== undefined ? { quick: r.quick } : {}), ...(r.microBatches ? { microBatches: r.microBatches } : {}) })
}
