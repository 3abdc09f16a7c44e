/**
 * The at-once prediction against the simulator's at-once run (issues 14 and 15): for each shipped
 * camera scenario at its rate and heavier ones, Dora's chosen plan, the mode the planner picks and
 * each mode's prediction (adapt/transfer-mode.ts), against `dora simulate --uncoordinated`: the
 * DCF medium (contended), device sources on free-running frame clocks at random phases
 * (Job.frameClocks), 600 s per seed. SIMULATION, no emulation. Run: npx tsx bench/at-once.ts
 * (env DURATION_S, SEEDS=1,2, CASES=camera-wall@4,traffic@1)
 */
import { fileURLToPath } from 'node:url'
import { planningInputs, readScenario } from '../src/scenario/load.js'
import { partition } from '../src/planner/partition.js'
import { predict } from '../src/planner/cost.js'
import { chooseTransferMode } from '../src/planner/adapt/transfer-mode.js'
import { simulate } from '../src/sim/simulate.js'

export interface AtOnceRow {
  readonly scenario: string
  readonly load: number
  readonly air: number
  readonly mode: string
  readonly predicted: { atOnce: [number, number]; grants: [number, number]; slots: [number, number] | null }
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
    const row = { scenario: name, load: f, air, mode: m.mode, predicted: { atOnce: pair(m.atOnce), grants: pair(m.grants), slots: m.slots ? pair(m.slots) : null }, simulated, simulatedSlots }
    rows.push(row)
    const fmt = (x: [number, number] | null) => (x ? `${x[0].toFixed(1)} / ${x[1].toFixed(1)}` : '-')
    const simMean = simulated.reduce((a, x) => a + x[0], 0) / simulated.length
    const simP95 = simulated.reduce((a, x) => a + x[1], 0) / simulated.length
    log(`| ${name} x${f} | ${plan.stages.map((x) => `[${x.layers[0]},${x.layers[1]})@${x.devices.join('+')}`).join(' -> ')} | ${(air * 100).toFixed(0)}% | ${fmt(row.predicted.atOnce)} | ${simulated.map(fmt).join('; ')} | ${((row.predicted.atOnce[0] / simMean - 1) * 100).toFixed(1)}% / ${((row.predicted.atOnce[1] / simP95 - 1) * 100).toFixed(1)}% | ${fmt(row.predicted.slots)} | ${simulatedSlots ? simulatedSlots.map(fmt).join('; ') : '-'} | ${fmt(row.predicted.grants)} | ${m.mode} |`)
  }
  return rows
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const seeds = (process.env.SEEDS ?? '1,2').split(',').map(Number)
  const cases = process.env.CASES ? process.env.CASES.split(',') : DEFAULT_CASES
  console.log('SIMULATION (no emulation): at-once prediction vs the simulator\'s at-once run (DCF medium, frame clocks)')
  console.log('| scenario | plan | air | predicted at once mean / p95 | simulated mean / p95 per seed | error mean / p95 | predicted slots | simulated slots per seed | predicted grants | mode chosen |')
  console.log('|---|---|---|---|---|---|---|---|---|---|')
  await atOnceBench(cases, seeds, Number(process.env.DURATION_S ?? 600), (s) => console.log(s))
}
