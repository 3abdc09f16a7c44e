/** Runtime dynamics in the simulator (sim/dynamics.ts): scripted events against the static, re-planning and adapter policies. */
import { describe, expect, it } from 'vitest'
import { simulateDynamics } from '../../src/sim/dynamics.js'
import type { Fleet, DeviceProfile, Job, ModelProfile } from '../../src/planner/types.js'
import { scheduledWifi5, testDevice } from '../helpers/planner.js'

const model: ModelProfile = {
  name: 'm', layers: Array.from({ length: 4 }, () => ({ flops: { conv: 1e9, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e5 })),
  boundaryBytes: [2e5, 1e5, 1e5, 1e5, 1e3],
}
const devices: DeviceProfile[] = [
  testDevice('fast', 100, { activeW: 30, idleW: 5 }),
  testDevice('frugal', 30, { activeW: 4, idleW: 1 }),
  testDevice('spare', 50, { activeW: 10, idleW: 2 }),
]
const fleetOf = (ids: string[]): Fleet => ({ devices: new Map(devices.filter((d) => ids.includes(d.id)).map((d) => [d.id, d])) })
const job: Job = { id: 'j', model, rateRps: 2, qoe: { latencyMs: 200 }, goal: 'energy', sourceDevice: null }
const inputs = (ids: string[]) => ({ job, fleet: fleetOf(ids), network: scheduledWifi5 })

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
