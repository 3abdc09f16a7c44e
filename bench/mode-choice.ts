/**
 * The transfer mode the planner runs, and each mode's prediction against the simulator's run of
 * that mode (issue 15 item 2): for each shipped inference scenario and camera-wall at 4x its rate
 * (a contended camera fleet), Dora's plan (partition, judged as it will run), the prediction of
 * slots, hub grants and at once (adapt/transfer-mode.ts judgeAsRun) and the simulated run of each:
 * slots with the scheduler's schedule, grants with their round trips (`dora simulate`'s default)
 * and at once on the DCF medium (`dora simulate --uncoordinated`), both with device sources on
 * free-running frame clocks, as the device agent captures without turns; the mode chosen and the
 * adapter's epoch prediction (what the demo's summary prints). SIMULATION, no emulation.
 * Run: npx tsx bench/mode-choice.ts (env DURATION_S=300, SEEDS=1,2, CASES=smart-home@1,camera-wall@4)
 */
import { fileURLToPath } from 'node:url'
import { planningInputs, readScenario } from '../src/scenario/load.js'
import { partition } from '../src/planner/partition.js'
import { judgeAsRun, type ModePrediction } from '../src/planner/adapt/transfer-mode.js'
import { adapt, INITIAL_STATE } from '../src/planner/adapt/adapter.js'
import { simulate } from '../src/sim/simulate.js'

const DEFAULT_CASES = ['smart-home@1', 'traffic@1', 'camera-wall@1', 'camera-wall@4']

export interface ModeRow {
  readonly mode: 'slots' | 'grants' | 'at-once'
  readonly predicted: ModePrediction | null
  readonly simulated: ReadonlyArray<readonly [number, number]>
}

export async function modeChoiceBench(cases: readonly string[], seeds: readonly number[], durationS: number, log: (s: string) => void): Promise<void> {
  for (const c of cases) {
    const [name, f] = [c.split('@')[0]!, Number(c.split('@')[1] ?? 1)]
    const file = fileURLToPath(new URL(`../config/scenarios/${name}.yaml`, import.meta.url))
    const inputs = await planningInputs(file, await readScenario(file))
    const job = { ...inputs.job, rateRps: inputs.job.rateRps * f, qoe: { ...inputs.job.qoe, ...(inputs.job.qoe.throughputRps !== undefined ? { throughputRps: inputs.job.qoe.throughputRps * f } : {}) } }
    const { fleet, network } = inputs
    const res = partition(job, fleet, { network })
    const plan = res.ok ? res.chosen.plan : res.closest[0]?.plan
    if (!plan) {
      log(`${c}: no plan`)
      continue
    }
    const j = judgeAsRun(plan, job, fleet, network)
    const epoch = adapt(INITIAL_STATE, { job, fleet, network }, 0, 'bench').epoch
    const o = (seed: number) => ({ durationS, warmupS: 10, seed, computeJitter: 0.05 })
    const rows: ModeRow[] = [
      { mode: 'slots', predicted: j.modes.slots, simulated: j.modes.schedule ? seeds.map((s) => pair(simulate(plan, job, fleet, network, { ...o(s), schedule: j.modes.schedule! }))) : [] },
      { mode: 'grants', predicted: j.modes.grants, simulated: seeds.map((s) => pair(simulate(plan, { ...job, frameClocks: true }, fleet, { ...network, grants: true }, o(s)))) },
      { mode: 'at-once', predicted: j.modes.atOnce, simulated: seeds.map((s) => pair(simulate(plan, { ...job, frameClocks: true }, fleet, { ...network, coordination: 'contended' }, o(s)))) },
    ]
    const air = j.prediction.utilisation['air'] ?? 0
    const planText = plan.stages.map((x) => `[${x.layers[0]},${x.layers[1]})@${x.devices.join('+')}`).join(' -> ')
    const epochText = epoch ? `${epoch.parts.map((p) => p.modes?.mode).join('+')}: ${epoch.predicted.latencyMs.toFixed(1)} / ${epoch.predicted.p95LatencyMs.toFixed(1)}` : '-'
    for (const r of rows) {
      const sim = r.simulated.length ? [avg(r.simulated.map((x) => x[0])), avg(r.simulated.map((x) => x[1]))] as const : null
      const err = r.predicted && sim ? `${pct(r.predicted.latencyMs / sim[0] - 1)} / ${pct(r.predicted.p95LatencyMs / sim[1] - 1)}` : '-'
      const chosen = r.mode === j.modes.mode ? '**chosen**' : ''
      log(`| ${name} x${f} | ${planText} | ${(air * 100).toFixed(0)}% | ${r.mode} ${chosen} | ${r.predicted ? `${r.predicted.latencyMs.toFixed(1)} / ${r.predicted.p95LatencyMs.toFixed(1)}` : '-'} | ${r.simulated.map((x) => `${x[0].toFixed(1)} / ${x[1].toFixed(1)}`).join('; ') || '-'} | ${err} | ${epochText} |`)
    }
  }
}

const pair = (r: { latencyMs: number; p95LatencyMs: number }) => [r.latencyMs, r.p95LatencyMs] as const
const avg = (xs: readonly number[]) => xs.reduce((a, x) => a + x, 0) / xs.length
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const seeds = (process.env.SEEDS ?? '1,2').split(',').map(Number)
  const cases = process.env.CASES ? process.env.CASES.split(',') : DEFAULT_CASES
  console.log('SIMULATION (no emulation): each transfer mode predicted (judgeAsRun) against the simulator\'s run of that mode')
  console.log('| scenario | plan | air | mode | predicted mean / p95 ms | simulated per seed | error mean / p95 | adapter epoch: modes, predicted |')
  console.log('|---|---|---|---|---|---|---|---|')
  await modeChoiceBench(cases, seeds, Number(process.env.DURATION_S ?? 300), (s) => console.log(s))
}
