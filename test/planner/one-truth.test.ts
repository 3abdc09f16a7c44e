/**
 * One truth: the cost model and the simulator describe the same system. On 500 seeded random
 * plans over random fleets (one and several sources, sources that run the first stage, replicas,
 * wired and Wi-Fi devices, micro-batches) and 40 training plans, the prediction at a light load
 * (no queueing) equals the simulated latency: every transfer where the run makes it, framing,
 * wired hops, the broker's relay. Queueing under load is compared in `npm run bench -- accuracy`.
 */
import { describe, expect, it } from 'vitest'
import { predict } from '../../src/planner/cost.js'
import { simulate } from '../../src/sim/simulate.js'
import { checkpointEvery, simulateTraining } from '../../src/planner/replay/training.js'
import { randomCase, randomPlan } from '../helpers/random-fleets.js'
import { freeWiresWifi5 } from '../helpers/planner.js'
import { busiest } from '../../bench/accuracy.js'

describe('cost model and simulator agree without queueing', () => {
  it('on 500 random inference plans: mean latency within 2% (1,000 requests each)', () => {
    const kinds = { local: 0, replicas: 0, multiSource: 0, wired: 0, hubSource: 0 }
    const off: string[] = []
    for (let seed = 1; seed <= 500; seed++) {
      const c = randomCase(seed)
      // micro-batches of one (a light load's batching wait is a wait for the next arrival)
      const plan = { ...randomPlan(c, seed), microBatch: 1 }
      const unit = predict(plan, { ...c.job, rateRps: 1 }, c.fleet, c.network)
      // one request at a time: the busiest resource 0.1% busy
      const rateRps = 0.001 / busiest(unit).u
      const job = { ...c.job, rateRps }
      const p = predict(plan, job, c.fleet, c.network)
      const r = simulate(plan, job, c.fleet, c.network, { durationS: 1000 / rateRps, warmupS: 0, seed, computeJitter: 0 })
      // each source's simulated mean at its share (the sources' random draw is no part of the check)
      const simMs = (c.job.sources ?? [{ share: 1 }]).reduce((a, s, k) => a + s.share * r.latencyMsBySource[k]!, 0)
      if (Math.abs(p.latencyMs / simMs - 1) > 0.02) off.push(`seed ${seed}: predicted ${p.latencyMs.toFixed(2)} ms, simulated ${simMs.toFixed(2)} ms`)
      const first = plan.stages[0]!.devices
      const srcs = (c.job.sources ?? [{ device: c.job.sourceDevice }]).map((s) => s.device)
      if (first.every((d) => srcs.includes(d))) kinds.local++
      if (plan.stages.some((s) => s.devices.length > 1)) kinds.replicas++
      if (srcs.length > 1) kinds.multiSource++
      if (srcs.includes(null)) kinds.hubSource++
      if (plan.stages.some((s) => s.devices.some((d) => c.fleet.devices.get(d)!.linkRateBps === null))) kinds.wired++
    }
    expect(off).toEqual([])
    // the random plans cover every kind of route
    for (const n of Object.values(kinds)) expect(n).toBeGreaterThan(20)
  })

  it('on 40 random training plans: step time (mean and p95, checkpoints counted) within 2%', () => {
    const off: string[] = []
    for (let seed = 1; seed <= 40; seed++) {
      const c = randomCase(seed, { training: true })
      const plan = randomPlan(c, seed)
      const p = predict(plan, c.job, c.fleet, c.network)
      // ten whole checkpoint periods (steps 1 to 10 x every: each period's checkpoint step in; the predicted step is their mean)
      const r = simulateTraining(plan, c.job, c.fleet, c.network, { durationS: 1e9, warmupS: 1e-9, seed, computeJitter: 0, maxSteps: 1 + 10 * Math.max(1, checkpointEvery(c.job)) })
      if (Math.abs(p.latencyMs / r.latencyMs - 1) > 0.02) off.push(`seed ${seed}: predicted ${p.latencyMs.toFixed(1)} ms, simulated ${r.latencyMs.toFixed(1)} ms`)
      if (Math.abs(p.p95LatencyMs / r.p95LatencyMs - 1) > 0.02) off.push(`seed ${seed}: predicted p95 ${p.p95LatencyMs.toFixed(1)} ms, simulated ${r.p95LatencyMs.toFixed(1)} ms`)
    }
    expect(off).toEqual([])
  })
})
