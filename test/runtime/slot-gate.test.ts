/** A device's sending slots (runtime/slot-gate.ts): the earliest untaken slot of its kind, work-conserving. */
import { describe, expect, it } from 'vitest'
import { SlotGate } from '../../src/runtime/slot-gate.js'
import { scheduleTransfers } from '../../src/planner/network/scheduler.js'
import type { Job } from '../../src/planner/types.js'
import { scheduledWifi5, testDevice } from '../helpers/planner.js'

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

  it('never gives one slot to two transfers at real clock readings (epoch milliseconds, where 1e-6 ms is below a double\'s spacing)', () => {
    // devices read the time as ms since the Unix epoch (~1.8e12: doubles 2.4e-4 ms apart); the
    // gate's "after the last slot taken" once added 1e-6 ms there, so a second transfer ready as
    // early could take the same slot again
    for (let i = 0; i < 200; i++) {
      const activateAtMs = 1_764_560_000_000 + i * 137.77
      const cycleMs = 33.3 + (i % 7) * 1.37
      const slots = [{ offsetMs: 5.5 + (i % 13) * 0.77, durationMs: 2 }, { offsetMs: cycleMs + 9.1, durationMs: 2 }]
      const g = new SlotGate()
      const now = activateAtMs + 1
      const times = [0, 1, 2, 3].map(() => g.take('r', now, slots, cycleMs, activateAtMs))
      // the four earliest slot times, each once
      const want = slots.flatMap((s) => [0, 1, 2, 3].map((k) => s.offsetMs + k * cycleMs)).sort((a, b) => a - b).slice(0, 4)
      times.forEach((t, k) => expect(t - activateAtMs).toBeCloseTo(want[k]!, 2))
    }
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

describe("the slot gate on the scheduler's own slots", () => {
  // three stages (stage 1 replicated on b and c), 1.2 MB in, 800 and 600 kB between stages: every
  // activation goes in several 256 KiB chunks, micro-batches alternate between b and c
  const model = {
    name: 'm', layers: [0, 1, 2].map(() => ({ flops: { conv: 4e8, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e6 })),
    boundaryBytes: [1.2e6, 8e5, 6e5, 4e3],
  }
  const fleet = { devices: new Map(['a', 'b', 'c', 'd'].map((id) => [id, testDevice(id, 20)])) }
  const job: Job = { id: 'j', model, rateRps: 5, qoe: {}, goal: 'latency', sourceDevice: null }
  const plan = { id: 'p', planner: 't', microBatch: 1, stages: [{ layers: [0, 1] as [number, number], devices: ['a'] }, { layers: [1, 2] as [number, number], devices: ['b', 'c'] }, { layers: [2, 3] as [number, number], devices: ['d'] }] }

  it('a multi-chunk transfer ready a little early waits for its own planned start, cycle after cycle (one slot per transfer, not per chunk)', () => {
    const r = scheduleTransfers(plan, job, fleet, scheduledWifi5, { guardMs: 0.5 })
    if (!r.ok) throw new Error(r.reason)
    const s = r.schedule
    const C = s.cycleMs
    const T = s.periodMs
    const activateAtMs = 10_000
    // each device transfer's planned start: its first chunk's, from the micro-batch's release
    const planned = new Map<string, { from: string; to: string; sinceReleaseMs: number; m: number; chunks: number }>()
    for (const x of s.slots) {
      if (x.from === null) continue
      const key = `${x.microBatch}|${x.tensor.split('#')[0]}|${x.from}`
      const p = planned.get(key)
      if (!p) planned.set(key, { from: x.from, to: x.receiver ?? 'hub', sinceReleaseMs: x.sinceReleaseMs, m: x.microBatch, chunks: 1 })
      else planned.set(key, { ...p, sinceReleaseMs: Math.min(p.sinceReleaseMs, x.sinceReleaseMs), chunks: p.chunks + 1 })
    }
    expect(Math.max(...[...planned.values()].map((p) => p.chunks))).toBeGreaterThanOrEqual(3)
    // four cycles of transfers, each ready 1 ms before its planned start (its producer was quick), in time order
    const sends = [0, 1, 2, 3].flatMap((k) => [...planned.values()].map((p) => ({ ...p, at: activateAtMs + k * C + p.m * T + p.sinceReleaseMs })))
    sends.sort((x, y) => x.at - y.at)
    const gates = new Map<string, SlotGate>()
    for (const x of sends) {
      // as device-firmware-bridge/transfer-gate.ts: the device's published slots toward the receiver
      const mine = (s.byDevice[x.from] ?? []).filter((y) => y.to === x.to)
      const gate = gates.get(x.from) ?? gates.set(x.from, new SlotGate()).get(x.from)!
      const start = gate.take(`p/${x.to}`, x.at - 1, mine, C, activateAtMs)
      expect(start, `${x.from} -> ${x.to}, micro-batch ${x.m}, planned at ${x.at.toFixed(2)}`).toBeCloseTo(x.at, 6)
    }
  })
})
