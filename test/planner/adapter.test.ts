/** The runtime adapter: re-cost, compose, re-plan only when needed, hysteresis, epochs. */
import { describe, expect, it } from 'vitest'
import { adapt, INITIAL_STATE } from '../../src/planner/adapt/adapter.js'
import type { Fleet, DeviceProfile } from '../../src/planner/types.js'
import { scheduledWifi5, testDevice } from '../helpers/planner.js'
import { devices, inputs, job } from '../helpers/three-devices.js'

describe('runtime adapter', () => {
  it('plans at the start, keeps the plans while nothing changes, and never flaps', () => {
    const a = adapt(INITIAL_STATE, inputs(['fast', 'frugal', 'spare']), 0, 'start')
    expect(a.action).toBe('replan')
    expect(a.epoch!.epoch).toBe(1)
    expect(a.epoch!.predicted.latencyMs).toBeLessThanOrEqual(200)
    const b = adapt(a.state, inputs(['fast', 'frugal', 'spare']), 1_000, 'periodic re-costing')
    expect(b.action).toBe('keep')
    expect(b.epoch).toBeNull()
    expect(b.state.current!.epoch).toBe(1)
  })

  it('moves off a device that left, onto the candidates that remain or a new plan, in a new epoch', () => {
    const a = adapt(INITIAL_STATE, inputs(['fast', 'frugal', 'spare']), 0, 'start')
    const used = new Set(a.epoch!.parts.flatMap((p) => p.plan.stages.flatMap((s) => s.devices)))
    const gone = [...used][0]!
    const left = ['fast', 'frugal', 'spare'].filter((id) => id !== gone)
    const b = adapt(a.state, inputs(left), 5_000, `${gone} left`)
    expect(['recompose', 'replan']).toContain(b.action)
    expect(b.epoch!.epoch).toBe(2)
    expect(b.epoch!.activateAtMs).toBeGreaterThanOrEqual(5_000)
    for (const p of b.epoch!.parts) for (const s of p.plan.stages) expect(s.devices).not.toContain(gone)
    expect(Object.keys(b.epoch!.assignments).every((id) => left.includes(id))).toBe(true)
  })

  it('reuses the last search for a newcomer whose twin sat idle in it; a newcomer like a planned device, or of a new kind, re-plans', () => {
    // 'slow' is too slow and too hungry for any candidate plan: it sits idle
    const pool = [...devices, testDevice('slow', 0.5, { activeW: 60, idleW: 20 })]
    const all = pool.map((d) => d.id)
    const fleet = (extra: DeviceProfile[]): Fleet => ({ devices: new Map([...pool, ...extra].map((d) => [d.id, d])) })
    const a = adapt(INITIAL_STATE, { job, fleet: fleet([]), network: scheduledWifi5 }, 0, 'start')
    const planned = new Set(a.state.candidates.flatMap((p) => p.stages.flatMap((s) => s.devices)))
    expect(planned.has('slow')).toBe(false)
    const busy = all.find((id) => planned.has(id))!
    const join = (joiner: DeviceProfile) => adapt(a.state, { job, fleet: fleet([joiner]), network: scheduledWifi5 }, 1_000, 'joiner joined')
    // a re-plan names its fresh candidates after the time of the call
    const searched = (d: { state: { candidates: ReadonlyArray<{ id: string }> } }) => d.state.candidates.some((p) => p.id.startsWith('p1000-'))
    const twin = join({ ...pool.find((d) => d.id === 'slow')!, id: 'joiner' })
    expect(twin.action).toBe('keep')
    expect(searched(twin)).toBe(false)
    expect(twin.state.known).toContain('joiner')
    expect(searched(join({ ...pool.find((d) => d.id === busy)!, id: 'joiner' }))).toBe(true)
    const stronger = join(testDevice('joiner', 400, { activeW: 3, idleW: 0.5 }))
    expect(searched(stronger)).toBe(true)
    expect(stronger.action).toBe('replan')
  })

  it('says infeasible, keeping the current epoch, when no plan can meet the bounds', () => {
    const a = adapt(INITIAL_STATE, inputs(['fast', 'frugal', 'spare']), 0, 'start')
    const strict = { ...inputs(['frugal']), job: { ...job, qoe: { latencyMs: 1 } } }
    const b = adapt(a.state, strict, 1_000, 'tight bound')
    expect(b.action).toBe('infeasible')
    expect(b.state.current!.epoch).toBe(1)
    // the running epoch says it no longer meets the bounds, and by how much (the job's status and Home Assistant read it)
    expect(b.state.current!.closest!.find((g) => g.bound === 'latencyMs')!.offPct).toBeGreaterThan(100)
    expect(b.reason).toMatch(/latencyMs \d+% off/)
    // back within the bounds: the note goes
    const c = adapt(b.state, inputs(['fast', 'frugal', 'spare']), 2_000, 'bound relaxed')
    expect(c.state.current!.closest).toBeUndefined()
  })
})

describe('no compliant plan', () => {
  it('leaves a running epoch that is further from the bounds than the closest plan (a rate surge overloads it), and says so', () => {
    const a = adapt(INITIAL_STATE, inputs(['fast', 'frugal', 'spare']), 0, 'start')
    const running = a.epoch!.parts.map((p) => p.plan.stages.map((s) => s.devices.join('+')).join('>')).join(', ')
    // 12 req/s and a bound nothing meets: the frugal plan that ran is overloaded, faster plans are not
    const surge = { ...inputs(['fast', 'frugal', 'spare']), job: { ...job, rateRps: 12, qoe: { latencyMs: 10 } } }
    const b = adapt(a.state, surge, 1_000, 'rate surge')
    expect(b.action).toBe('infeasible')
    expect(b.epoch, `kept ${running}: ${b.reason}`).not.toBeNull()
    expect(b.epoch!.epoch).toBe(2)
    expect(b.epoch!.closest!.some((g) => g.bound === 'latencyMs')).toBe(true)
    expect(b.epoch!.closest!.some((g) => g.bound === 'overload')).toBe(false)
    expect(b.reason).toMatch(/running the closest plan/)
    // the same again: the closest plan stays (no flapping)
    const c = adapt(b.state, surge, 2_000, 'periodic re-costing')
    expect(c.epoch).toBeNull()
    expect(c.state.current!.epoch).toBe(2)
  })
})

describe('measured latency', () => {
  it('calibrates the candidates: a running epoch measured too slow for its bound moves to a faster mix', () => {
    const a = adapt(INITIAL_STATE, inputs(['fast', 'frugal', 'spare']), 0, 'start')
    const predicted = a.epoch!.predicted.latencyMs
    // measured within the bound: nothing to do
    expect(adapt(a.state, { ...inputs(['fast', 'frugal', 'spare']), measuredLatencyMs: predicted * 1.05 }, 1000, 'measured').action).toBe('keep')
    // measured far above the bound (200 ms): the plans are re-judged with the calibration
    const slow = adapt(a.state, { ...inputs(['fast', 'frugal', 'spare']), measuredLatencyMs: 250 }, 2000, 'measured latency broke the bound')
    expect(['recompose', 'replan']).toContain(slow.action)
    expect(slow.state.latencyScale).toBeCloseTo(250 / predicted, 6)
    expect(slow.epoch!.predicted.latencyMs).toBeLessThanOrEqual(200 + 1e-6)
    expect(slow.epoch!.parts.map((p) => p.plan.stages)).not.toEqual(a.epoch!.parts.map((p) => p.plan.stages))
  })
})
