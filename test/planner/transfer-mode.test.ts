/** Each plan runs the transfer mode predicted faster, and the epoch predicts that mode. */
import { describe, expect, it } from 'vitest'
import { chooseTransferMode } from '../../src/planner/adapt/transfer-mode.js'
import { fixedEpoch } from '../../src/planner/adapt/fixed.js'
import { predict } from '../../src/planner/cost.js'
import type { Job } from '../../src/planner/types.js'
import { scheduledWifi5, twoStages } from '../helpers/planner.js'

const { model, fleet, plan } = twoStages
const job: Job = { id: 'j', model, rateRps: 2, qoe: {}, goal: 'latency', sourceDevice: null }

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
