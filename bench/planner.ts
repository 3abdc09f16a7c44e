/**
 * Planner benchmarks on seeded random instances (device profiles are synthetic, i.e. emulation):
 * - quality: Dora's chosen plan against the exhaustive optimum on instances small enough to
 *   enumerate (2-4 devices, 2-6 layers), per goal;
 * - time: planning time against fleet size (4 to 64 devices) for a 24-layer profile.
 */
import { partition } from '../src/planner/partition.js'
import { exhaustivePlans } from '../src/planner/baselines/exhaustive.js'
import { WIFI5 } from '../src/planner/network/wifi.js'
import { seededRandom } from '../src/shared/random.js'
import type { Fleet, Network, DeviceProfile, Goal, ModelProfile } from '../src/planner/types.js'

export const net: Network = { standard: WIFI5, coordination: 'scheduled', availableAirtime: 1 }

export function instance(seed: number, devices: number, kinds: number, layers: number, scale = 1): { fleet: Fleet; model: ModelProfile } {
  const r = seededRandom(seed)
  const profiles = Array.from({ length: kinds }, () => ({ g: 2 + r() * 40, mem: 1e9 + r() * 8e9, idle: 1 + r() * 5, act: 6 + r() * 20, link: r() < 0.2 ? null : 30e6 + r() * 500e6, over: r() * 2 }))
  const fleet: Fleet = {
    devices: new Map(Array.from({ length: devices }, (_, i): [string, DeviceProfile] => {
      const k = profiles[i % kinds]!
      return [`d${i}`, { id: `d${i}`, kind: `k${i % kinds}`, emulated: true, flopsPerSec: { conv: k.g * 1e9, matmul: k.g * 1.2e9, elementwise: k.g * 0.3e9 }, stageOverheadMs: k.over, memoryBytes: k.mem, idleW: k.idle, activeW: k.act, txJPerByte: 1.9e-6, rxJPerByte: 0.42e-6, linkRateBps: k.link, battery: null }]
    })),
  }
  const model: ModelProfile = {
    name: 'random',
    layers: Array.from({ length: layers }, () => ({ flops: { conv: r() * 2e9 * scale, matmul: r() * 1e9 * scale, elementwise: r() * 1e8 * scale }, paramBytes: r() * 2e7 * scale, peakActivationBytes: r() * 3e6 })),
    boundaryBytes: Array.from({ length: layers + 1 }, () => 1e4 + r() * 2e6),
  }
  return { fleet, model }
}

export interface QualityRow { goal: Goal; instances: number; optimal: number; median: number; p90: number; worst: number }
export interface TimeRow { devices: number; kinds: number; layers: number; goal: Goal; ms: number; explored: number }

export function plannerQuality(count = 150): QualityRow[] {
  const rows: QualityRow[] = []
  for (const goal of ['latency', 'energy', 'throughput'] as const) {
    const ratios: number[] = []
    for (let seed = 1; seed <= count; seed++) {
      const nd = 2 + (seed % 3)
      const { fleet, model } = instance(seed * 7919, nd, nd, 2 + (seed % 5))
      const job = { id: 'j', model, rateRps: 0.5 + (seed % 4) * 0.5, qoe: { memoryFraction: 1 }, goal, sourceDevice: null }
      const all = exhaustivePlans(job, fleet, net, goal === 'throughput' ? [1, 4] : [1]).filter((c) => c.compliance.compliant)
      if (!all.length) continue
      const res = partition(job, fleet, { network: net })
      const metric = (p: { latencyMs: number; energyJPerRequest: number; capacityRps: number }) => (goal === 'latency' ? p.latencyMs : goal === 'energy' ? p.energyJPerRequest : 1 / p.capacityRps)
      ratios.push(res.ok ? metric(res.chosen.prediction) / Math.min(...all.map((c) => metric(c.prediction))) : Infinity)
    }
    ratios.sort((a, b) => a - b)
    rows.push({ goal, instances: ratios.length, optimal: ratios.filter((x) => x <= 1 + 1e-9).length, median: ratios[Math.floor(ratios.length / 2)]!, p90: ratios[Math.floor(ratios.length * 0.9)]!, worst: ratios[ratios.length - 1]! })
  }
  return rows
}

export function plannerTimes(log: (s: string) => void): TimeRow[] {
  const rows: TimeRow[] = []
  for (const [devices, kinds] of [[4, 4], [8, 4], [16, 4], [16, 8], [32, 6], [64, 6], [64, 12]] as const) {
    for (const goal of ['latency', 'throughput'] as const) {
      const { fleet, model } = instance(devices * 31 + kinds, devices, kinds, 24, 0.1)
      let ms = Infinity
      let res!: ReturnType<typeof partition>
      for (let k = 0; k < 3; k++) {
        const t = performance.now()
        res = partition({ id: 'j', model, rateRps: 5, qoe: {}, goal, sourceDevice: null }, fleet, { network: net })
        ms = Math.min(ms, performance.now() - t)
      }
      rows.push({ devices, kinds, layers: 24, goal, ms, explored: res.explored })
      log(`  planner ${devices} devices / ${kinds} kinds, ${goal}: ${ms.toFixed(0)} ms`)
    }
  }
  return rows
}

export interface ModelSizeRow { model: string; nodes: number; layers: number; profileMs: number; planMs: number; goal: Goal; metric: number; vsBest: number }

/**
 * Planner time and plan quality against model size: a zoo model profiled from its ONNX graph,
 * reduced to `maxLayers` candidate cuts (toModelProfile), then planned on a 16-device fleet
 * (synthetic profiles). The plan's goal metric is exact for the plan (costs add up across the
 * merged layers), so the reductions compare directly; vsBest = metric / the best over reductions.
 */
export async function plannerModelSizes(log: (s: string) => void): Promise<ModelSizeRow[]> {
  const { onnx } = await import('../src/model/onnx.js')
  const { zooModel } = await import('../src/model/zoo/index.js')
  const { profileModel } = await import('../src/model/load.js')
  const { toModelProfile } = await import('../src/planner/model-profile.js')
  const rows: ModelSizeRow[] = []
  for (const name of ['resnet18', 'distilbert', 'deep-chain']) {
    const bytes = onnx.ModelProto.encode(zooModel(name)!.build()).finish()
    const p = await profileModel(bytes, name, { batch: 1 })
    const outputs = (names: Array<string | null | undefined>) => names.reduce((s, n) => s + (p.shapes.values.get(n ?? '')?.bytes ?? 0), 0)
    const { fleet } = instance(16 * 31 + 8, 16, 8, 1)
    for (const goal of ['latency', 'throughput'] as const) {
      const group: ModelSizeRow[] = []
      for (const maxLayers of [24, 48, 96, 200]) {
        const t0 = performance.now()
        const model = toModelProfile({ name, costs: p.costs, cuts: p.cuts, inputBytes: outputs(p.graph.inputs.map((v) => v.name)), outputBytes: outputs(p.graph.outputs.map((v) => v.name)), batch: 1 }, maxLayers)
        const profileMs = performance.now() - t0
        if (maxLayers > 24 && model.layers.length <= group[group.length - 1]!.layers) continue
        const t = performance.now()
        const res = partition({ id: 'j', model, rateRps: 1, qoe: { memoryFraction: 1 }, goal, sourceDevice: null }, fleet, { network: net })
        const planMs = performance.now() - t
        const c = res.ok ? res.chosen.prediction : null
        const metric = c ? (goal === 'latency' ? c.latencyMs : c.capacityRps) : NaN
        group.push({ model: name, nodes: p.graph.nodes.length, layers: model.layers.length, profileMs, planMs, goal, metric, vsBest: 1 })
        log(`  ${name} in ${model.layers.length} layers, ${goal}: ${planMs.toFixed(0)} ms`)
      }
      const best = goal === 'latency' ? Math.min(...group.map((r) => r.metric)) : Math.max(...group.map((r) => r.metric))
      for (const r of group) r.vsBest = goal === 'latency' ? r.metric / best : best / r.metric
      rows.push(...group)
    }
  }
  return rows
}
