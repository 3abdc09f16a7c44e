/** Runtime dynamics in the simulator (sim/dynamics.ts): scripted events against the static, re-planning and adapter policies. */
import { describe, expect, it } from 'vitest'
import { simulateDynamics } from '../../src/sim/dynamics.js'
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
})
