import { planningInputs, readScenario } from '../src/scenario/load.js'
import { partition } from '../src/planner/partition.js'
import { scheduleTransfers } from '../src/planner/network/scheduler.js'
import { simulate } from '../src/sim/simulate.js'
for (const [name, rates] of [['smart-home', [2, 6, 10, 14]], ['traffic', [5, 7, 9]]] as const) {
  const f = `/work/main/config/scenarios/${name}.yaml`
  const i0 = await planningInputs(f, await readScenario(f))
  for (const rate of rates) {
    const job = { ...i0.job, rateRps: rate, qoe: {} }
    const r = partition(job, i0.fleet, { network: i0.network })
    if (!r.ok) { console.log(name, rate, 'no plan'); continue }
    const s = scheduleTransfers(r.chosen.plan, job, i0.fleet, i0.network)
    const o = { durationS: 300, warmupS: 10, seed: 1, computeJitter: 0.05 }
    const slotted = simulate(r.chosen.plan, job, i0.fleet, i0.network, { ...o, schedule: s.ok ? s.schedule : undefined })
    const unco = simulate(r.chosen.plan, job, i0.fleet, { ...i0.network, coordination: 'contended' }, o)
    const fifo = simulate(r.chosen.plan, job, i0.fleet, i0.network, o)
    console.log(name, rate, r.chosen.plan.stages.map((x) => x.devices.join('+')).join(' > '), s.ok ? '' : s.reason, 'slot', slotted.latencyMs.toFixed(0), slotted.throughputRps.toFixed(1), 'unco', unco.latencyMs.toFixed(0), unco.throughputRps.toFixed(1), 'fifo', fifo.latencyMs.toFixed(0))
  }
}
