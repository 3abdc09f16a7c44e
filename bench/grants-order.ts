/**
 * Hub grants: the cost model's grants prediction against the simulator with `network.grants`
 * (the air served in the grant desk's order, hub/air-grants.ts); simulator only, no emulation. For each shipped
 * inference scenario at its load and heavier ones: up to four of the planner's candidate plans,
 * predicted (coordination scheduled, grants on: adapt/transfer-mode.ts's grants prediction) and
 * simulated (600 s, seeds 1-3, means of the seeds). Then random fleets (test/helpers/random-fleets.ts,
 * inference, grants on) loaded so that the air is `airU` busy (the busiest resource at most 80%),
 * one 600 s simulation each (seed = the fleet's), where the desk's order matters more (GRANTS_OFF=1:
 * the same without grants, first come first served, for comparison). Run: npx tsx bench/grants-order.ts
 * (env DURATION_S, RANDOM_N, RANDOM_ONLY)
 */
import { fileURLToPath } from 'node:url'
import { planningInputs, readScenario } from '../src/scenario/load.js'
import { partition } from '../src/planner/partition.js'
import { predict } from '../src/planner/cost.js'
import { simulate } from '../src/sim/simulate.js'
import { randomCase, randomPlan } from '../test/helpers/random-fleets.js'
import { busiest } from './accuracy.js'

export interface GrantsRow {
  scenario: string
  rateRps: number
  plan: string
  air: number
  predMean: number
  predP95: number
  simMean: number
  simP95: number
}

export async function grantsOrderBench(seeds: readonly number[], durationS: number, log: (s: string) => void): Promise<GrantsRow[]> {
  const rows: GrantsRow[] = []
  for (const [name, factors] of [['smart-home', [1, 3, 5]], ['traffic', [1, 1.4, 1.8]], ['camera-wall', [1, 1.3, 1.6]]] as const) {
    const file = fileURLToPath(new URL(`../config/scenarios/${name}.yaml`, import.meta.url))
    const inputs = await planningInputs(file, await readScenario(file))
    if (inputs.job.training) continue
    const network = { ...inputs.network, coordination: 'scheduled' as const, grants: true }
    for (const f of factors) {
      const job = { ...inputs.job, rateRps: inputs.job.rateRps * f, qoe: {} }
      const res = partition(job, inputs.fleet, { network: inputs.network })
      if (!res.ok) continue
      const plans = [res.chosen, ...res.candidates.filter((c) => c !== res.chosen)].slice(0, 4).map((c) => c.plan)
      for (const plan of plans) {
        const p = predict(plan, job, inputs.fleet, network)
        const air = p.utilisation['air'] ?? 0
        if (!(air > 0) || air > 0.8) continue
        let m = 0
        let p95 = 0
        for (const seed of seeds) {
          const s = simulate(plan, job, inputs.fleet, network, { durationS, warmupS: 10, seed, computeJitter: 0.05 })
          m += s.latencyMs / seeds.length
          p95 += s.p95LatencyMs / seeds.length
        }
        const row = { scenario: name, rateRps: job.rateRps, plan: plan.stages.map((x) => `[${x.layers[0]},${x.layers[1]})@${x.devices.join('+')}`).join(' -> '), air, predMean: p.latencyMs, predP95: p.p95LatencyMs, simMean: m, simP95: p95 }
        rows.push(row)
        log(`${name}\t${job.rateRps}\t${row.plan}\tair ${(air * 100).toFixed(0)}%\tpred ${p.latencyMs.toFixed(1)} / ${p.p95LatencyMs.toFixed(1)}\tsim ${m.toFixed(1)} / ${p95.toFixed(1)}\terr ${((p.latencyMs / m - 1) * 100).toFixed(1)}% / ${((p.p95LatencyMs / p95 - 1) * 100).toFixed(1)}%`)
      }
    }
  }
  return rows
}

/** Random inference plans with grants at an air utilisation of `airU` (skipped where another resource passes 80%). */
export function grantsRandomBench(seeds: readonly number[], airU: number, durationS: number, log: (s: string) => void): GrantsRow[] {
  const rows: GrantsRow[] = []
  for (const seed of seeds) {
    const c = randomCase(seed)
    if (c.job.training) continue
    const network = { ...c.network, coordination: 'scheduled' as const, grants: !process.env.GRANTS_OFF }
    const plan = randomPlan(c, seed)
    const unit = predict(plan, { ...c.job, rateRps: 1 }, c.fleet, network)
    const perRps = unit.utilisation['air'] ?? 0
    if (!(perRps > 0)) continue
    const job = { ...c.job, rateRps: airU / perRps }
    const p = predict(plan, job, c.fleet, network)
    if (busiest(p).u > 0.8) continue
    const s = simulate(plan, job, c.fleet, network, { durationS, warmupS: 10, seed, computeJitter: 0.05 })
    const row = { scenario: `random ${seed}`, rateRps: job.rateRps, plan: plan.id, air: p.utilisation['air']!, predMean: p.latencyMs, predP95: p.p95LatencyMs, simMean: s.latencyMs, simP95: s.p95LatencyMs }
    rows.push(row)
    log(`random ${seed}\t${job.rateRps.toFixed(2)}\tair ${(row.air * 100).toFixed(0)}%\tpred ${p.latencyMs.toFixed(1)} / ${p.p95LatencyMs.toFixed(1)}\tsim ${s.latencyMs.toFixed(1)} / ${s.p95LatencyMs.toFixed(1)}\terr ${((p.latencyMs / s.latencyMs - 1) * 100).toFixed(1)}% / ${((p.p95LatencyMs / s.p95LatencyMs - 1) * 100).toFixed(1)}%`)
  }
  const mean = (f: (r: GrantsRow) => number) => rows.reduce((a, r) => a + Math.abs(f(r)), 0) / Math.max(1, rows.length)
  const worst = (f: (r: GrantsRow) => number) => rows.reduce((a, r) => Math.max(a, Math.abs(f(r))), 0)
  const em = (r: GrantsRow) => r.predMean / r.simMean - 1
  const ep = (r: GrantsRow) => r.predP95 / r.simP95 - 1
  const bias = rows.reduce((a, r) => a + em(r), 0) / Math.max(1, rows.length)
  log(`random at air ${airU}: ${rows.length} plans; |mean err| avg ${(mean(em) * 100).toFixed(1)}% worst ${(worst(em) * 100).toFixed(1)}% (signed avg ${(bias * 100).toFixed(1)}%); |p95 err| avg ${(mean(ep) * 100).toFixed(1)}% worst ${(worst(ep) * 100).toFixed(1)}%`)
  return rows
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const durationS = Number(process.env.DURATION_S ?? 600)
  if (!process.env.RANDOM_ONLY) await grantsOrderBench([1, 2, 3], durationS, (s) => console.log(s))
  const n = Number(process.env.RANDOM_N ?? 30)
  for (const u of [0.5, 0.7]) grantsRandomBench(Array.from({ length: n }, (_, i) => i + 1), u, durationS, (s) => console.log(s))
}
