/**
 * Where a plan's requests go, as the run routes them (runtime/route.ts): each source picks one
 * replica per stage by the stage's shares (smooth weighted round robin, per source and stage),
 * shares in proportion to the replicas' speed (their capacity). Stage 0 is local when every one
 * of its replicas is a source (cameras each running the first layers on their own frames): a
 * source keeps its own requests, the other sources spread over the replicas by capacity. A
 * source that holds a replica beside devices that are not sources spreads like any other.
 * Results go from the replica that produced them to the job's consumer (job.resultsTo): the hub,
 * a device, or each request's own source. Pure; shared by the cost model, the network scheduler,
 * the partitioner and the simulator, so all charge the results' transfer to where they really go.
 */
import { stageComputeMs } from './cost.js'
import { jobSources, type Fleet, type DeviceProfile, type Job, type Plan } from './types.js'

export interface Replica {
  readonly d: DeviceProfile
  /** Service time of one micro-batch, ms. */
  readonly ms: number
  /** Share of the stage's micro-batches by capacity (speed). */
  readonly share: number
}

export interface Routing {
  readonly sources: ReadonlyArray<{ readonly d: DeviceProfile | null; readonly share: number }>
  readonly stages: ReadonlyArray<{ readonly replicas: readonly Replica[]; readonly local: boolean }>
  /** weights[k][j][r]: probability that source k's micro-batch runs stage j on replica r. */
  readonly weights: ReadonlyArray<ReadonlyArray<readonly number[]>>
  /** consumers[k]: where source k's results go (null: the hub). */
  readonly consumers: ReadonlyArray<DeviceProfile | null>
}

/** Where the results of a request from `source` go: the job's consumer, or the source itself. */
export function consumerOf(job: Job, source: DeviceProfile | null, fleet: Fleet): DeviceProfile | null {
  const to = job.resultsTo
  if (to === undefined || to === 'source' || job.training) return source
  if (to.device === null) return null
  // a consumer device that is not in the fleet (it left): the results are charged as the hub's
  return fleet.devices.get(to.device) ?? null
}

/** Capacity shares of replicas with these service times (1 / ms, normalised). */
export function capacityShares(ms: readonly number[]): number[] {
  const speed = ms.map((x) => 1 / x)
  const total = speed.reduce((a, x) => a + x, 0)
  return speed.map((x) => x / total)
}

export function planRouting(plan: Plan, job: Job, fleet: Fleet, serviceMs: (d: DeviceProfile, layers: readonly [number, number]) => number = (d, l) => stageComputeMs(job, d, l, plan.microBatch)): Routing {
  const dev = (id: string): DeviceProfile => {
    const d = fleet.devices.get(id)
    if (!d) throw new RangeError(`plan ${plan.id} uses unknown device ${id}`)
    return d
  }
  const sources = jobSources(job).map((x) => ({ d: x.device ? dev(x.device) : null, share: x.share }))
  const sourceIds = new Set(sources.map((s) => s.d?.id ?? null))
  const stages = plan.stages.map((st, k) => {
    const ms = st.devices.map((id) => serviceMs(dev(id), st.layers))
    const shares = capacityShares(ms)
    const replicas = st.devices.map((id, r) => ({ d: dev(id), ms: ms[r]!, share: shares[r]! }))
    const local = k === 0 && !job.training && st.devices.every((id) => sourceIds.has(id))
    return { replicas, local }
  })
  const weights = sources.map((s) => stages.map((st) => {
    const own = st.local ? st.replicas.findIndex((r) => r.d.id === s.d?.id) : -1
    return own >= 0 ? st.replicas.map((_, r) => (r === own ? 1 : 0)) : st.replicas.map((r) => r.share)
  }))
  return { sources, stages, weights, consumers: sources.map((s) => consumerOf(job, s.d, fleet)) }
}

/** Share of all micro-batches that run stage j on replica r. */
export function replicaLoad(routing: Routing, j: number, r: number): number {
  return routing.sources.reduce((a, s, k) => a + s.share * routing.weights[k]![j]![r]!, 0)
}
