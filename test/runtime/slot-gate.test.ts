/** A device's sending slots (runtime/slot-gate.ts): the earliest untaken slot of its kind, work-conserving. */
import { describe, expect, it } from 'vitest'
import { SlotGate } from '../../src/runtime/slot-gate.js'

const slots = [{ offsetMs: 10, durationMs: 5 }, { offsetMs: 60, durationMs: 5 }]

describe('slot gate', () => {
  it('a transfer waits for the next slot toward its receiver when none went untaken', () => {
    const g = new SlotGate()
    expect(g.take('r', 1005, slots, 100, 1000)).toBe(1010)
    expect(g.take('r', 1011, slots, 100, 1000)).toBe(1060)
    expect(g.take('r', 1012, slots, 100, 1000)).toBe(1110)
  })

  it('takes an untaken slot that began before it was ready at once (work-conserving), never one taken', () => {
    const g = new SlotGate()
    // ready at 1070: the slots at 1010 and 1060 went untaken, so two transfers go now, not at 1110
    expect(g.take('r', 1070, slots, 100, 1000)).toBe(1070)
    expect(g.take('r', 1070, slots, 100, 1000)).toBe(1070)
    // a third cannot take them again: the next slot, 1110
    expect(g.take('r', 1070, slots, 100, 1000)).toBe(1110)
    // slots older than a cycle are gone: ready at 1500 after nothing since 1110, it takes 1460 (within the cycle) now
    expect(g.take('r', 1500, slots, 100, 1000)).toBe(1500)
    // other receivers keep their own slots; no slots: at once
    expect(g.take('q', 1005, slots, 100, 1000)).toBe(1010)
    expect(g.take('r', 1005, [], 100, 1000)).toBe(1005)
  })

  it('forgets the keys of plans no longer sending (re-plans make new keys), never one still in its cycle', () => {
    const g = new SlotGate()
    const slots = [{ offsetMs: 10, durationMs: 5 }]
    // a long run: a new plan (key) every cycle, each taking one slot
    for (let k = 0; k < 5000; k++) g.take(`plan-${k}/d`, 1000 + k * 100, slots, 100, 1000)
    expect(g.size).toBeLessThanOrEqual(300)
    // the latest key still keeps its taken slot (it took the one of 500,810 at once, work-conserving):
    // a second transfer gets the next one, not that one again
    expect(g.take('plan-4999/d', 1000 + 4999 * 100, slots, 100, 1000)).toBe(1000 + 4999 * 100 + 10)
  })
})
