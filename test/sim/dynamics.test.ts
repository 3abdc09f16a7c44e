/** Runtime dynamics in the simulator (sim/dynamics.ts): scripted events against the static, re-planning and adapter policies. */
import { describe, expect, it } from 'vitest'
import { simulateDynamics } from '../../src/sim/dynamics.js'
import { fixedDecision } from '../../src/planner/adapt/fixed.js'
import { INITIAL_STATE } from '../../src/planner/adapt/adapter.js'
import { devices, inputs } from '../helpers/three-devices.js'

describe('dynamics (emulation)', () => {
  it('a device leaving loses the static (energy-goal) plan its requests, while the adapter loses none and keeps the QoE', () => {
    const first = devices.map((d) => d.id)
    const r = simulateDynamics(inputs(first), [{ atS: 40, kind: 'leave', device: 'frugal' }, { atS: 80, kind: 'return', device: 'frugal' }], 120, 3)
    expect(r.emulated).toBe(true)
    expect(r.rows.map((x) => [x.fromS, x.toS])).toEqual([[0, 40], [40, 80], [80, 120]])
    expect(r.rows[0]!.policies.static.plans).toContain('frugal')
    expect(r.totals.static.lost).toBeGreaterThan(0)
    expect(r.rows[1]!.policies.static.qoeMet).toBe(false)
    expect(r.totals.adapter.lost).toBe(0)
    expect(r.totals.adapter.violationS).toBe(0)
    expect(r.totals.adapter.replans).toBeLessThanOrEqual(r.totals.replan.replans + 1)
  })

  it("plays a baseline as the hub runs it (planner/adapt/fixed.ts): its plan, re-made only when devices come or go", () => {
    const first = devices.map((d) => d.id)
    const events = [{ atS: 30, kind: 'rate' as const, source: null, rateRps: 3 }, { atS: 60, kind: 'leave' as const, device: 'frugal' }, { atS: 90, kind: 'return' as const, device: 'frugal' }]
    const r = simulateDynamics(inputs(first), events, 120, 3, 'pipeedge')
    const plain = simulateDynamics(inputs(first), events, 120, 3)
    expect(r.policies).toEqual(['static', 'replan', 'adapter', 'baseline'])
    expect(plain.policies).toEqual(['static', 'replan', 'adapter'])
    expect(plain.rows[0]!.policies.baseline).toBeUndefined()
    // the other policies are untouched by playing the baseline
    expect(r.rows.map((x) => x.policies.adapter)).toEqual(plain.rows.map((x) => x.policies.adapter))
    // the start's plan is the one the hub's fixed policy publishes for the same fleet
    const hub = fixedDecision(INITIAL_STATE, 'pipeedge', inputs(first).job, inputs(first).fleet, inputs(first).network, 0, 'start')
    const hubPlan = hub.epoch!.parts[0]!.plan.stages.map((s) => s.devices.join('+')).join('>')
    expect(r.rows[0]!.policies.baseline!.plans).toBe(hubPlan)
    // a rate change keeps the plan; a device leaving or coming back re-makes it
    expect(r.rows.map((x) => x.policies.baseline!.action)).toEqual(['replan', 'keep', 'replan', 'replan'])
    expect(r.totals.baseline!.replans).toBe(3)
    expect(r.totals.baseline!.lost).toBe(0)
  })
})
