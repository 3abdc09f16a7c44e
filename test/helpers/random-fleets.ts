/**
 * Seeded random fleets, jobs and plans for property tests and benches (emulation): wired and
 * Wi-Fi devices of speeds spanning two orders of magnitude, one or several sources (some of them
 * devices that run stages), synthetic models whose activations shrink or grow, and random plans
 * with replicas and local first stages.
 */
import { seededRandom } from '../../src/shared/random.js'
import { WIFI5 } from '../../src/planner/network/wifi.js'
import type { Fleet, Network, DeviceProfile, Job, ModelProfile, Plan } from '../../src/planner/types.js'

export interface RandomCase {
  readonly fleet: Fleet
  readonly job: Job
  readonly network: Network
}

export const grantedWifi5: Network = { standard: WIFI5, coordination: 'scheduled', availableAirtime: 1 }

/** A random fleet of 3-9 devices and an inference job with 1-4 sources. */
export function randomCase(seed: number, opts: { training?: boolean } = {}): RandomCase {
  const rand = seededRandom(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
  const n = 3 + Math.floor(rand() * 7)
  const devices: DeviceProfile[] = Array.from({ length: n }, (_, i) => {
    const gflops = 10 ** (0.7 + rand() * 2) // 5 .. 500 GFLOP/s
    const wired = rand() < 0.3
    return {
      id: `d${i}`, kind: `k${i}`, emulated: true,
      flopsPerSec: { conv: gflops * 1e9, matmul: gflops * 1.2e9, elementwise: gflops * 0.2e9 },
      stageOverheadMs: 0.5 + rand() * 3, memoryBytes: 2e9 + rand() * 14e9,
      idleW: 0.5 + rand() * 8, activeW: 4 + rand() * 20, txJPerByte: 1.9e-6 * rand(), rxJPerByte: 0.42e-6 * rand(),
      linkRateBps: wired ? null : pick([1.5e8, 3e8, 4.33e8, 6e8, 8.66e8]), battery: null,
    }
  })
  const L = 4 + Math.floor(rand() * 6)
  const inputBytes = pick([1.5e5, 6e5, 1.2e6])
  const boundaryBytes = [inputBytes]
  for (let i = 1; i < L; i++) boundaryBytes.push(Math.round(boundaryBytes[i - 1]! * (0.3 + rand() * 1.2)))
  boundaryBytes.push(pick([2.4e3, 4e4]))
  const totalGflop = 0.5 + rand() * 8
  const w = Array.from({ length: L }, () => 0.2 + rand())
  const sw = w.reduce((a, x) => a + x, 0)
  const model: ModelProfile = {
    name: `m${seed}`,
    layers: w.map((x) => ({ flops: { conv: (x / sw) * totalGflop * 1e9 * 0.8, matmul: (x / sw) * totalGflop * 1e9 * 0.15, elementwise: (x / sw) * totalGflop * 1e9 * 0.05 }, paramBytes: 1e6 + rand() * 2e7, peakActivationBytes: 1e6 })),
    boundaryBytes,
  }
  const nSources = opts.training ? 1 : pick([1, 1, 2, 3, 4])
  const sourceDevs = [...devices].sort(() => rand() - 0.5).slice(0, nSources).map((d) => (rand() < 0.15 && nSources === 1 ? null : d.id))
  const shares = sourceDevs.map(() => 0.5 + rand())
  const st = shares.reduce((a, x) => a + x, 0)
  const job: Job = {
    id: 'j', model, rateRps: 1, qoe: {}, goal: 'latency', sourceDevice: nSources === 1 ? sourceDevs[0]! : null,
    ...(nSources > 1 ? { sources: sourceDevs.map((d, k) => ({ device: d, share: shares[k]! / st })) } : {}),
    ...(opts.training ? { training: { microBatchesPerStep: 4, optimizerStateFactor: 2 } } : {}),
  }
  return { fleet: { devices: new Map(devices.map((d) => [d.id, d])) }, job, network: grantedWifi5 }
}

/**
 * A random plan on the case's devices: 1-4 stages, replicas, sometimes a local first stage.
 * Micro-batches of 1 (85%) or 2; with `maxMicroBatch`, 1..maxMicroBatch evenly, drawn from a
 * stream of their own (the stages are the same plan's either way).
 */
export function randomPlan(c: RandomCase, seed: number, opts: { maxMicroBatch?: number } = {}): Plan {
  const rand = seededRandom(seed ^ 0x3c6ef372)
  const L = c.job.model.layers.length
  const ids = [...c.fleet.devices.keys()].sort(() => rand() - 0.5)
  const S = Math.min(L, 1 + Math.floor(rand() * 4), ids.length)
  const cuts = new Set<number>()
  while (cuts.size < S - 1) cuts.add(1 + Math.floor(rand() * (L - 1)))
  const bounds = [0, ...[...cuts].sort((a, b) => a - b), L]
  const sources = (c.job.sources ?? [{ device: c.job.sourceDevice }]).map((s) => s.device).filter((d): d is string => d !== null)
  let pool = ids.slice()
  const stages = bounds.slice(0, -1).map((start, k) => {
    let devices: string[]
    if (k === 0 && sources.length && sources.length <= ids.length - (S - 1) && rand() < 0.35) devices = sources.filter((s) => pool.includes(s))
    else devices = []
    if (!devices.length) {
      const left = pool.length - (S - 1 - k)
      const r = Math.max(1, Math.min(left, rand() < 0.6 ? 1 : 1 + Math.floor(rand() * 3)))
      devices = pool.slice(0, r)
    }
    pool = pool.filter((d) => !devices.includes(d))
    return { layers: [start, bounds[k + 1]!] as [number, number], devices }
  })
  let microBatch = rand() < 0.15 ? 2 : 1
  if (opts.maxMicroBatch) microBatch = 1 + Math.floor(seededRandom(seed ^ 0x5bd1e995)() * opts.maxMicroBatch)
  return { id: `p${seed}`, planner: 'random', microBatch, stages }
}
