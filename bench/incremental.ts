/**
 * Warm-start re-planning (issue 18; adapter option `quick`, src/planner/adapt/incremental.ts),
 * EMULATION (synthetic device profiles, modelled Wi-Fi): on bench/fleet48's 48 devices, six
 * identical kinds or every device's speed drawn 0.8-1.2x its kind's (all different), 12-layer
 * encoder at 20 req/s, energy and latency goals. From the running state of the first plan:
 * - 50 seeded joins, each a device of a kind drawn at random with its speed drawn 0.8-1.2x (a
 *   profile no other device has): the quick decision (`quick`), the full search that follows it
 *   (a second call), and the adapter before (a full search at once), timed; and the quick
 *   decision's objective over the adapter-before's (hysteresis 0, so both run the best mix of
 *   their plans: the figure is the plans' quality, not the hysteresis);
 * - every device of the first plans leaving, one at a time, likewise;
 * - with the default hysteresis (10%): how many quick decisions publish a new epoch.
 */
import { adapt, INITIAL_STATE, type AdapterState } from '../src/planner/adapt/adapter.js'
import { seededRandom } from '../src/shared/random.js'
import type { DeviceProfile, Fleet, Goal, Job } from '../src/planner/types.js'
import { fleet48, jitteredFleet48, job48, network48 } from './fleet48.js'

export interface IncrementalRow {
  fleet: string
  goal: Goal
  event: 'join' | 'leave'
  events: number
  quickMs: number[]
  fullMs: number[]
  beforeMs: number[]
  /** Quick objective over the adapter-before's, per event (NaN: one of them has no compliant mix). */
  ratios: number[]
  /** Quick decisions that published a new epoch at the default hysteresis, and that were not compliant. */
  published: number
  notCompliant: number
  /** Follow-up full searches that replaced the quick decision (default hysteresis). */
  replaced: number
}

/** A newcomer: a device of a kind drawn at random, its speeds drawn 0.8-1.2x. */
function newcomer(base: Fleet, r: () => number, id: string): DeviceProfile {
  const all = [...base.devices.values()]
  const kinds = [...new Set(all.map((d) => d.kind))]
  const kind = kinds[Math.floor(r() * kinds.length)]!
  const like = all.find((d) => d.kind === kind)!
  const x = 0.8 + 0.4 * r()
  return { ...like, id, flopsPerSec: { conv: like.flopsPerSec.conv * x, matmul: like.flopsPerSec.matmul * x, elementwise: like.flopsPerSec.elementwise * x } }
}

function timed<T>(f: () => T): [T, number] {
  const t = performance.now()
  const v = f()
  return [v, performance.now() - t]
}

function measure(start: AdapterState, job: Job, after: Fleet, row: IncrementalRow, k: number, why: string): void {
  const inputs = { job, fleet: after, network: network48 }
  const [q, quickMs] = timed(() => adapt(start, inputs, 1_000 + k, why, { quick: true, hysteresis: 0 }))
  const [, fullMs] = timed(() => adapt(q.state, inputs, 100_000 + k, `${why}: full search`, { quick: true, hysteresis: 0 }))
  const [b, beforeMs] = timed(() => adapt(start, inputs, 1_000 + k, why, { hysteresis: 0 }))
  row.quickMs.push(quickMs)
  row.fullMs.push(fullMs)
  row.beforeMs.push(beforeMs)
  const ok = (s: AdapterState) => (s.current && !s.current.closest && s.objective !== null ? s.objective : NaN)
  row.ratios.push(ok(q.state) / ok(b.state))
  // at the adapter's own hysteresis: is the quick decision published, and does the full search replace it?
  const h = adapt(start, inputs, 1_000 + k, why, { quick: true })
  if (h.epoch) row.published++
  if (h.state.current?.closest) row.notCompliant++
  if (adapt(h.state, inputs, 100_000 + k, `${why}: full search`, { quick: true }).epoch) row.replaced++
  row.events++
}

export function incrementalBench(log: (s: string) => void, joins = 50): IncrementalRow[] {
  const rows: IncrementalRow[] = []
  const fleets: Array<[string, Fleet]> = [['48, six kinds', fleet48()], ['48, all different', jitteredFleet48(1)]]
  for (const [name, base] of fleets) {
    for (const goal of ['energy', 'latency'] as const) {
      const job: Job = { ...job48(), goal }
      const start = adapt(INITIAL_STATE, { job, fleet: base, network: network48 }, 0, 'start')
      const empty = (event: 'join' | 'leave'): IncrementalRow => ({ fleet: name, goal, event, events: 0, quickMs: [], fullMs: [], beforeMs: [], ratios: [], published: 0, notCompliant: 0, replaced: 0 })
      const join = empty('join')
      const r = seededRandom(2026)
      for (let k = 0; k < joins; k++) {
        const n = newcomer(base, r, `new-${k}`)
        measure(start.state, job, { devices: new Map([...base.devices, [n.id, n]]) }, join, k, `${n.id} joined`)
      }
      const leave = empty('leave')
      const planned = [...new Set(start.state.candidates.flatMap((p) => p.stages.flatMap((s) => s.devices)))].sort()
      planned.forEach((gone, k) => measure(start.state, job, { devices: new Map([...base.devices].filter(([id]) => id !== gone)) }, leave, k, `${gone} left`))
      for (const row of [join, leave]) {
        rows.push(row)
        log(`  ${name}, ${goal}, ${row.events} ${row.event}s: quick median ${median(row.quickMs).toFixed(0)} ms, full ${median(row.fullMs).toFixed(0)} ms, before ${median(row.beforeMs).toFixed(0)} ms; quick / before max ${Math.max(...row.ratios.filter(Number.isFinite)).toFixed(4)}`)
      }
    }
  }
  return rows
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : NaN
}

/** Quantile q of the finite values. */
export function quantile(xs: readonly number[], q: number): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN
}
