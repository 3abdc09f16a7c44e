/**
 * Transfer coordination per scenario (issue 5 § Benchmarks), EMULATION: Dora's chosen plan run
 * three ways on the same requests - the network scheduler's timed slots, the hub granting the
 * air one transfer at a time (work-conserving, shortest first, each grant paying its round trip), and uncoordinated
 * sending (DCF contention, performance anomaly) - at the scenario's load and at heavier loads.
 * For the training job latency is the optimizer step time.
 */
import { fileURLToPath } from 'node:url'
import { planningInputs, readScenario } from '../src/scenario/load.js'
import { partition } from '../src/planner/partition.js'
import { scheduleTransfers } from '../src/planner/network/scheduler.js'
import { simulate, type SimResult } from '../src/sim/simulate.js'

export interface CoordinationRow {
  scenario: string
  rateRps: number
  plan: string
  slots: SimResult | null
  slotsNote: string
  granted: SimResult
  uncoordinated: SimResult
}

export async function coordinationBench(log: (s: string) => void): Promise<CoordinationRow[]> {
  const rows: CoordinationRow[] = []
  for (const [name, factors] of [['smart-home', [1, 3, 5]], ['traffic', [1, 1.4, 1.8]], ['edge-cluster', [1]]] as const) {
    const file = fileURLToPath(new URL(`../config/scenarios/${name}.yaml`, import.meta.url))
    const inputs = await planningInputs(file, await readScenario(file))
    for (const f of factors) {
      const job = { ...inputs.job, rateRps: inputs.job.rateRps * f, qoe: {} }
      const res = partition(job, inputs.fleet, { network: inputs.network })
      if (!res.ok) continue
      const plan = res.chosen.plan
      const o = { durationS: 300, warmupS: 10, seed: 1, computeJitter: 0.05 }
      const s = scheduleTransfers(plan, job, inputs.fleet, inputs.network)
      log(`  ${name} at ${job.rateRps} req/s ...`)
      rows.push({
        scenario: name, rateRps: job.rateRps, plan: plan.stages.map((x) => `[${x.layers[0]},${x.layers[1]})@${x.devices.join('+')}`).join(' -> '),
        // a training step's slots are its replay with transfers one at a time: the granted run itself
        slots: s.ok && !job.training ? simulate(plan, job, inputs.fleet, inputs.network, { ...o, schedule: s.schedule }) : null,
        slotsNote: !s.ok ? s.reason : job.training ? 'training: slots = the step replayed one transfer at a time (as grants)' : `${s.schedule.periodMs.toFixed(1)} ms period`,
        granted: simulate(plan, job, inputs.fleet, { ...inputs.network, grants: true }, o),
        // at once, device sources run free on their own frame clocks (the device agent's startSource)
        uncoordinated: simulate(plan, { ...job, frameClocks: true }, inputs.fleet, { ...inputs.network, coordination: 'contended' }, o),
      })
    }
  }
  return rows
}
