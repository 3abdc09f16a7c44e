/**
 * Warm-start re-planning (adapter option `quick`, incremental.ts): on seeded random fleets, a
 * device joins or a planned one leaves; the quick decision is a valid plan mix on the devices
 * there, compliant whenever the old plans were (a join) or the full search finds a compliant plan
 * (a leave), never worse than keeping the old plans, the same on every run; the full search that
 * follows replaces it only when better.
 */
import { describe, expect, it } from 'vitest'
import { adapt, INITIAL_STATE, type AdaptDecision, type AdapterState } from '../../src/planner/adapt/adapter.js'
import { compose, composable } from '../../src/planner/adapt/compose.js'
import { predict } from '../../src/planner/cost.js'
import { judgeAsRun } from '../../src/planner/adapt/transfer-mode.js'
import { seededRandom } from '../../src/shared/random.js'
import type { DeviceProfile, Fleet, Goal, Job, Network, Plan } from '../../src/planner/types.js'
import { scheduledWifi5 } from '../helpers/planner.js'

function device(id: string, r: () => number): DeviceProfile {
  const g = 5 + r() * 95
  return {
    id, kind: 'random', emulated: true, flopsPerSec: { conv: g * 1e9, matmul: g * 1.2e9, elementwise: g * 0.3e9 }, stageOverheadMs: r() * 2,
    memoryBytes: 1e9 + r() * 7e9, idleW: 0.5 + r() * 4, activeW: 5 + r() * 20, txJPerByte: 1.9e-6, rxJPerByte: 0.42e-6, linkRateBps: r() < 0.2 ? null : 50e6 + r() * 550e6, battery: null,
  }
}

interface Case { readonly job: Job; readonly before: Fleet; readonly after: Fleet; readonly event: string; readonly gone: string | null; readonly start: AdaptDecision }

/** A fleet of 5-8 random devices, a 6-layer model, bounds 0.9-1.8x the best one-device plan's figures; then one device joins, or one of the plans' leaves. */
function randomCase(seed: number, network: Network): Case {
  const r = seededRandom(seed * 7919 + 17)
  const before: Fleet = { devices: new Map(Array.from({ length: 5 + Math.floor(r() * 4) }, (_, i) => [`d${i}`, device(`d${i}`, r)] as const)) }
  const layers = Array.from({ length: 6 }, () => ({ flops: { conv: r() * 2e9, matmul: r() * 1e9, elementwise: r() * 1e8 }, paramBytes: r() * 2e7, peakActivationBytes: r() * 3e6 }))
  const model = { name: 'random', layers, boundaryBytes: Array.from({ length: 7 }, () => 1e4 + r() * 1e6) }
  const goal = (['latency', 'energy', 'throughput'] as const)[seed % 3] as Goal
  const loose: Job = { id: 'j', model, rateRps: 1 + r() * 3, qoe: { memoryFraction: 1 }, goal, sourceDevice: null }
  const alone = [...before.devices.keys()].map((id) => predict({ id: 'one', planner: 't', microBatch: 1, stages: [{ layers: [0, 6], devices: [id] }] }, loose, before, network))
  const best = alone.reduce((a, b) => (b.latencyMs < a.latencyMs ? b : a))
  const job: Job = { ...loose, qoe: { memoryFraction: 1, latencyMs: best.latencyMs * (0.9 + 0.9 * r()), p95LatencyMs: best.p95LatencyMs * (1.2 + r()) } }
  const start = adapt(INITIAL_STATE, { job, fleet: before, network }, 0, 'start')
  const planned = [...new Set(start.epoch?.parts.flatMap((x) => x.plan.stages.flatMap((s) => s.devices)) ?? [])].sort()
  if (seed % 2 === 0 || !planned.length) {
    const n = device('newcomer', r)
    return { job, before, after: { devices: new Map([...before.devices, ['newcomer', n]]) }, event: 'newcomer joined', gone: null, start }
  }
  const gone = planned[Math.floor(r() * planned.length)]!
  return { job, before, after: { devices: new Map([...before.devices].filter(([id]) => id !== gone)) }, event: `${gone} left`, gone, start }
}

/** Stages cover the layers in order, each on devices of the fleet, no device twice. */
function valid(plan: Plan, layers: number, fleet: Fleet): boolean {
  let at = 0
  for (const s of plan.stages) {
    if (s.layers[0] !== at || s.layers[1] <= at || !s.devices.length || !s.devices.every((id) => fleet.devices.has(id))) return false
    at = s.layers[1]
  }
  const ids = plan.stages.flatMap((s) => s.devices)
  return at === layers && new Set(ids).size === ids.length
}

/** The objective of a state's running mix re-costed on `fleet` (null: it does not run there or no mix complies). */
function runningObjective(state: AdapterState, c: Case): number | null {
  if (!state.current) return null
  const plans = state.current.parts.map((x) => x.plan)
  if (!plans.every((p) => valid(p, c.job.model.layers.length, c.after))) return null
  // judged as they run (each plan's transfer mode's prediction), as the adapter judges them
  const costed = plans.map((plan) => judgeAsRun(plan, c.job, c.after, scheduledWifi5))
  return compose(costed, c.job)?.objective ?? null
}

const SEEDS = Array.from({ length: 30 }, (_, k) => k + 1)

describe('warm-start re-planning (quick decisions)', () => {
  let quick = 0
  it.each(SEEDS)('seed %i: a quick decision is a valid plan mix on the devices there, compliant if the old plans or the full search are, never worse than the old plans, deterministic', (seed) => {
    {
      const c = randomCase(seed, scheduledWifi5)
      const inputs = { job: c.job, fleet: c.after, network: scheduledWifi5 }
      const q = adapt(c.start.state, inputs, 1_000, c.event, { quick: true })
      const msg = `seed ${seed}, ${c.event}: ${q.action}, ${q.reason}`
      expect(adapt(c.start.state, inputs, 1_000, c.event, { quick: true }), msg).toEqual(q)
      if (q.action === 'quick') quick++
      const running = q.state.current
      // never names a departed device: not in a stage, not in an assignment
      if (running) {
        for (const part of running.parts) expect(valid(part.plan, c.job.model.layers.length, c.after), `${msg}: ${JSON.stringify(part.plan.stages)}`).toBe(true)
        for (const id of Object.keys(running.assignments)) expect(c.after.devices.has(id), msg).toBe(true)
      }
      const full = adapt(c.start.state, inputs, 1_000, c.event, { hysteresis: 0 })
      const oldOk = c.start.epoch !== null && !c.start.epoch.closest
      const fullOk = full.state.current !== null && !full.state.current.closest
      // compliant if possible: the old plans still run after a join; a leave's repair complies when the full search finds a compliant plan
      if ((c.gone === null && oldOk) || fullOk) {
        expect(running, msg).not.toBeNull()
        expect(running!.closest, msg).toBeUndefined()
        // each plan meets the bounds a mix cannot average in the mode it runs, whose prediction the epoch promises
        for (const part of running!.parts) {
          const judged = judgeAsRun(part.plan, c.job, c.after, scheduledWifi5)
          expect(part.modes?.mode, msg).toBe(judged.modes.mode)
          expect(composable(judged), msg).toBe(true)
        }
        expect(running!.predicted.latencyMs, msg).toBeLessThanOrEqual(c.job.qoe.latencyMs! * (1 + 1e-9))
      }
      // never worse than keeping the old plans, where they still run
      const old = runningObjective(c.start.state, c)
      const now = runningObjective(q.state, c)
      if (old !== null) expect(now, msg).not.toBeNull()
      if (old !== null) expect(now!, msg).toBeLessThanOrEqual(old * (1 + 1e-9))
      // the full search follows, and replaces the quick decision only when better
      if (!q.needsFull) return
      expect(q.state.searchPending, msg).toBe(true)
      const after = adapt(q.state, inputs, 2_000, 'full search', { quick: true })
      expect(after.needsFull, msg).toBeFalsy()
      expect(after.state.searchPending, msg).toBeFalsy()
      expect(after.state.candidates.some((p) => p.id.startsWith('p2000-')), msg).toBe(true)
      const later = runningObjective(after.state, c)
      if (now !== null) expect(later!, msg).toBeLessThanOrEqual(now * (1 + 1e-9))
      if (after.epoch && now !== null) expect(later!, msg).toBeLessThan(now * 0.9)
    }
  }, 60_000)

  it('the cases exercise the quick path (not only keeps)', () => {
    expect(quick).toBeGreaterThan(SEEDS.length / 4)
  })

  it('never repairs onto a device that cannot hold a stage (memory): with nothing else online, nothing runs', () => {
    const fits = device('fits', seededRandom(1))
    const tiny = { ...device('tiny', seededRandom(2)), memoryBytes: 1000 }
    const layers = Array.from({ length: 4 }, () => ({ flops: { conv: 1e9, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e5 }))
    const job: Job = { id: 'j', model: { name: 'm', layers, boundaryBytes: [1e5, 1e5, 1e5, 1e5, 1e3] }, rateRps: 1, qoe: { latencyMs: 5000 }, goal: 'latency', sourceDevice: null }
    const start = adapt(INITIAL_STATE, { job, fleet: { devices: new Map([['fits', fits], ['tiny', tiny]]) }, network: scheduledWifi5 }, 0, 'start')
    expect(Object.keys(start.epoch!.assignments)).toEqual(['fits'])
    const q = adapt(start.state, { job, fleet: { devices: new Map([['tiny', tiny]]) }, network: scheduledWifi5 }, 1_000, 'fits left', { quick: true })
    expect(q.epoch).toBeNull()
    expect(q.state.current).toBeNull()
    expect(q.reason).toMatch(/no plan runs on the online devices/)
  })

  it('without `quick`, a join still runs the full search at once (the adapter as before)', () => {
    const c = randomCase(2, scheduledWifi5)
    const d = adapt(c.start.state, { job: c.job, fleet: c.after, network: scheduledWifi5 }, 1_000, c.event)
    expect(d.needsFull).toBeFalsy()
    expect(d.state.searchPending).toBeFalsy()
    expect(d.state.candidates.some((p) => p.id.startsWith('p1000-'))).toBe(true)
  })
})
