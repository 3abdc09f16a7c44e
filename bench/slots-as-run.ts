/**
 * The slots' prediction against the simulator's slots run (issue 15): the scheduler's placed
 * cycle (every turn full, a guard after every hop: the prediction before) and the slots as they
 * run (turn-replay.ts: device sources on frame clocks leave turns empty, the work-conserving
 * gate, no guard on the data: the prediction now). Shipped scenarios at several loads (Dora's
 * plan), then random fleets (test/helpers/random-fleets.ts; every source a device, the busiest
 * resource 10-90% by seed). SIMULATION, no emulation.
 * Run: npx tsx bench/slots-as-run.ts (env DURATION_S=300, SEEDS=1,2, CASES=camera-wall@1,camera-wall@4,
 * camera-wall@5,traffic@1; RANDOM_N=40 random fleets, 0 for none)
 */
import { fileURLToPath } from 'node:url'
import { planningInputs, readScenario } from '../src/scenario/load.js'
import { partition } from '../src/planner/partition.js'
import { predict } from '../src/planner/cost.js'
import { COMPUTE_CV } from '../src/planner/inference.js'
import { scheduleTransfers, type Schedule } from '../src/planner/network/scheduler.js'
import { simulate } from '../src/sim/simulate.js'
import { jobSources, type Fleet, type Job, type Network, type Plan } from '../src/planner/types.js'
import { randomCase, randomPlan } from '../test/helpers/random-fleets.js'
import { busiest } from './accuracy.js'

const DEFAULT_CASES = ['camera-wall@1', 'camera-wall@4', 'camera-wall@5', 'traffic@1']

type Pair = readonly [number, number]

/** The prediction before: the placed cycle's mean, and its micro-batches' times with the compute jitter's 95th percentile. */
export function placedPrediction(s: Schedule): Pair {
  const computeOf = s.latenciesMs.map(() => 0)
  for (const c of s.compute) computeOf[c.microBatch] = (computeOf[c.microBatch] ?? 0) + c.durationMs
  const each = s.latenciesMs.map((x, m) => x + 1.645 * COMPUTE_CV * computeOf[m]!).sort((a, b) => a - b)
  return [s.latencyMs, each[Math.min(each.length - 1, Math.ceil(0.95 * each.length) - 1)]!]
}

export interface SlotsRow {
  readonly label: string
  readonly air: number
  readonly filled: number
  readonly before: Pair
  readonly now: Pair
  readonly simulated: readonly Pair[]
}

function row(label: string, plan: Plan, job: Job, fleet: Fleet, network: Network, seeds: readonly number[], durationS: number): SlotsRow | null {
  const r = scheduleTransfers(plan, job, fleet, network)
  if (!r.ok || !r.schedule.asRun) return null
  const s = r.schedule
  const simulated = seeds.map((seed) => {
    const x = simulate(plan, job, fleet, network, { durationS, warmupS: Math.min(10, durationS / 10), seed, computeJitter: 0.05, schedule: s })
    return [x.latencyMs, x.p95LatencyMs] as const
  })
  return { label, air: s.airShare, filled: s.asRun!.filled, before: placedPrediction(s), now: [s.asRun!.latencyMs, s.asRun!.p95LatencyMs], simulated }
}

const avg = (xs: readonly number[]) => xs.reduce((a, x) => a + x, 0) / xs.length
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`
export const errOf = (p: Pair, sim: readonly Pair[]): Pair => [p[0] / avg(sim.map((x) => x[0])) - 1, p[1] / avg(sim.map((x) => x[1])) - 1]

export function formatRow(r: SlotsRow): string {
  const f = (p: Pair) => `${p[0].toFixed(1)} / ${p[1].toFixed(1)}`
  const [b, n] = [errOf(r.before, r.simulated), errOf(r.now, r.simulated)]
  return `| ${r.label} | ${(r.air * 100).toFixed(0)}% | ${(r.filled * 100).toFixed(0)}% | ${f(r.before)} (${pct(b[0])} / ${pct(b[1])}) | ${f(r.now)} (${pct(n[0])} / ${pct(n[1])}) | ${r.simulated.map(f).join('; ')} |`
}

export async function scenarioRows(cases: readonly string[], seeds: readonly number[], durationS: number): Promise<SlotsRow[]> {
  const rows: SlotsRow[] = []
  for (const c of cases) {
    const [name, f] = [c.split('@')[0]!, Number(c.split('@')[1] ?? 1)]
    const file = fileURLToPath(new URL(`../config/scenarios/${name}.yaml`, import.meta.url))
    const inputs = await planningInputs(file, await readScenario(file))
    const job = { ...inputs.job, rateRps: inputs.job.rateRps * f }
    const res = partition(job, inputs.fleet, { network: inputs.network })
    const plan = res.ok ? res.chosen.plan : res.closest[0]?.plan
    const x = plan ? row(`${name} x${f}`, plan, job, inputs.fleet, inputs.network, seeds, durationS) : null
    if (x) rows.push(x)
  }
  return rows
}

/** Random fleets whose sources are all devices, the busiest resource at 10-90% (by seed) of what the slots' plan uses. */
export function randomRows(n: number, durationS: number): SlotsRow[] {
  const rows: SlotsRow[] = []
  for (let seed = 1; rows.length < n && seed < 20 * n; seed++) {
    const c = randomCase(seed)
    if (jobSources(c.job).some((x) => x.device === null)) continue
    const plan = randomPlan(c, seed)
    const unit = predict(plan, { ...c.job, rateRps: 1 }, c.fleet, c.network)
    const target = 0.1 + 0.8 * ((seed * 0.6180339887) % 1)
    const job = { ...c.job, rateRps: target / Math.max(1e-9, busiest(unit).u) }
    const d = Math.max(durationS, 4000 / job.rateRps)
    const x = row(`random ${seed} (${(target * 100).toFixed(0)}%)`, plan, job, c.fleet, c.network, [seed], d)
    if (x) rows.push(x)
  }
  return rows
}

/** Share of rows within `mean` / `p95` (relative), and the mean absolute and signed errors, for one side. */
export function summary(rows: readonly SlotsRow[], side: 'before' | 'now', mean = 0.05, p95 = 0.1): string {
  const e = rows.map((r) => errOf(r[side], r.simulated))
  const ok = e.filter((x) => Math.abs(x[0]) <= mean && Math.abs(x[1]) <= p95).length
  const a = (i: 0 | 1) => pct(avg(e.map((x) => Math.abs(x[i]))))
  const sgn = (i: 0 | 1) => pct(avg(e.map((x) => x[i])))
  const worst = (i: 0 | 1) => pct(e.reduce((w, x) => (Math.abs(x[i]) > Math.abs(w) ? x[i] : w), 0))
  return `${side}: ${ok} of ${rows.length} within ${mean * 100}% / ${p95 * 100}%; mean err abs ${a(0)} (signed ${sgn(0)}, worst ${worst(0)}), p95 abs ${a(1)} (signed ${sgn(1)}, worst ${worst(1)})`
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const seeds = (process.env.SEEDS ?? '1,2').split(',').map(Number)
  const cases = process.env.CASES ? process.env.CASES.split(',').filter(Boolean) : DEFAULT_CASES
  const durationS = Number(process.env.DURATION_S ?? 300)
  console.log('SIMULATION (no emulation): slots predicted (before: the placed cycle; now: as the slots run) against the simulator\'s slots run')
  console.log('| case | air held (placed) | turns filled | before mean / p95 ms (error) | now mean / p95 ms (error) | simulated per seed |')
  console.log('|---|---|---|---|---|---|')
  for (const r of await scenarioRows(cases, seeds, durationS)) console.log(formatRow(r))
  const n = Number(process.env.RANDOM_N ?? 40)
  if (n > 0) {
    const rows = randomRows(n, durationS)
    if (process.env.VERBOSE) for (const r of rows) console.log(formatRow(r))
    console.log(summary(rows, 'before'))
    console.log(summary(rows, 'now'))
  }
}
