/**
 * A join that changes the plan (issue 18), EMULATION (synthetic device profiles, modelled Wi-Fi):
 * bench/incremental.ts's joins on fleet48 never mattered (its four Orin boxes hold the whole
 * model, so no newcomer beat the plans). Here the running fleet has no Orin: 48 devices, fleet48's
 * other five kinds with sixteen Pi-class boards (`fleetWithoutOrin`), the 12-layer encoder at
 * 20 req/s, energy and latency goals. Each newcomer is an Orin-class box, its speed drawn 0.8-1.2x
 * the kind's (seeded): a profile no device has, far faster and more frugal per FLOP, so the full
 * search's plans take it. Per join, from the running state of the first plan:
 * - the quick decision (adapter option `quick`: the kept plans edited, src/planner/adapt/incremental.ts),
 *   the full search that follows it (the second call), and the adapter before (a full search at
 *   once), timed (wall);
 * - the running mix's objective (J per request, or mean latency) before the join, after the quick
 *   decision, after the full search that follows it, and after the adapter before's search, all at
 *   hysteresis 0 (each runs the best mix of its plans);
 * - whether the newcomer holds a stage in the mix after the quick decision and after the full search.
 */
import { adapt, INITIAL_STATE, type AdapterState, type PlanEpoch } from '../src/planner/adapt/adapter.js'
import { seededRandom } from '../src/shared/random.js'
import type { DeviceProfile, Fleet, Goal, Job } from '../src/planner/types.js'
import { fleet48, job48, network48 } from './fleet48.js'

export interface JoinRow {
  goal: Goal
  /** The newcomer's speed over the Orin kind's. */
  speed: number
  quickMs: number
  fullMs: number
  beforeMs: number
  /** The running mix's objective before the join, after the quick decision, after the full search that follows it, after the adapter before's search. */
  objective: { old: number; quick: number; full: number; before: number }
  /** The newcomer holds a stage in the mix after the quick decision / after the full search. */
  quickUses: boolean
  fullUses: boolean
}

/** fleet48 with its four Orin boxes replaced by Pi-class boards (48 devices, five kinds): every Orin that joins is a new, better kind. */
export function fleetWithoutOrin(): Fleet {
  const all = [...fleet48().devices.values()]
  const pi = all.find((d) => d.kind === 'pi5')!
  const devices = all.filter((d) => d.kind !== 'orin')
  for (let k = 0; devices.length < 48; k++) devices.push({ ...pi, id: `pi5-extra-${k}` })
  return { devices: new Map(devices.map((d) => [d.id, d])) }
}

/** An Orin-class newcomer, its speeds drawn 0.8-1.2x the kind's. */
function orin(r: () => number, id: string): { device: DeviceProfile; speed: number } {
  const like = [...fleet48().devices.values()].find((d) => d.kind === 'orin')!
  const x = 0.8 + 0.4 * r()
  return { device: { ...like, id, flopsPerSec: { conv: like.flopsPerSec.conv * x, matmul: like.flopsPerSec.matmul * x, elementwise: like.flopsPerSec.elementwise * x } }, speed: x }
}

function timed<T>(f: () => T): [T, number] {
  const t = performance.now()
  const v = f()
  return [v, performance.now() - t]
}

const uses = (epoch: PlanEpoch | null, id: string) => !!epoch && epoch.parts.some((p) => p.weight > 0 && p.plan.stages.some((s) => s.devices.includes(id)))
const objectiveOf = (s: AdapterState) => (s.current && !s.current.closest && s.objective !== null ? s.objective : NaN)

export function join48Bench(log: (s: string) => void, joins = 10): JoinRow[] {
  const rows: JoinRow[] = []
  const base = fleetWithoutOrin()
  for (const goal of ['energy', 'latency'] as const) {
    const job: Job = { ...job48(), goal }
    const start = adapt(INITIAL_STATE, { job, fleet: base, network: network48 }, 0, 'start', { hysteresis: 0 })
    const r = seededRandom(4818)
    for (let k = 0; k < joins; k++) {
      const { device, speed } = orin(r, `orin-new-${k}`)
      const inputs = { job, fleet: { devices: new Map([...base.devices, [device.id, device]]) }, network: network48 }
      const why = `${device.id} joined`
      const [q, quickMs] = timed(() => adapt(start.state, inputs, 1_000 + k, why, { quick: true, hysteresis: 0 }))
      const [f, fullMs] = timed(() => adapt(q.state, inputs, 100_000 + k, `${why}: full search`, { quick: true, hysteresis: 0 }))
      const [b, beforeMs] = timed(() => adapt(start.state, inputs, 1_000 + k, why, { hysteresis: 0 }))
      const row: JoinRow = {
        goal, speed, quickMs, fullMs, beforeMs,
        objective: { old: objectiveOf(start.state), quick: objectiveOf(q.state), full: objectiveOf(f.state), before: objectiveOf(b.state) },
        quickUses: uses(q.state.current, device.id), fullUses: uses(f.state.current, device.id),
      }
      rows.push(row)
      const o = row.objective
      log(`  join48 ${goal}, ${device.id} (x${speed.toFixed(2)}): quick ${quickMs.toFixed(0)} ms, full after it ${fullMs.toFixed(0)} ms, before ${beforeMs.toFixed(0)} ms; objective old ${o.old.toPrecision(4)}, quick ${o.quick.toPrecision(4)}, full ${o.full.toPrecision(4)}, before ${o.before.toPrecision(4)}; newcomer used: quick ${row.quickUses}, full ${row.fullUses}`)
    }
  }
  return rows
}
