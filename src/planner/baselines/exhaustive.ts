/**
 * The optimum by exhaustive search, for instances small enough to enumerate: every split of the
 * layers into contiguous stages, every assignment of disjoint non-empty device sets (replicas)
 * to the stages, every micro-batch size given; each plan costed exactly. Pure. Exponential:
 * refuses instances beyond `maxPlans` enumerated plans.
 */
import { compliance, predict, type Fleet, type Network } from '../cost.js'
import type { Job, Plan, Stage } from '../types.js'
import type { PlanCandidate } from '../partition.js'

export function exhaustivePlans(job: Job, fleet: Fleet, network: Network, microBatches: readonly number[] = [1], maxPlans = 2_000_000): PlanCandidate[] {
  const ids = [...fleet.devices.keys()]
  const L = job.model.layers.length
  const out: PlanCandidate[] = []
  let count = 0
  const emit = (stages: Stage[]) => {
    for (const b of microBatches) {
      if (++count > maxPlans) throw new RangeError(`more than ${maxPlans} plans: too large to enumerate`)
      const plan: Plan = { id: `opt-${count}`, stages, microBatch: b, planner: 'optimum' }
      const prediction = predict(plan, job, fleet, network)
      out.push({ plan, prediction, compliance: compliance(job, fleet, prediction) })
    }
  }
  // assign devices to stages: each stage a non-empty subset of the unused devices (bitmask)
  const assign = (cuts: number[], k: number, used: number, stages: Stage[]) => {
    if (k === cuts.length - 1) return emit(stages)
    for (let mask = 1; mask < 1 << ids.length; mask++) {
      if (mask & used) continue
      const devices = ids.filter((_, i) => mask & (1 << i))
      assign(cuts, k + 1, used | mask, [...stages, { layers: [cuts[k]!, cuts[k + 1]!], devices }])
    }
  }
  // every composition of L layers into at most |devices| stages
  for (let m = 0; m < 1 << (L - 1); m++) {
    const cuts = [0]
    for (let i = 1; i < L; i++) if (m & (1 << (i - 1))) cuts.push(i)
    cuts.push(L)
    if (cuts.length - 1 > ids.length) continue
    assign(cuts, 0, 0, [])
  }
  return out
}
