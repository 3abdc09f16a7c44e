/**
 * The runtime adapter (issue 5 § Benchmarks), EMULATION: per scenario with scripted dynamics,
 * QoE-violation seconds, requests lost and energy of the adapter against a static plan and
 * against re-planning from scratch on every change (simulated, seed 1); and the adapter's
 * reaction time (an event to a new epoch: re-cost + compose, or re-plan) and the partitioner's
 * re-plan time, measured on this machine, best of 5.
 */
import { fileURLToPath } from 'node:url'
import { planningInputs, readScenario } from '../src/scenario/load.js'
import { partition } from '../src/planner/partition.js'
import { adapt, INITIAL_STATE } from '../src/planner/adapt/adapter.js'
import { POLICIES, simulateDynamics, type DynamicsResult } from '../src/sim/dynamics.js'
import { jobSources } from '../src/planner/types.js'

export interface AdapterRow { scenario: string; totals: DynamicsResult['totals']; keepMs: number; changeMs: number; changeAction: string; replanMs: number }

const best = (f: () => void) => {
  let ms = Infinity
  for (let k = 0; k < 5; k++) {
    const t = performance.now()
    f()
    ms = Math.min(ms, performance.now() - t)
  }
  return ms
}

export async function adapterBench(log: (s: string) => void): Promise<AdapterRow[]> {
  const rows: AdapterRow[] = []
  for (const name of ['smart-home', 'traffic']) {
    const file = fileURLToPath(new URL(`../config/scenarios/${name}.yaml`, import.meta.url))
    const scenario = await readScenario(file)
    const inputs = await planningInputs(file, scenario)
    log(`  ${name}: dynamics under three policies ...`)
    const d = simulateDynamics(inputs, scenario.dynamics!.events, scenario.dynamics!.durationS, 1)
    // reaction: from a running epoch, an unchanged fleet (keep) and one device gone (recompose or re-plan)
    const start = adapt(INITIAL_STATE, inputs, 0, 'start')
    const sources = new Set(jobSources(inputs.job).map((x) => x.device))
    const used = start.epoch!.parts[0]!.plan.stages.flatMap((s) => s.devices).find((id) => !sources.has(id))!
    const fewer = { ...inputs, fleet: { devices: new Map([...inputs.fleet.devices].filter(([id]) => id !== used)) } }
    let action = ''
    const keepMs = best(() => adapt(start.state, inputs, 1000, 'tick'))
    const changeMs = best(() => (action = adapt(start.state, fewer, 1000, `${used} left`).action))
    const replanMs = best(() => partition(fewer.job, fewer.fleet, { network: fewer.network }))
    rows.push({ scenario: name, totals: d.totals, keepMs, changeMs, changeAction: `${used} leaves: ${action}`, replanMs })
  }
  return rows
}

export { POLICIES }
