/** A camera's captures phased to its turns in the scheduler's cycle (runtime/turn-clock.ts). */
import { describe, expect, it } from 'vitest'
import { PhasedCapture, TurnClock, turnPlanOf } from '../../src/runtime/turn-clock.js'
import type { PlanEpochPayload } from '../../src/protocol/payloads.js'

function epoch(transfers: 'slots' | 'grants' | 'at-once', turns: string[], epochNo = 1): PlanEpochPayload {
  return {
    v: 1, jobId: 'j', epoch: epochNo, activateAtMs: 1000, predicted: { latencyMs: 50, energyJPerRequest: 1 }, reason: 't', emulated: true,
    parts: [{ planId: 'p', weight: 1, microBatch: 1, stages: [{ layers: [0, 2], devices: ['edge'] }] as PlanEpochPayload['parts'][number]['stages'], schedule: { periodMs: 100, cycleMs: 400, microBatchesPerCycle: 4, guardMs: 0.5, turns }, transfers }],
  }
}

describe('turn clock', () => {
  it('captures each frame at the next turn no earlier frame took', () => {
    const c = new TurnClock({ activateAtMs: 1000, cycleMs: 400, periodMs: 100, turns: [0, 2] })
    expect(c.take(900)).toBe(1000) // before the epoch: its first turn
    expect(c.take(1001)).toBe(1200)
    expect(c.take(1050)).toBe(1400) // 1200 is taken: the next
    expect(c.take(1650)).toBe(1800)
  })

  it('never gives one turn to two frames at real clock readings (epoch milliseconds, where 1e-6 ms is below a double\'s spacing)', () => {
    for (let i = 0; i < 100; i++) {
      const activateAtMs = 1_764_560_000_000 + i * 137.77
      const c = new TurnClock({ activateAtMs, cycleMs: 400, periodMs: 100, turns: [0, 2] })
      // frames due before their turns: each takes the next turn no earlier frame took (within a cycle)
      const at = [1, 2, 3].map(() => c.take(activateAtMs - 50) - activateAtMs)
      at.forEach((t, k) => expect(t).toBeCloseTo([0, 200, 400][k]!, 2))
    }
  })

  it('keeps the frame rate: a frame clock no faster than the turns drifts no further than a turn gap', () => {
    // turns every 200 ms on average, frames every 250 ms
    const c = new TurnClock({ activateAtMs: 0, cycleMs: 400, periodMs: 100, turns: [0, 3] })
    for (let k = 0; k < 400; k++) {
      const tick = k * 250
      const at = c.take(tick)
      expect(at).toBeGreaterThanOrEqual(tick)
      expect(at - tick).toBeLessThanOrEqual(300 + 1e-9)
    }
  })

  it('follows only a single plan that runs in slots and gives the source turns', () => {
    expect(turnPlanOf(epoch('slots', ['cam-1', 'cam-2', 'cam-1', 'hub']), 'cam-1', 2)).toEqual({ activateAtMs: 1000, cycleMs: 800, periodMs: 200, turns: [0, 2] })
    expect(turnPlanOf(epoch('slots', ['cam-2', 'hub']), 'cam-1')).toBeNull()
    expect(turnPlanOf(epoch('at-once', ['cam-1']), 'cam-1')).toBeNull()
    expect(turnPlanOf(epoch('grants', ['cam-1']), 'cam-1')).toBeNull()
    const p = new PhasedCapture('cam-1')
    expect(p.delayMs(null, 5000)).toBe(0)
    expect(p.delayMs(epoch('slots', ['cam-1', 'cam-2', 'cam-2', 'cam-2']), 1010)).toBe(390)
    // a new epoch at once: its own turns
    expect(p.delayMs(epoch('at-once', ['cam-1'], 2), 1010)).toBe(0)
  })
})
