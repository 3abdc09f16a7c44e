/**
 * Baselines without a search of their own, through the same plan type and cost model. Pure.
 * - best single device: the whole model on the one device that does the goal best among those
 *   that meet the bounds (the latency bound first: a user running one device would not pick one
 *   that misses it), else the one closest to them;
 * - equal split: every usable device one stage, equal numbers of layers, in fleet order;
 * - data parallel only: the whole model replicated on every device it fits;
 * - exo (exo-explore/exo, `RingMemoryWeightedPartitioningStrategy` in
 *   exo/topology/ring_memory_weighted_partitioning_strategy.py): every device that joined, in a
 *   ring ordered by memory (largest first, ties by id), each taking layers in proportion to its
 *   share of the ring's total memory; it never looks at compute speed or bandwidth.
 * - exo-fewest: the fewest devices, largest memory first, whose memory holds the model, layers
 *   split by memory (an earlier stand-in for exo, kept as a memory-only baseline that uses few
 *   devices).
 * - CoEdge-style (Zeng et al., "CoEdge: Cooperative DNN Inference with Adaptive Workload
 *   Partitioning over Heterogeneous Edge Devices", IEEE/ACM ToN 2021): minimise energy under the
 *   latency bound by spreading the whole model's work over devices. CoEdge splits each input
 *   spatially and solves a linear program for the shares; through Dora's plan type the shares
 *   become a replicated stage, and the devices are added most energy-efficient first (J per FLOP)
 *   until the latency bound holds.
 */
import { compliance, distanceToBounds, predict } from '../cost.js'
import type { Fleet, Network, DeviceProfile, Job, Plan, Stage } from '../types.js'
import type { PlanCandidate } from '../partition.js'

const usable = (fleet: Fleet) => [...fleet.devices.values()].filter((d) => !d.battery || d.battery.levelPct >= d.battery.minPct)

function candidate(plan: Plan, job: Job, fleet: Fleet, network: Network): PlanCandidate {
  const prediction = predict(plan, job, fleet, network)
  return { plan, prediction, compliance: compliance(job, fleet, prediction) }
}

function goalValue(job: Job, c: PlanCandidate): number {
  return job.goal === 'throughput' ? -c.prediction.capacityRps : job.goal === 'energy' ? c.prediction.energyJPerRequest : c.prediction.latencyMs
}

export function bestSingleDevice(job: Job, fleet: Fleet, network: Network): PlanCandidate | null {
  const L = job.model.layers.length
  const all = usable(fleet).map((d) => candidate({ id: `single-${d.id}`, stages: [{ layers: [0, L], devices: [d.id] }], microBatch: 1, planner: 'single-device' }, job, fleet, network))
  const compliant = all.filter((c) => c.compliance.compliant)
  if (compliant.length) return compliant.reduce((a, b) => (goalValue(job, b) < goalValue(job, a) ? b : a))
  // none meets every bound: the one that fits in memory closest to the bounds
  const fits = all.filter((c) => !c.compliance.violations.some((v) => v.bound === 'memory'))
  const pool = fits.length ? fits : all
  return pool.length ? pool.reduce((a, b) => (distanceToBounds(b.compliance) < distanceToBounds(a.compliance) ? b : a)) : null
}

/** Splits L layers into contiguous stages with sizes proportional to `weights` (each >= 1 layer). */
function proportionalStages(L: number, devices: readonly DeviceProfile[], weights: readonly number[]): Stage[] {
  const n = Math.min(devices.length, L)
  const total = weights.slice(0, n).reduce((a, b) => a + b, 0)
  const stages: Stage[] = []
  let start = 0
  let acc = 0
  for (let k = 0; k < n; k++) {
    acc += weights[k]!
    const end = k === n - 1 ? L : Math.max(start + 1, Math.min(L - (n - 1 - k), Math.round((acc / total) * L)))
    stages.push({ layers: [start, end], devices: [devices[k]!.id] })
    start = end
  }
  return stages
}

export function equalSplit(job: Job, fleet: Fleet, network: Network): PlanCandidate | null {
  const devices = usable(fleet)
  if (!devices.length) return null
  const stages = proportionalStages(job.model.layers.length, devices, devices.map(() => 1))
  return candidate({ id: 'equal-split', stages, microBatch: 1, planner: 'equal-split' }, job, fleet, network)
}

export function dataParallelOnly(job: Job, fleet: Fleet, network: Network): PlanCandidate | null {
  const L = job.model.layers.length
  const params = job.model.layers.reduce((s, l) => s + l.paramBytes, 0)
  const peak = Math.max(...job.model.layers.map((l) => l.peakActivationBytes))
  const fits = usable(fleet).filter((d) => params + 2 * peak <= d.memoryBytes * (job.qoe.memoryFraction ?? 0.8))
  if (!fits.length) return null
  return candidate({ id: 'data-parallel', stages: [{ layers: [0, L], devices: fits.map((d) => d.id) }], microBatch: 1, planner: 'data-parallel' }, job, fleet, network)
}

export function exoRing(job: Job, fleet: Fleet, network: Network): PlanCandidate | null {
  const ring = usable(fleet).sort((a, b) => b.memoryBytes - a.memoryBytes || a.id.localeCompare(b.id))
  if (!ring.length) return null
  const stages = proportionalStages(job.model.layers.length, ring, ring.map((d) => d.memoryBytes))
  return candidate({ id: 'exo', stages, microBatch: 1, planner: 'exo' }, job, fleet, network)
}

export function exoFewest(job: Job, fleet: Fleet, network: Network): PlanCandidate | null {
  const byMemory = usable(fleet).sort((a, b) => b.memoryBytes - a.memoryBytes)
  const params = job.model.layers.reduce((s, l) => s + l.paramBytes, 0)
  const ring: DeviceProfile[] = []
  let memory = 0
  for (const d of byMemory) {
    ring.push(d)
    memory += d.memoryBytes
    if (memory >= params) break
  }
  if (!ring.length) return null
  const stages = proportionalStages(job.model.layers.length, ring, ring.map((d) => d.memoryBytes))
  return candidate({ id: 'exo-fewest', stages, microBatch: 1, planner: 'exo-fewest' }, job, fleet, network)
}

export function coEdge(job: Job, fleet: Fleet, network: Network): PlanCandidate | null {
  const L = job.model.layers.length
  // joules per FLOP while computing (active power over the device's convolution rate)
  const jPerFlop = (d: DeviceProfile) => d.activeW / d.flopsPerSec.conv
  const params = job.model.layers.reduce((s, l) => s + l.paramBytes, 0)
  const peak = Math.max(...job.model.layers.map((l) => l.peakActivationBytes))
  const order = usable(fleet)
    .filter((d) => params + 2 * peak <= d.memoryBytes * (job.qoe.memoryFraction ?? 0.8))
    .sort((a, b) => jPerFlop(a) - jPerFlop(b))
  let last: PlanCandidate | null = null
  for (let k = 1; k <= order.length; k++) {
    last = candidate({ id: 'coedge', stages: [{ layers: [0, L], devices: order.slice(0, k).map((d) => d.id) }], microBatch: 1, planner: 'coedge' }, job, fleet, network)
    if (last.compliance.compliant) return last
  }
  return last
}

/**
 * Petals-style (Borzunov et al., "Petals: Collaborative Inference and Fine-tuning of Large
 * Models", ACL 2023 demo): servers join one by one (fleet order); each takes as many consecutive
 * layers as its memory holds, starting where the swarm's throughput is weakest (the span whose
 * least-served layer has the least compute rate already serving it). A request then follows a
 * chain of servers from the first layer on, each hop to the server covering the next layer that
 * reaches furthest.
 */
export function petals(job: Job, fleet: Fleet, network: Network): PlanCandidate | null {
  const L = job.model.layers.length
  const fraction = job.qoe.memoryFraction ?? 0.8
  const served = new Array<number>(L).fill(0) // FLOP/s serving each layer
  const spans: Array<{ d: DeviceProfile; start: number; end: number }> = []
  for (const d of usable(fleet)) {
    let len = 0
    let bytes = 0
    while (len < L && bytes + job.model.layers[len]!.paramBytes + 2 * job.model.layers[len]!.peakActivationBytes <= d.memoryBytes * fraction) {
      bytes += job.model.layers[len]!.paramBytes
      len++
    }
    if (len === 0) continue
    // Petals' block_selection: the start whose span, its throughputs sorted, is smallest in
    // lexicographic order (so the most under-served span), the first such start on ties
    let best = 0
    let bestKey: number[] | null = null
    for (let s = 0; s + len <= L; s++) {
      const key = served.slice(s, s + len).sort((a, b) => a - b)
      if (!bestKey || lexLess(key, bestKey)) {
        bestKey = key
        best = s
      }
    }
    for (let i = best; i < best + len; i++) served[i] = served[i]! + d.flopsPerSec.conv
    spans.push({ d, start: best, end: best + len })
  }
  const stages: Stage[] = []
  const used = new Set<string>()
  for (let i = 0; i < L; ) {
    const options = spans.filter((s) => s.start <= i && s.end > i && !used.has(s.d.id))
    if (!options.length) return null // some layer is served by no free server
    const pick = options.reduce((a, b) => (b.end > a.end ? b : a))
    stages.push({ layers: [i, pick.end], devices: [pick.d.id] })
    used.add(pick.d.id)
    i = pick.end
  }
  return candidate({ id: 'petals', stages, microBatch: 1, planner: 'petals' }, job, fleet, network)
}

function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!
  return false
}
