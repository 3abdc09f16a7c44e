import { describe, expect, it } from 'vitest'
import { partition } from '../../src/planner/partition.js'
import { exhaustivePlans } from '../../src/planner/baselines/exhaustive.js'
import { WIFI5 } from '../../src/planner/network/wifi.js'
import type { Fleet, Network, DeviceProfile, Job, ModelProfile } from '../../src/planner/types.js'
import { seededRandom } from '../../src/shared/random.js'

const net: Network = { standard: WIFI5, coordination: 'scheduled', availableAirtime: 1 }

function randomInstance(seed: number, devices: number, layers: number) {
  const r = seededRandom(seed)
  const fleet: Fleet = {
    devices: new Map(
      Array.from({ length: devices }, (_, i): [string, DeviceProfile] => {
        const g = 2 + r() * 40
        return [`d${i}`, {
          id: `d${i}`, kind: `k${i}`, emulated: true, flopsPerSec: { conv: g * 1e9, matmul: g * 1.2e9, elementwise: g * 0.3e9 },
          stageOverheadMs: r() * 2, memoryBytes: 1e9 + r() * 4e9, idleW: 1 + r() * 5, activeW: 6 + r() * 20, txJPerByte: 1.9e-6, rxJPerByte: 0.42e-6,
          linkRateBps: r() < 0.2 ? null : 30e6 + r() * 500e6, battery: null,
        }]
      }),
    ),
  }
  const model: ModelProfile = {
    name: 'random',
    layers: Array.from({ length: layers }, () => ({ flops: { conv: r() * 2e9, matmul: r() * 1e9, elementwise: r() * 1e8 }, paramBytes: r() * 2e7, peakActivationBytes: r() * 3e6 })),
    boundaryBytes: Array.from({ length: layers + 1 }, () => 1e4 + r() * 2e6),
  }
  return { fleet, model }
}

describe("Dora's partitioner", () => {
  it('on 80 small random instances matches the exhaustive optimum in most, and stays within 15% in all (latency, energy)', () => {
    for (const goal of ['latency', 'energy'] as const) {
      const ratios: number[] = []
      for (let seed = 1; seed <= 80; seed++) {
        const { fleet, model } = randomInstance(seed * 104729, 2 + (seed % 2), 2 + (seed % 5))
        const job: Job = { id: 'j', model, rateRps: 0.5 + (seed % 3) * 0.5, qoe: { memoryFraction: 1 }, goal, sourceDevice: null }
        const all = exhaustivePlans(job, fleet, net).filter((c) => c.compliance.compliant)
        const res = partition(job, fleet, { network: net })
        expect(res.ok).toBe(all.length > 0)
        if (!res.ok || all.length === 0) continue
        const metric = (c: (typeof all)[number]) => (goal === 'latency' ? c.prediction.latencyMs : c.prediction.energyJPerRequest)
        ratios.push(metric(res.chosen) / Math.min(...all.map(metric)))
      }
      expect(ratios.length).toBeGreaterThan(60)
      expect(Math.max(...ratios)).toBeLessThanOrEqual(1.15)
      expect(ratios.filter((r) => r <= 1 + 1e-9).length / ratios.length).toBeGreaterThanOrEqual(0.85)
    }
    // every enumerated plan judged as it will run (exhaustive.ts: judgeAsRun, each transfer mode predicted)
  }, 240_000)

  it('returns a compact Pareto front of compliant plans, and says why when nothing complies', () => {
    const { fleet, model } = randomInstance(42, 5, 12)
    const job: Job = { id: 'j', model, rateRps: 1, qoe: {}, goal: 'latency', sourceDevice: null }
    const res = partition(job, fleet, { network: net })
    expect(res.ok).toBe(true)
    if (res.ok) {
      expect(res.candidates.length).toBeGreaterThan(0)
      expect(res.candidates.length).toBeLessThanOrEqual(6)
      for (const c of res.candidates) expect(c.compliance.compliant).toBe(true)
      const lat = res.candidates.map((c) => c.prediction.latencyMs)
      const en = res.candidates.map((c) => c.prediction.energyJPerRequest)
      for (let i = 1; i < lat.length; i++) {
        expect(lat[i]!).toBeGreaterThanOrEqual(lat[i - 1]!)
        expect(en[i]!).toBeLessThan(en[i - 1]!)
      }
    }
    const impossible = partition({ ...job, qoe: { latencyMs: 0.001 } }, fleet, { network: net })
    expect(impossible.ok).toBe(false)
    if (!impossible.ok) expect(impossible.reasons.join('; ')).toMatch(/latencyMs: predicted .*, bound 0.001/)
  })

  it('uses replicas when the throughput goal needs them', () => {
    const dev = (id: string): DeviceProfile => ({ id, kind: 'cam', emulated: true, flopsPerSec: { conv: 5e9, matmul: 5e9, elementwise: 5e9 }, stageOverheadMs: 0, memoryBytes: 4e9, idleW: 1, activeW: 3, txJPerByte: 0, rxJPerByte: 0, linkRateBps: 400e6, battery: null })
    const fleet: Fleet = { devices: new Map(['a', 'b', 'c', 'd'].map((id) => [id, dev(id)])) }
    const model: ModelProfile = { name: 'one', layers: [{ flops: { conv: 1e9, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e5 }], boundaryBytes: [1e4, 1e3] }
    const res = partition({ id: 'j', model, rateRps: 12, qoe: { throughputRps: 12 }, goal: 'throughput', sourceDevice: null }, fleet, { network: net })
    expect(res.ok).toBe(true)
    if (res.ok) expect(res.chosen.plan.stages[0]!.devices.length).toBeGreaterThanOrEqual(3)
  })

  it('never places a stage on a device whose battery is under its cap', () => {
    const { fleet, model } = randomInstance(7, 3, 4)
    const phone = { ...fleet.devices.get('d0')!, flopsPerSec: { conv: 1e12, matmul: 1e12, elementwise: 1e12 }, battery: { capacityWh: 15, levelPct: 10, minPct: 20 } }
    const f: Fleet = { devices: new Map([...fleet.devices, ['d0', phone]]) }
    const res = partition({ id: 'j', model, rateRps: 0.5, qoe: {}, goal: 'latency', sourceDevice: null }, f, { network: net })
    expect(res.ok).toBe(true)
    if (res.ok) for (const c of res.candidates) expect(c.plan.stages.flatMap((s) => s.devices)).not.toContain('d0')
  })
})
