/**
 * Near-identical devices grouped in the search (PartitionOptions.groupTolerance, issue 14 item 6
 * and issue 18): planner time and the chosen plan's objective at tolerance 0 (identical profiles
 * only, the search before) against 0.05, 0.1 and 0.2, in one run, on
 * - bench/fleet48 (six identical kinds), and jittered copies of it (each device's speeds drawn
 *   0.8-1.2x its kind's, seeded: as measured caps are), for the energy and latency goals;
 * - a scenario file given as argument (e.g. the auditor's f48.yaml), planned as `dora plan` does.
 * Usage: node bin/run-ts.mjs bench/planner-grouping.ts [scenario.yaml]. EMULATION (synthetic profiles).
 */
import { partition, sourceFirstTypes, type PartitionResult } from '../src/planner/partition.js'
import { jobSources } from '../src/planner/types.js'
import { readScenario, planningInputs } from '../src/scenario/load.js'
import { fleet48, jitteredFleet48, job48, network48 } from './fleet48.js'
import type { Fleet, Job, Network } from '../src/planner/types.js'

const TOLERANCES = [0, 0.05, 0.1, 0.2]


function objective(job: Job, r: PartitionResult): string {
  if (!r.ok) return 'none'
  const p = r.chosen.prediction
  return job.goal === 'throughput' ? `${p.capacityRps.toFixed(3)} rps` : job.goal === 'energy' ? `${p.energyJPerRequest.toFixed(4)} J` : `${p.latencyMs.toFixed(2)} ms`
}

function value(job: Job, r: PartitionResult): number {
  if (!r.ok) return NaN
  const p = r.chosen.prediction
  return job.goal === 'throughput' ? -p.capacityRps : job.goal === 'energy' ? p.energyJPerRequest : p.latencyMs
}

function row(name: string, job: Job, fleet: Fleet, network: Network, repeats: number): void {
  let base = NaN
  for (const tol of TOLERANCES) {
    const times: number[] = []
    let r: PartitionResult | null = null
    for (let k = 0; k < repeats; k++) {
      const t0 = performance.now()
      r = partition(job, fleet, { network, groupTolerance: tol })
      times.push(performance.now() - t0)
    }
    times.sort((a, b) => a - b)
    const v = value(job, r!)
    if (tol === 0) base = v
    const worse = ((v - base) / Math.abs(base)) * 100
    const compliant = r!.ok ? 'yes' : 'no'
    const types = sourceFirstTypes([...fleet.devices.values()], jobSources(job).map((x) => x.device), tol).length
    console.log(`| ${name} | ${job.goal} | ${tol} | ${types} | ${r!.explored} | ${times[0]!.toFixed(0)} / ${times[Math.floor(times.length / 2)]!.toFixed(0)} | ${objective(job, r!)} | ${tol === 0 ? '-' : `${worse >= 0 ? '+' : ''}${worse.toFixed(2)}%`} | ${compliant} |`)
  }
}

const repeats = Number(process.env.REPEATS ?? 3)
console.log('| fleet | goal | tolerance | types | stage options explored | planner ms (min / median) | chosen objective | vs tolerance 0 | compliant |')
console.log('|---|---|---|---|---|---|---|---|---|')
// warm-up (JIT), not reported
for (let k = 0; k < 3; k++) partition(job48(), fleet48(), { network: network48 })
const file = process.argv[3]
if (file) {
  const inputs = await planningInputs(file, await readScenario(file))
  row(file.split('/').pop()!, inputs.job, inputs.fleet, inputs.network, repeats)
}
row('fleet48 (identical kinds)', job48(), fleet48(), network48, repeats)
for (const seed of [1, 2, 3, 4, 5]) for (const goal of ['energy', 'latency'] as const) row(`fleet48 jittered seed ${seed}`, { ...job48(), goal }, jitteredFleet48(seed), network48, repeats)
