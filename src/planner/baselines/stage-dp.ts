/**
 * Two single-device-per-stage DPs over the same state space, as their authors describe them.
 *
 * PipeEdge's partitioning (Hu et al., "PipeEdge: Pipeline Parallelism for Large-Scale Model
 * Inference on Heterogeneous Edge Devices", DSD 2022; public code usc-isi/PipeEdge,
 * src-native/schedule.cpp), through Dora's plan type. Pure.
 *
 * Dynamic programming over (layers done, multiset of device types used, type of the last
 * stage's device); each stage is one device; it minimises the pipeline's bottleneck, the largest
 * of every stage's compute time and every transfer's time, a transfer costing the activation
 * bytes over the smaller of the two devices' bandwidths (no contention, no shared medium), with a
 * memory check per stage. Wired devices count with 1 Gbit/s. O(L^2 K^2 prod(n_k + 1)).
 *
 * EdgeShard (Zhang et al., "EdgeShard: Efficient LLM Inference via Collaborative Edge
 * Computing", IEEE IoT Journal 2024), its latency goal: the same joint device selection and
 * partitioning DP, minimising the sum of stage compute and transfer times (one request's latency)
 * instead of the bottleneck; transfers again cost bytes over the smaller bandwidth, no contention.
 *
 * Both are given the problem Dora is given: the requests start at the job's sources and the
 * results go to the job's consumer (the hub, a device, or each source: routing.ts consumerOf), so
 * the DPs charge the source-to-first-stage transfer (PipeEdge's schedule.cpp has the input on its
 * first device; EdgeShard's formulation starts at the source device) and the results' way to
 * their consumer, by the same rule (bytes over the smaller bandwidth, a source's share of the
 * requests each). Plans are then costed by Dora's cost model like every other.
 */
import { compliance, predict, stageComputeMs } from '../cost.js'
import { jobSources, type DeviceProfile, type Fleet, type Network, type Job, type Plan, type Stage } from '../types.js'
import { consumerOf } from '../routing.js'
import { deviceTypes, type PlanCandidate } from '../partition.js'
import { StepBudget } from './budget.js'

const WIRED_BPS = 1e9

export function pipeEdge(job: Job, fleet: Fleet, network: Network): PlanCandidate | null {
  return singleDeviceStagesDp(job, fleet, network, 'pipeedge', (acc, comm, compute) => Math.max(acc, comm, compute))
}

export function edgeShard(job: Job, fleet: Fleet, network: Network): PlanCandidate | null {
  return singleDeviceStagesDp(job, fleet, network, 'edgeshard', (acc, comm, compute) => acc + comm + compute)
}

function singleDeviceStagesDp(
  job: Job,
  fleet: Fleet,
  network: Network,
  name: string,
  combine: (acc: number, commMs: number, computeMs: number) => number,
): PlanCandidate | null {
  const { types, L, bw, memoryLimit, states } = dpSetup(job, fleet)
  const budget = new StepBudget(name)
  // a transfer between a source (null: the hub, wired) and a device of type t, ms, over the sources' shares
  const sources = jobSources(job).map((x) => ({ d: x.device ? fleet.devices.get(x.device) ?? null : null, share: x.share }))
  // (or its results' consumer, routing.ts consumerOf: the hub, a device or the source itself)
  const between = (bytes: number, t: number, ends: ReadonlyArray<{ d: DeviceProfile | null; share: number }>) =>
    ends.reduce((a, s) => a + (s.d && types[t]!.ids.includes(s.d.id) && types[t]!.ids.length === 1 ? 0 : (s.share * bytes * 8 * 1000) / Math.min(s.d?.linkRateBps ?? WIRED_BPS, bw(t))), 0)
  const sourceComm = (bytes: number, t: number) => between(bytes, t, sources)
  const consumers = sources.map((s) => ({ d: consumerOf(job, s.d, fleet), share: s.share }))
  const resultComm = (bytes: number, t: number) => between(bytes, t, consumers)
  for (let i = 0; i < L; i++) {
    for (const [key, e] of states[i]!) {
      for (const t of types) {
        if (e.counts[t.index]! >= t.ids.length) continue
        const comm = e.last < 0 ? sourceComm(job.model.boundaryBytes[0]!, t.index) : (job.model.boundaryBytes[i]! * 8 * 1000) / Math.min(bw(e.last), bw(t.index))
        // the state this stage leads to, whatever its last layer (built once: O(types) each)
        const counts = e.counts.slice()
        counts[t.index]! += 1
        const k = `${counts.join(',')}|${t.index}`
        const stageDevices = [t.ids[e.counts[t.index]!]!]
        let params = 0
        let peak = 0
        for (let j = i + 1; j <= L; j++) {
          params += job.model.layers[j - 1]!.paramBytes
          peak = Math.max(peak, job.model.layers[j - 1]!.peakActivationBytes)
          if (params + 2 * peak > memoryLimit(t.index)) break
          budget.spend()
          let cost = combine(e.cost, comm, stageComputeMs(job, t.rep, [i, j], 1))
          // the results' way to the job's consumer
          if (j === L) cost = combine(cost, resultComm(job.model.boundaryBytes[L]!, t.index), 0)
          const have = states[j]!.get(k)
          if (!have || cost < have.cost) {
            states[j]!.set(k, { cost, prev: key, stage: { layers: [i, j], devices: stageDevices }, counts, last: t.index })
          }
        }
      }
    }
  }
  const stages = tracePlan(states, L)
  if (!stages) return null
  const plan: Plan = { id: name, stages, microBatch: 1, planner: name }
  const prediction = predict(plan, job, fleet, network)
  return { plan, prediction, compliance: compliance(job, fleet, prediction) }
}

/**
 * What the type-based DPs share: the usable devices' types, each type's bandwidth (wired: 1
 * Gbit/s) and memory bound, and the DP's state table with its start state.
 */
export function dpSetup(job: Job, fleet: Fleet) {
  const devices = [...fleet.devices.values()].filter((d) => !d.battery || d.battery.levelPct >= d.battery.minPct)
  const types = deviceTypes(devices)
  const L = job.model.layers.length
  const bw = (t: number) => types[t]!.rep.linkRateBps ?? WIRED_BPS
  const memoryLimit = (t: number) => types[t]!.rep.memoryBytes * (job.qoe.memoryFraction ?? 0.8)
  const states: Array<Map<string, DpEntry>> = Array.from({ length: L + 1 }, () => new Map())
  states[0]!.set('start', { cost: 0, prev: null, stage: null, counts: types.map(() => 0), last: -1 })
  return { types, L, bw, memoryLimit, states }
}

/** A DP state's best way in: its cost, the previous state's key and the stage that led here. */
export interface DpEntry { cost: number; prev: string | null; stage: Stage | null; counts: number[]; last: number }

/** The stages of the cheapest complete state, followed back to the start; null if none. */
export function tracePlan(states: ReadonlyArray<ReadonlyMap<string, DpEntry>>, L: number): Stage[] | null {
  let best: [string, DpEntry] | null = null
  for (const kv of states[L]!) if (!best || kv[1].cost < best[1].cost) best = kv
  if (!best) return null
  const stages: Stage[] = []
  let at: { i: number; key: string } | null = { i: L, key: best[0] }
  while (at) {
    const e: DpEntry = states[at.i]!.get(at.key)!
    if (!e.stage) break
    stages.unshift(e.stage)
    at = e.prev ? { i: e.stage.layers[0], key: e.prev } : null
  }
  return stages
}
