/**
 * The at-once prediction against the simulator's at-once run (issues 14 and 15): for each shipped
 * camera scenario at its rate and heavier ones, Dora's chosen plan, the mode the planner picks and
 * each mode's prediction (adapt/transfer-mode.ts), and the cost model with frame clocks and DCF
 * sharing (Job.frameClocks, Network.dcf), against `dora simulate --uncoordinated`: the
 * DCF medium (contended), device sources on free-running frame clocks at random phases
 * (Job.frameClocks), 600 s per seed. SIMULATION, no emulation. Run: npx tsx bench/at-once.ts
 * (env DURATION_S, SEEDS=1,2, CASES=camera-wall@4,traffic@1; RANDOM_N=100: also random plans at
 * once, bench/accuracy.ts's draws, before and now; RANDOM_ONLY=1: those alone)
 */
import { fileURLToPath } from 'node:url'
import { planningInputs, readScenario } from '../src/scenario/load.js'
import { partition } from '../src/planner/partition.js'
import { predict } from '../src/planner/cost.js'
import { chooseTransferMode } from '../src/planner/adapt/transfer-mode.js'
import { simulate } from '../src/sim/simulate.js'
import { randomCase, randomPlan } from '../test/helpers/random-fleets.js'
import { busiest } from './accuracy.js'

export interface AtOnceRow {
  readonly scenario: string
  readonly load: number
  readonly air: number
  readonly mode: string
  readonly predicted: { atOnce: [number, number]; model: [number, number]; grants: [number, number]; slots: [number, number] | null }
  readonly simulated: Array<[number, number]>
  /** The simulator's slots run (cameras at their turns), per seed; null without a schedule. */
  readonly simulatedSlots: Array<[number, number]> | null
}

const DEFAULT_CASES = ['camera-wall@1', 'camera-wall@4', 'camera-wall@5', 'traffic@1', 'traffic@1.4', 'smart-home@1']

export async function atOnceBench(cases: readonly string[], seeds: readonly number[], durationS: number, log: (s: string) => void): Promise<AtOnceRow[]> {
  const rows: AtOnceRow[] = []
  for (const c of cases) {
    const [name, f] = [c.split('@')[0]!, Number(c.split('@')[1] ?? 1)]
    const file = fileURLToPath(new URL(`../config/scenarios/${name}.yaml`, import.meta.url))
    const inputs = await planningInputs(file, await readScenario(file))
    const job = { ...inputs.job, rateRps: inputs.job.rateRps * f, qoe: { ...inputs.job.qoe, ...(inputs.job.qoe.throughputRps !== undefined ? { throughputRps: inputs.job.qoe.throughputRps * f } : {}) } }
    const res = partition(job, inputs.fleet, { network: inputs.network })
    if (!res.ok) {
      log(`${c}: no plan`)
      continue
    }
    const plan = res.chosen.plan
    const m = chooseTransferMode(plan, job, inputs.fleet, inputs.network, predict(plan, job, inputs.fleet, inputs.network), 0)
    // the cost model at once: frame clocks and the air shared as DCF (the planner's at-once prediction, m.atOnce, does not take them yet)
    const model = predict(plan, { ...job, frameClocks: true }, inputs.fleet, { ...inputs.network, dcf: true })
    const air = predict(plan, job, inputs.fleet, inputs.network).utilisation['air'] ?? 0
    const simulated = seeds.map((seed) => {
      const r = simulate(plan, { ...job, frameClocks: true }, inputs.fleet, { ...inputs.network, coordination: 'contended' }, { durationS, warmupS: 10, seed, computeJitter: 0.05 })
      return [r.latencyMs, r.p95LatencyMs] as [number, number]
    })
    const simulatedSlots = m.schedule ? seeds.map((seed) => {
      const r = simulate(plan, job, inputs.fleet, inputs.network, { durationS, warmupS: 10, seed, computeJitter: 0.05, schedule: m.schedule! })
      return [r.latencyMs, r.p95LatencyMs] as [number, number]
    }) : null
    const pair = (x: { latencyMs: number; p95LatencyMs: number }): [number, number] => [x.latencyMs, x.p95LatencyMs]
    const row = { scenario: name, load: f, air, mode: m.mode, predicted: { atOnce: pair(m.atOnce), model: pair(model), grants: pair(m.grants), slots: m.slots ? pair(m.slots) : null }, simulated, simulatedSlots }
    rows.push(row)
    const fmt = (x: [number, number] | null) => (x ? `${x[0].toFixed(1)} / ${x[1].toFixed(1)}` : '-')
    const simMean = simulated.reduce((a, x) => a + x[0], 0) / simulated.length
    const simP95 = simulated.reduce((a, x) => a + x[1], 0) / simulated.length
    const err = (x: [number, number]) => `${((x[0] / simMean - 1) * 100).toFixed(1)}% / ${((x[1] / simP95 - 1) * 100).toFixed(1)}%`
    const best = [['at-once', row.predicted.model[0]], ['grants', row.predicted.grants[0]], ...(row.predicted.slots ? [['slots', row.predicted.slots[0]]] : [])].reduce((a, x) => ((x[1] as number) < (a[1] as number) ? x : a))[0]
    log(`| ${name} x${f} | ${plan.stages.map((x) => `[${x.layers[0]},${x.layers[1]})@${x.devices.join('+')}`).join(' -> ')} | ${(air * 100).toFixed(0)}% | ${fmt(row.predicted.atOnce)} (${err(row.predicted.atOnce)}) | ${fmt(row.predicted.model)} (${err(row.predicted.model)}) | ${simulated.map(fmt).join('; ')} | ${fmt(row.predicted.slots)} | ${simulatedSlots ? simulatedSlots.map(fmt).join('; ') : '-'} | ${fmt(row.predicted.grants)} | ${m.mode} | ${best} |`)
  }
  return rows
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const seeds = (process.env.SEEDS ?? '1,2').split(',').map(Number)
  const cases = process.env.CASES ? process.env.CASES.split(',') : DEFAULT_CASES
  console.log('SIMULATION (no emulation): at-once prediction vs the simulator\'s at-once run (DCF medium, frame clocks)')
  console.log('| scenario | plan | air | planner\'s at-once prediction (error) | model with frame clocks and DCF (error) | simulated at once per seed | predicted slots | simulated slots per seed | predicted grants | mode chosen | mode by the model |')
  console.log('|---|---|---|---|---|---|---|---|---|---|---|')
  if (!process.env.RANDOM_ONLY) await atOnceBench(cases, seeds, Number(process.env.DURATION_S ?? 600), (s) => console.log(s))
  const n = Number(process.env.RANDOM_N ?? 0)
  if (n > 0) {
    const rows = atOnceSweep(Array.from({ length: n }, (_, i) => i + 1), Number(process.env.DURATION_S ?? 600))
    for (const band of [[0, 0.3], [0.3, 0.5], [0.5, 0.8], [0.8, Infinity]] as const) {
      const inBand = rows.filter((r) => r.utilisation >= band[0] && r.utilisation < band[1])
      console.log(`random plans, busiest ${band[0] * 100}-${band[1] * 100}%: ${sweepSummary(inBand, 'before')} | ${sweepSummary(inBand, 'after')}`)
    }
    const judged = rows.filter((r) => r.utilisation <= 0.8)
    console.log(`random plans at most 80% busy: ${sweepSummary(judged, 'before')} | ${sweepSummary(judged, 'after')}`)
  }
}

export interface AtOnceSweepRow {
  readonly seed: number
  readonly utilisation: number
  /** predicted / simulated - 1, mean and p95: the prediction before (Poisson sources, queued air) and now (frame clocks, DCF). */
  readonly before: [number, number]
  readonly after: [number, number]
}

/**
 * Random plans (test/helpers/random-fleets.ts, as bench/accuracy.ts draws them, busiest resource
 * 10-90% by seed) run at once in the simulator (DCF medium, device sources on frame clocks), one
 * run each, against the at-once prediction before and now.
 */
export function atOnceSweep(seeds: readonly number[], minDurationS: number, minRequests = 10_000): AtOnceSweepRow[] {
  return seeds.map((seed) => {
    const c = randomCase(seed)
    const plan = randomPlan(c, seed)
    const atOnce = { ...c.network, dcf: true }
    const unit = predict(plan, { ...c.job, rateRps: 1, frameClocks: true }, c.fleet, atOnce)
    const target = 0.1 + 0.8 * ((seed * 0.6180339887) % 1)
    const job = { ...c.job, rateRps: target / Math.max(1e-9, busiest(unit).u) }
    const before = predict(plan, job, c.fleet, c.network)
    const after = predict(plan, { ...job, frameClocks: true }, c.fleet, atOnce)
    const durationS = Math.max(minDurationS, minRequests / job.rateRps)
    const r = simulate(plan, { ...job, frameClocks: true }, c.fleet, { ...c.network, coordination: 'contended' }, { durationS, warmupS: Math.min(30, durationS / 10), seed, computeJitter: 0.05 })
    const err = (p: { latencyMs: number; p95LatencyMs: number }): [number, number] => [p.latencyMs / r.latencyMs - 1, p.p95LatencyMs / r.p95LatencyMs - 1]
    return { seed, utilisation: busiest(after).u, before: err(before), after: err(after) }
  })
}

/** Share of rows within 5% (mean) and 10% (p95), and the mean absolute errors, for one side. */
export function sweepSummary(rows: readonly AtOnceSweepRow[], side: 'before' | 'after'): string {
  const ok = rows.filter((r) => Math.abs(r[side][0]) <= 0.05 && Math.abs(r[side][1]) <= 0.1).length
  const abs = (i: 0 | 1) => (rows.reduce((a, r) => a + Math.abs(r[side][i]), 0) / Math.max(1, rows.length)) * 100
  const signed = (i: 0 | 1) => (rows.reduce((a, r) => a + r[side][i], 0) / Math.max(1, rows.length)) * 100
  return `${side}: ${ok} of ${rows.length} within 5% / 10%; mean err avg abs ${abs(0).toFixed(1)}% (signed ${signed(0).toFixed(1)}%), p95 avg abs ${abs(1).toFixed(1)}% (signed ${signed(1).toFixed(1)}%)`
}
