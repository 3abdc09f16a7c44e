import { describe, expect, it } from 'vitest'
import { mergeNearTypes, nearProfiles } from '../../src/planner/device-groups.js'
import { deviceTypes, partition, sourceFirstTypes } from '../../src/planner/partition.js'
import { predict } from '../../src/planner/cost.js'
import { fleet48, jitteredFleet48, job48, network48 } from '../../bench/fleet48.js'
import type { DeviceProfile, Fleet } from '../../src/planner/types.js'

const base = (): DeviceProfile => fleet48().devices.get('pi5-0')!
const scaled = (id: string, x: number, over: Partial<DeviceProfile> = {}): DeviceProfile => {
  const d = base()
  return { ...d, id, flopsPerSec: { conv: d.flopsPerSec.conv * x, matmul: d.flopsPerSec.matmul * x, elementwise: d.flopsPerSec.elementwise * x }, ...over }
}
const make = (index: number, ids: string[], rep: DeviceProfile) => ({ index, ids, rep })


describe('near-identical devices as one search type', () => {
  it('merges profiles within the tolerance only, never across link kinds or with a battery', () => {
    expect(nearProfiles(scaled('a', 1), scaled('b', 1.04), 0.05)).toBe(true)
    expect(nearProfiles(scaled('a', 1), scaled('b', 1.06), 0.05)).toBe(false)
    expect(nearProfiles(scaled('a', 1), scaled('b', 1, { linkRateBps: 3e8 }), 0.5)).toBe(false)
    expect(nearProfiles(scaled('a', 1), scaled('b', 1, { battery: { capacityWh: 10, levelPct: 90, minPct: 20 } }), 0.5)).toBe(false)
    expect(nearProfiles(scaled('a', 1), scaled('b', 1, { activeW: base().activeW * 1.2 }), 0.05)).toBe(false)
  })

  it('gives a merged type the worst figure of each member, its fastest member first', () => {
    const slow = scaled('slow', 0.98, { activeW: 7.2, memoryBytes: 7.9e9 })
    const fast = scaled('fast', 1.02, { stageOverheadMs: 1.04 })
    const types = mergeNearTypes(deviceTypes([slow, fast]), 0.05, make)
    expect(types).toHaveLength(1)
    expect(types[0]!.ids).toEqual(['fast', 'slow'])
    const rep = types[0]!.rep
    expect(rep.flopsPerSec.conv).toBe(slow.flopsPerSec.conv)
    expect(rep.stageOverheadMs).toBe(1.04)
    expect(rep.activeW).toBe(7.2)
    expect(rep.memoryBytes).toBe(7.9e9)
  })

  it('leaves identical profiles as before, and tolerance 0 is the exact grouping', () => {
    const devices = [...fleet48().devices.values()]
    expect(sourceFirstTypes(devices, [null], 0.05)).toEqual(sourceFirstTypes(devices, [null], 0))
    const near = [scaled('a', 1), scaled('b', 1.01), scaled('c', 1.02)]
    expect(sourceFirstTypes(near, [null], 0)).toHaveLength(3)
    expect(sourceFirstTypes(near, [null], 0.05)).toHaveLength(1)
    // a source stays a type of its own
    expect(sourceFirstTypes(near, ['b'], 0.05).map((t) => t.ids)).toEqual([['c', 'a'], ['b']])
  })

  it('costs the plans it returns with each device profile, and on jittered 48-device fleets finds plans as good (within 1%)', () => {
    for (const seed of [1, 2, 3]) {
      const fleet = jitteredFleet48(seed)
      for (const goal of ['energy', 'latency'] as const) {
        const job = { ...job48(), goal }
        const grouped = partition(job, fleet, { network: network48 })
        const exact = partition(job, fleet, { network: network48, groupTolerance: 0 })
        expect(grouped.ok && exact.ok).toBe(true)
        if (!grouped.ok || !exact.ok) continue
        for (const c of grouped.candidates) expect(c.prediction).toEqual(predict(c.plan, job, fleet, network48))
        const v = (p: typeof grouped.chosen.prediction) => (goal === 'energy' ? p.energyJPerRequest : p.latencyMs)
        expect(v(grouped.chosen.prediction)).toBeLessThanOrEqual(v(exact.chosen.prediction) * 1.01)
      }
    }
  }, 120_000)
})
