/** The network scheduler: timed slots on the shared air (issue 5). */
import { describe, expect, it } from 'vitest'
import { scheduleTransfers, type Schedule } from '../../src/planner/network/scheduler.js'
import { CyclicTimeline } from '../../src/planner/network/slots.js'
import type { Fleet, Job, ModelProfile, Plan } from '../../src/planner/types.js'
import { scheduledWifi5, testDevice } from '../helpers/planner.js'

const model: ModelProfile = {
  name: 'm', layers: [
    { flops: { conv: 4e8, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e6 },
    { flops: { conv: 4e8, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e6 },
    { flops: { conv: 4e8, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e6 },
  ], boundaryBytes: [1.2e6, 8e5, 6e5, 4e3],
}
const fleet: Fleet = { devices: new Map(['a', 'b', 'c', 'd'].map((id) => [id, testDevice(id, 20)])) }
const job = (patch: Partial<Job> = {}): Job => ({ id: 'j', model, rateRps: 5, qoe: {}, goal: 'latency', sourceDevice: null, ...patch })
const plan: Plan = { id: 'p', planner: 't', microBatch: 1, stages: [{ layers: [0, 1], devices: ['a'] }, { layers: [1, 2], devices: ['b', 'c'] }, { layers: [2, 3], devices: ['d'] }] }

function schedule(j = job(), p = plan, chunkBytes = 256 * 1024): Schedule {
  const r = scheduleTransfers(p, j, fleet, scheduledWifi5, { chunkBytes, guardMs: 0.5, epochStartMs: 1_000 })
  if (!r.ok) throw new Error(r.reason)
  return r.schedule
}

describe('network scheduler', () => {
  it('no two slots overlap on the air within the cycle, guards included', () => {
    const s = schedule()
    const C = s.cycleMs
    // a hop's chunks go back to back; the guard follows its last chunk
    const base = (x: { tensor: string }) => x.tensor.split('#')[0]
    const last = (x: (typeof s.slots)[number]) => !s.slots.some((y) => y.microBatch === x.microBatch && y.hop === x.hop && y.from === x.from && base(y) === base(x) && y.sinceReleaseMs > x.sinceReleaseMs)
    const pieces = s.slots.flatMap((x) => {
      const end = x.offsetMs + x.durationMs + (last(x) ? s.guardMs : 0)
      return end <= C ? [[x.offsetMs, end]] : [[x.offsetMs, C], [0, end - C]]
    }).sort((a, b) => a[0]! - b[0]!)
    for (let i = 1; i < pieces.length; i++) expect(pieces[i]![0]!).toBeGreaterThanOrEqual(pieces[i - 1]![1]! - 1e-6)
    expect(s.airShare).toBeLessThanOrEqual(1)
    expect(s.epochStartMs).toBe(1_000)
  })

  it('rotates micro-batches over the replicas and keeps every transfer after its producer', () => {
    const s = schedule()
    expect(s.microBatchesPerCycle).toBe(2)
    expect(s.routes.map((r) => r.replicas[1])).toEqual(['b', 'c'])
    for (let m = 0; m < s.microBatchesPerCycle; m++) {
      const mine = s.slots.filter((x) => x.microBatch === m)
      // per chunk, the access point's hop follows the sender's hop
      for (const x of mine.filter((y) => y.hop === 1)) {
        const first = mine.find((y) => y.tensor === x.tensor && y.hop === 0)
        if (first) expect(x.sinceReleaseMs).toBeGreaterThanOrEqual(first.sinceReleaseMs + first.durationMs + s.guardMs - 1e-6)
      }
      // results leave only after every activation arrived
      const lastAct = Math.max(...mine.filter((y) => y.tensor.startsWith('act@2')).map((y) => y.sinceReleaseMs + y.durationMs))
      const firstOut = Math.min(...mine.filter((y) => y.tensor.startsWith('output')).map((y) => y.sinceReleaseMs))
      expect(firstOut).toBeGreaterThan(lastAct)
    }
  })

  it('splits large tensors into chunks of at most chunkBytes, back to back; a sender gets one slot per transfer', () => {
    const s = schedule(job(), plan, 100_000)
    const input = s.slots.filter((x) => x.microBatch === 0 && x.tensor.startsWith('input#'))
    expect(input.length).toBe(Math.ceil(1.2e6 / 100_000))
    expect(Math.max(...s.slots.map((x) => x.bytes))).toBeLessThanOrEqual(100_000)
    expect(Object.keys(s.byDevice).sort()).toEqual(['a', 'b', 'c', 'd', 'hub'])
    for (const list of Object.values(s.byDevice)) for (let i = 1; i < list.length; i++) expect(list[i]!.offsetMs).toBeGreaterThanOrEqual(list[i - 1]!.offsetMs)
    // a's activation for micro-batch 0 (to b): 8 chunks, each starting where the one before ended (a device sends them so)
    const act = s.slots.filter((x) => x.microBatch === 0 && x.from === 'a' && x.tensor.startsWith('act@1#')).sort((x, y) => x.sinceReleaseMs - y.sinceReleaseMs)
    expect(act).toHaveLength(8)
    for (let i = 1; i < act.length; i++) expect(act[i]!.sinceReleaseMs).toBeCloseTo(act[i - 1]!.sinceReleaseMs + act[i - 1]!.durationMs, 9)
    // ... published as one slot: the first chunk's start, every chunk's air time and bytes
    const mine = s.byDevice['a']!.filter((x) => x.to === 'b')
    expect(mine).toHaveLength(1)
    expect(mine[0]).toMatchObject({ tensor: 'act@1', bytes: 8e5 })
    expect(mine[0]!.offsetMs).toBeCloseTo(act[0]!.sinceReleaseMs, 9)
    expect(mine[0]!.durationMs).toBeCloseTo(act.reduce((a, x) => a + x.durationMs, 0), 9)
  })

  it("a device's slots name the transfer's receiving device (topics.md: `to`), not the access point it sends to", () => {
    const s = schedule()
    // stage 0 on a sends to stage 1's replicas b and c; they send to d; d's results go to the hub
    expect(new Set(s.byDevice['a']!.map((x) => x.to))).toEqual(new Set(['b', 'c']))
    expect(new Set(s.byDevice['b']!.map((x) => x.to))).toEqual(new Set(['d']))
    expect(new Set(s.byDevice['d']!.map((x) => x.to))).toEqual(new Set(['hub']))
    expect(new Set(s.byDevice['hub']!.map((x) => x.to))).toEqual(new Set(['a', 'b', 'c', 'd']))
  })

  it('a throughput goal gets the shortest period; a load the plan cannot carry is refused with a reason', () => {
    const fast = schedule(job({ goal: 'throughput' }))
    const slow = schedule(job({ goal: 'latency', rateRps: 1 }))
    expect(fast.periodMs).toBeLessThanOrEqual(slow.periodMs)
    const r = scheduleTransfers(plan, job({ rateRps: 500 }), fleet, scheduledWifi5)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.reason).toMatch(/offered load needs a period under .* ms/)
  })

  it('a cyclic timeline finds gaps across the cycle boundary and refuses what cannot fit', () => {
    const t = new CyclicTimeline(10)
    t.hold(2, 6) // busy [2, 8)
    expect(t.earliest(0, 2)).toBe(0)
    expect(t.earliest(1, 2)).toBe(8) // [8, 10) is free
    expect(t.earliest(9, 3)).toBe(9) // wraps: [9, 10) and [0, 2) of the next cycle are free
    expect(t.earliest(9, 4)).toBe(18) // [0, 3) of the next cycle clashes with [2, 8): after it, at 18
    expect(t.earliest(0, 5)).toBeNull()
  })
})

describe('simulating the slots (emulation)', () => {
  it('the simulator following the slots measures what the schedule predicts, and no request is lost', async () => {
    const { simulate } = await import('../../src/sim/simulate.js')
    const j = job({ rateRps: 3 })
    const s = schedule(j)
    const r = simulate(plan, j, fleet, scheduledWifi5, { durationS: 600, warmupS: 10, seed: 4, computeJitter: 0.02, schedule: s })
    expect(r.completed).toBe(r.requests)
    const predicted = s.latencyMs + s.waitMs
    expect(r.latencyMs / predicted).toBeGreaterThan(0.8)
    expect(r.latencyMs / predicted).toBeLessThan(1.25)
  })
})

describe('training schedule', () => {
  it('one step is the cycle: activations, gradients and the all-reduce each get a slot, none overlapping', () => {
    const tj = job({ goal: 'throughput', training: { microBatchesPerStep: 4, optimizerStateFactor: 2 } })
    const r = scheduleTransfers(plan, tj, fleet, scheduledWifi5)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    const s = r.schedule
    expect(s.microBatchesPerCycle).toBe(4)
    const tensors = new Set(s.slots.map((x) => x.tensor.split('#')[0]!.split(':')[0]))
    expect(tensors).toEqual(new Set(['input', 'act@1', 'act@2', 'grad@1', 'grad@2', 'allreduce@1']))
    const sorted = [...s.slots].sort((a, b) => a.offsetMs - b.offsetMs)
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.offsetMs).toBeGreaterThanOrEqual(sorted[i - 1]!.offsetMs + sorted[i - 1]!.durationMs - 1e-6)
    expect(s.cycleMs).toBeGreaterThan(0)
    // activations go forward and gradients back, each slot toward the stage device that receives it
    const to = (from: string, kind: string) => new Set(s.byDevice[from]!.filter((x) => x.tensor.startsWith(kind)).map((x) => x.to))
    expect(to('a', 'act@1')).toEqual(new Set(['b', 'c']))
    expect(to('d', 'grad@2')).toEqual(new Set(['b', 'c']))
    expect(to('b', 'grad@1')).toEqual(new Set(['a']))
  })
})
