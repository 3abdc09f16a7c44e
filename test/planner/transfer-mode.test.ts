/** Each plan runs the transfer mode predicted faster, and the epoch predicts that mode. */
import { describe, expect, it } from 'vitest'
import { chooseTransferMode } from '../../src/planner/adapt/transfer-mode.js'
import { fixedEpoch } from '../../src/planner/adapt/fixed.js'
import { predict } from '../../src/planner/cost.js'
import type { Fleet } from '../../src/planner/types.js'
import type { Job, ModelProfile, Plan } from '../../src/planner/types.js'
import { scheduledWifi5, testDevice } from '../helpers/planner.js'

const model: ModelProfile = {
  name: 'm', layers: [
    { flops: { conv: 4e8, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e6 },
    { flops: { conv: 4e8, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e6 },
  ], boundaryBytes: [1.2e6, 8e5, 4e3],
}
const fleet: Fleet = { devices: new Map(['a', 'b'].map((id) => [id, testDevice(id, 20)])) }
const job: Job = { id: 'j', model, rateRps: 2, qoe: {}, goal: 'latency', sourceDevice: null }
const plan: Plan = { id: 'p', planner: 't', microBatch: 1, stages: [{ layers: [0, 1], devices: ['a'] }, { layers: [1, 2], devices: ['b'] }] }

describe('transfer mode', () => {
  it('runs the mode predicted faster: one request at a time has nothing to gain from waiting for slots', () => {
    const m = chooseTransferMode(plan, job, fleet, scheduledWifi5, predict(plan, job, fleet, scheduledWifi5), 0)
    expect(m.slots).not.toBeNull()
    const faster = m.slots!.latencyMs < m.atOnce.latencyMs ? 'slots' : 'at-once'
    expect(m.mode).toBe(faster)
    expect(m.mode).toBe('at-once')
    // the schedule is kept (to show), but the plan does not run in it
    expect(m.schedule).not.toBeNull()
  })

  it('an epoch predicts the mode it runs', () => {
    const e = fixedEpoch('single-device', job, fleet, scheduledWifi5, 1, 0, 'test')!
    const part = e.parts[0]!
    const ran = part.modes!.mode === 'slots' ? part.modes!.slots! : part.modes!.atOnce
    expect(e.predicted.latencyMs).toBeCloseTo(ran.latencyMs, 9)
    expect(['slots', 'at-once']).toContain(part.modes!.mode)
  })
})
