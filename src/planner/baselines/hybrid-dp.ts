/**
 * Throughput-optimal hybrid parallelism, PipeDream / Asteroid style, through Dora's plan type. Pure.
 *
 * PipeDream (Narayanan et al., "PipeDream: Generalized Pipeline Parallelism for DNN Training",
 * SOSP 2019, section 3.1): A(j, m) = min over i < j and m' < m of
 *   max( A(i, m - m'), 2 C_i, T(i -> j, m') ),   T(i -> j, m') = (1 / m') max( sum of compute,
 *   sum of W^{m'} ),   W^{m'} = 4 (m' - 1) |w| / (m' B)
 * where C_i is the activation transfer time at boundary i over bandwidth B, and the stage's m'
 * replicas share its work and synchronise weights. PipeDream assumes identical machines.
 * Asteroid (Ye et al., "Asteroid: Resource-Efficient Hybrid Pipeline Parallelism for
 * Collaborative DNN Training on Heterogeneous Edge Devices", MobiCom 2024) runs the same kind of
 * DP over heterogeneous device groups under per-device memory limits. Here: the DP's state is
 * (layers done, devices used per type); a stage is layers [i, j) on r replicas of one device
 * type; a transfer costs bytes over the smaller of the two types' link rates (each link on its
 * own: neither paper models a shared medium); gradient synchronisation is amortised over a
 * step's micro-batches; memory is checked per stage. It minimises the pipeline's bottleneck
 * (maximises throughput). An inference job has no backward pass and no synchronisation.
 */
import { compliance, predict, stageComputeMs, stageMemoryBytes } from '../cost.js'
import type { Fleet, Network, Job, Plan } from '../types.js'
import type { PlanCandidate } from '../partition.js'
import { stageParamBytes, trainingStageMs } from '../training.js'
import { dpSetup, tracePlan } from './stage-dp.js'
import { StepBudget } from './budget.js'


export function hybridDp(job: Job, fleet: Fleet, network: Network): PlanCandidate | null {
  let best: PlanCandidate | null = null
  const budget = new StepBudget('hybrid-dp')
  for (const b of [1, 4]) {
    const c = hybridDpAt(job, fleet, network, b, budget)
    if (c && (!best || c.prediction.capacityRps > best.prediction.capacityRps)) best = c
  }
  return best
}

function hybridDpAt(job: Job, fleet: Fleet, network: Network, b: number, budget: StepBudget): PlanCandidate | null {
  const { types, L, bw, memoryLimit, states } = dpSetup(job, fleet)
  const M = job.training?.microBatchesPerStep ?? 1
  const computeMs = job.training ? trainingStageMs : stageComputeMs
  for (let i = 0; i < L; i++) {
    for (const [key, e] of states[i]!) {
      for (const t of types) {
        const avail = t.ids.length - e.counts[t.index]!
        if (avail <= 0) continue
        // activations forward (and gradients back in training): PipeDream's 2 C_i
        const comm = e.last < 0 ? 0 : ((job.training ? 2 : 1) * b * job.model.boundaryBytes[i]! * 8 * 1000) / Math.min(bw(e.last), bw(t.index))
        for (let j = i + 1; j <= L; j++) {
          if (stageMemoryBytes(job, [i, j], b, 1) > memoryLimit(t.index)) break
          const compute = computeMs(job, t.rep, [i, j], b)
          const w = job.training ? stageParamBytes(job, [i, j]) : 0
          budget.spend(avail)
          for (let r = 1; r <= avail; r++) {
            const syncMs = ((4 * (r - 1) * w * 8) / (r * bw(t.index)) / M) * 1000
            const stageMs = Math.max(compute, syncMs) / r
            const cost = Math.max(e.cost, comm, stageMs)
            const counts = e.counts.slice()
            counts[t.index]! += r
            const k = `${counts.join(',')}|${t.index}`
            const have = states[j]!.get(k)
            if (!have || cost < have.cost) {
              const ids = t.ids.slice(e.counts[t.index]!, e.counts[t.index]! + r)
              states[j]!.set(k, { cost, prev: key, stage: { layers: [i, j], devices: ids }, counts, last: t.index })
            }
          }
        }
      }
    }
  }
  const stages = tracePlan(states, L)
  if (!stages) return null
  const plan: Plan = { id: 'hybrid-dp', stages, microBatch: b, planner: 'hybrid-dp' }
  const prediction = predict(plan, job, fleet, network)
  return { plan, prediction, compliance: compliance(job, fleet, prediction) }
}
