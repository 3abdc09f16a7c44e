/**
 * The optimum by exhaustive search, for instances small enough to enumerate: every split of the
 * layers into contiguous stages, every assignment of disjoint non-empty device sets (replicas)
 * to the stages up to swapping identical devices, every micro-batch size given; each plan
 * costed exactly and judged as it will run, as Dora's are (adapt/transfer-mode.ts judgeAsRun). Pure. Exponential:
 * refuses instances beyond `maxPlans` enumerated plans.
 */
import { judgeAsRun } from '../adapt/transfer-mode.js'
import { jobSources, type Fleet, type Network, type Job, type Plan, type Stage } from '../types.js'
import { sourceFirstTypes, type PlanCandidate } from '../partition.js'

export function exhaustivePlans(job: Job, fleet: Fleet, network: Network, microBatches: readonly number[] = [1], maxPlans = 2_000_000): PlanCandidate[] {
  // Identical devices are interchangeable, so stages take counts per device type (devices of a
  // type in a fixed order); the source device is a type of its own (it sends without the air).
  const types = sourceFirstTypes([...fleet.devices.values()], jobSources(job).map((x) => x.device)).map((t) => t.ids)
  const L = job.model.layers.length
  const out: PlanCandidate[] = []
  let count = 0
  const emit = (stages: Stage[]) => {
    for (const b of microBatches) {
      if (++count > maxPlans) throw new RangeError(`more than ${maxPlans} plans: too large to enumerate`)
      const plan: Plan = { id: `opt-${count}`, stages, microBatch: b, planner: 'optimum' }
      out.push(judgeAsRun(plan, job, fleet, network))
    }
  }
  // every vector of counts per type (not all zero) within what is left
  const vectors = (left: readonly number[]): number[][] => {
    let acc: number[][] = [[]]
    for (const n of left) acc = acc.flatMap((v) => Array.from({ length: n + 1 }, (_, c) => [...v, c]))
    return acc.filter((v) => v.some((c) => c > 0))
  }
  const assign = (cuts: number[], k: number, used: number[], stages: Stage[]) => {
    if (k === cuts.length - 1) return emit(stages)
    for (const v of vectors(types.map((ids, t) => ids.length - used[t]!))) {
      const devices = v.flatMap((c, t) => types[t]!.slice(used[t]!, used[t]! + c))
      assign(cuts, k + 1, used.map((u, t) => u + v[t]!), [...stages, { layers: [cuts[k]!, cuts[k + 1]!], devices }])
    }
  }
  // every composition of L layers into at most |devices| stages
  for (let m = 0; m < 1 << (L - 1); m++) {
    const cuts = [0]
    for (let i = 1; i < L; i++) if (m & (1 << (i - 1))) cuts.push(i)
    cuts.push(L)
    if (cuts.length - 1 > fleet.devices.size) continue
    assign(cuts, 0, types.map(() => 0), [])
  }
  return out
}
