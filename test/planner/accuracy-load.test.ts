/**
 * The cost model under load against the simulator (issue 14's property): seeded random plans
 * on random fleets (one and several sources, local first stages, replicas, wired and Wi-Fi
 * devices, micro-batches), each at an offered load that puts its busiest resource between 10% and
 * 90% busy, simulated for 600 s or 20,000 requests (the longer). Where the busiest resource is at
 * most 80% busy, the issue's target is the predicted mean within 5% and p95 within 10%.
 *
 * NOT MET YET: the share that meets it is asserted as a floor (the figure reached), so that it can
 * only rise; the issue's target (all of them) stays open. The suite runs the first 150 plans
 * (about a minute); `npm run bench -- plans` runs all 500 of the issue and BENCHMARKS.md
 * "Plans that hold" records both. A second case runs 80 plans under hub grants with micro-batches
 * of 1-8 (bench/load-sweep.ts `--grants --batches` sweeps them per load band).
 */
import { describe, expect, it } from 'vitest'
import { accuracyCase } from '../../bench/accuracy.js'

/** Share of the judged plans within 5% (mean) and 10% (p95), reached 2026-12-02, 115 of 132 judged (0.863 before the p95 counted the compute's jitter: one plan, seed 96, -11.6% -> -9.0%; 0.856 before the air's Kingman factor took a micro-batch's whole air time as the service; 0.833 before the air's later visits relaxed towards the time average instead of being floored at it; 0.848 before transfers were pipelined chunk by chunk: the lead lowered it on purpose by two plans of the 132, because the pipelined accounting is what the real runs show (traffic at full load from -25% to +3% of its prediction) and the plans it moves across the line keep their model-simulator gap in ms (seed 124: 12.32 -> 12.31 ms, 4.99% -> 5.07%), the device queues' approximation, not the transfers; on all 700 seeds 513 -> 510 of 613 judged; 0.84 before the replica waits' shape and the round robin's split variability, 0.63 before the air, merge, tandem and KLB refinements; 0.75 before the air waits' atom at zero from the micro-batches in flight, 0.78 before the PUBACKs were counted on the air, 0.80 before the merged micro-batch streams' superposition weight). */
const FLOOR = 0.871
const PLANS = 150
/** The same under hub grants (`dora simulate`'s default) with micro-batches of 1-8: share reached 2026-12-02 on 80 plans, 61 of the 70 judged (BENCHMARKS.md, "Hub grants and micro-batches of 1-8 in the accuracy harness"). */
const GRANTS_FLOOR = 0.871
const GRANTS_PLANS = 80

describe('cost model and simulator agree under load', () => {
  it(`on ${PLANS} random plans at up to 80% busy: the share with mean within 5% and p95 within 10% does not fall below the floor`, () => {
    let judged = 0
    let within = 0
    let over = 0
    for (let seed = 1; seed <= PLANS; seed++) {
      const r = accuracyCase(seed, 600)
      if (r.utilisation > 0.8) {
        over++
        continue
      }
      judged++
      if (Math.abs(r.meanErr) <= 0.05 && Math.abs(r.p95Err) <= 0.1) within++
    }
    // the loads spread as intended: most plans are judged, a few are over 80% busy
    expect(judged).toBeGreaterThan(120)
    expect(over).toBeGreaterThan(5)
    expect(within / judged).toBeGreaterThanOrEqual(FLOOR)
  }, 900_000)

  it(`under hub grants with micro-batches of 1-8, on ${GRANTS_PLANS} random plans at up to 80% busy: the share within does not fall below its floor`, () => {
    let judged = 0
    let within = 0
    const sizes = new Set<number>()
    for (let seed = 1; seed <= GRANTS_PLANS; seed++) {
      const r = accuracyCase(seed, 600, 20_000, { grants: true, maxMicroBatch: 8 })
      sizes.add(r.microBatch)
      if (r.utilisation > 0.8) continue
      judged++
      if (Math.abs(r.meanErr) <= 0.05 && Math.abs(r.p95Err) <= 0.1) within++
    }
    // every micro-batch size 1-8 is drawn, and most plans are judged
    expect([...sizes].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(judged).toBeGreaterThan(60)
    expect(within / judged).toBeGreaterThanOrEqual(GRANTS_FLOOR)
  }, 900_000)
})
