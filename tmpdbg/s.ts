import { planningInputs, readScenario } from '../src/scenario/load.js'
import { partition } from '../src/planner/partition.js'
import { scheduleTransfers } from '../src/planner/network/scheduler.js'
for (const name of ['smart-home', 'traffic']) {
  const f = `/work/main/config/scenarios/${name}.yaml`
  const i = await planningInputs(f, await readScenario(f))
  const r = partition(i.job, i.fleet, { network: i.network })
  if (!r.ok) continue
  const t = performance.now()
  const s = scheduleTransfers(r.chosen.plan, i.job, i.fleet, i.network)
  console.log(name, (performance.now() - t).toFixed(1), 'ms', r.chosen.prediction.latencyMs.toFixed(1), r.chosen.prediction.capacityRps.toFixed(2))
  if (s.ok) console.log(s.schedule.periodMs.toFixed(1), s.schedule.microBatchesPerCycle, s.schedule.latencyMs.toFixed(1), s.schedule.waitMs.toFixed(1), s.schedule.airShare.toFixed(2), s.schedule.slots.length)
  else console.log(s.reason)
}
import { simulate } from '../src/sim/simulate.js'
for (const name of ['smart-home', 'traffic']) {
  const f = `/work/main/config/scenarios/${name}.yaml`
  const i = await planningInputs(f, await readScenario(f))
  const r = partition(i.job, i.fleet, { network: i.network })
  if (!r.ok) continue
  const s = scheduleTransfers(r.chosen.plan, i.job, i.fleet, i.network)
  const o = { durationS: 300, warmupS: 10, seed: 1, computeJitter: 0.05 }
  const fifo = simulate(r.chosen.plan, i.job, i.fleet, i.network, o)
  const slotted = simulate(r.chosen.plan, i.job, i.fleet, i.network, { ...o, schedule: s.ok ? s.schedule : undefined })
  const unco = simulate(r.chosen.plan, i.job, i.fleet, { ...i.network, coordination: 'contended' }, o)
  for (const [k, v] of Object.entries({ fifo, slotted, unco })) console.log(name, k, v.latencyMs.toFixed(1), v.p95LatencyMs.toFixed(1), v.throughputRps.toFixed(2), v.energyJPerRequest.toFixed(2), v.qoeMet)
}
