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
 * type; every transfer the run makes is a pipeline step of its own (PipeDream's C_i): the
 * requests from the job's sources to the first stage (none for a source's own share when it is
 * one of the replicas), each stage boundary, and a stage's results to the job's consumer
 * (inference). A transfer costs what Dora's cost model charges one transfer alone on its way
 * (cost.ts transferLatencyS: each hop through the hub's broker at its link's rate, framing, wired
 * latency, the relay), with no contention: neither paper models a shared medium. Gradient
 * synchronisation is amortised over a step's micro-batches; memory is checked per stage. It
 * minimises the pipeline's bottleneck (maximises throughput). An inference job has no backward
 * pass and no synchronisation.
 */
import { compliance, hopsBetween, predict, stageComputeMs, stageMemoryBytes, transferLatencyS } from '../cost.js'
import { jobSources, outputBytesOf, type DeviceProfile, type Fleet, type Network, type Job, type Plan } from '../types.js'
import type { PlanCandidate } from '../partition.js'
import { stageParamBytes, trainingStageMs } from '../training.js'
import { dpSetup, tracePlan } from './stage-dp.js'
import { StepBudget } from './budget.js'
import { consumerOf } from '../routing.js'


/** `microBatches`: the sizes it may choose (the hub passes what its devices run). */
export function hybridDp(job: Job, fleet: Fleet, network: Network, microBatches: readonly number[] = [1, 4]): PlanCandidate | null {
  let best: PlanCandidate | null = null
  const budget = new StepBudget('hybrid-dp')
  for (const b of microBatches) {
    const c = hybridDpAt(job, fleet, network, b, budget)
    if (c && (!best || c.prediction.capacityRps > best.prediction.capacityRps)) best = c
  }
  return best
}

function hybridDpAt(job: Job, fleet: Fleet, network: Network, b: number, budget: StepBudget): PlanCandidate | null {
  const { types, L, bw, memoryLimit, states } = dpSetup(job, fleet)
  const M = job.training?.microBatchesPerStep ?? 1
  const computeMs = job.training ? trainingStageMs : stageComputeMs
  // one transfer alone on its way, ms (the cost model's accounting)
  const move = (from: DeviceProfile | null, to: DeviceProfile | null, bytes: number) => transferLatencyS(hopsBetween(from, to, bytes), network) * 1000
  const sources = jobSources(job).map((x) => ({ d: x.device ? fleet.devices.get(x.device) ?? null : null, share: x.share }))
  // the sources' requests to r replicas `ids` of a type (a source among them keeps its 1 / r), and
  // their results to the job's consumer (routing.ts consumerOf: the source, the hub or a device)
  const fromSources = (ids: readonly string[], rep: DeviceProfile, bytes: number) =>
    sources.reduce((a, x) => a + x.share * (x.d && ids.includes(x.d.id) ? 1 - 1 / ids.length : 1) * move(x.d, rep, bytes), 0)
  const consumers = sources.map((x) => consumerOf(job, x.d, fleet))
  const toConsumers = (ids: readonly string[], rep: DeviceProfile, bytes: number) =>
    sources.reduce((a, x, k) => a + x.share * (consumers[k] && ids.includes(consumers[k].id) ? 1 - 1 / ids.length : 1) * move(rep, consumers[k]!, bytes), 0)
  for (let i = 0; i < L; i++) {
    for (const [key, e] of states[i]!) {
      for (const t of types) {
        const avail = t.ids.length - e.counts[t.index]!
        if (avail <= 0) continue
        // activations forward (and gradients back in training): PipeDream's 2 C_i
        const boundary = e.last < 0 ? 0 : (job.training ? 2 : 1) * move(types[e.last]!.rep, t.rep, b * job.model.boundaryBytes[i]!)
        // per replica count r: the devices, the state it leads to and the way in, whatever the stage's last layer
        const ways = Array.from({ length: avail }, (_, k) => {
          const r = k + 1
          const ids = t.ids.slice(e.counts[t.index]!, e.counts[t.index]! + r)
          const counts = e.counts.slice()
          counts[t.index]! += r
          const comm = e.last < 0 ? fromSources(ids, t.rep, b * job.model.boundaryBytes[0]!) : boundary
          return { ids, counts, key: `${counts.join(',')}|${t.index}`, comm }
        })
        for (let j = i + 1; j <= L; j++) {
          if (stageMemoryBytes(job, [i, j], b, 1) > memoryLimit(t.index)) break
          const compute = computeMs(job, t.rep, [i, j], b)
          const w = job.training ? stageParamBytes(job, [i, j]) : 0
          budget.spend(avail)
          const resultBytes = job.training ? 0 : b * outputBytesOf(job.model, [i, j])
          for (let r = 1; r <= avail; r++) {
            const syncMs = ((4 * (r - 1) * w * 8) / (r * bw(t.index)) / M) * 1000
            const stageMs = Math.max(compute, syncMs) / r
            const { ids, counts, key: k, comm } = ways[r - 1]!
            const results = resultBytes > 0 ? toConsumers(ids, t.rep, resultBytes) : 0
            const cost = Math.max(e.cost, comm, stageMs, results)
            const have = states[j]!.get(k)
            if (!have || cost < have.cost) states[j]!.set(k, { cost, prev: key, stage: { layers: [i, j], devices: ids }, counts, last: t.index })
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
