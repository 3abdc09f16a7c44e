/**
 * A large fleet for scale checks (emulation): 48 devices of six kinds (hub, laptops, TVs, phones,
 * Jetson-class boxes, Pi-class boards; wired and Wi-Fi) and a 12-layer transformer encoder
 * (BERT-base-like: hidden 768, sequence 128, about 11 GFLOPs a request, 85 M parameters).
 */
import { WIFI5 } from '../src/planner/network/wifi.js'
import { seededRandom } from '../src/shared/random.js'
import type { DeviceProfile, Fleet, Job, ModelProfile, Network } from '../src/planner/types.js'

const KINDS = [
  { kind: 'pi5', gflops: 26, idleW: 2.7, activeW: 7, link: null, mem: 8e9, n: 12 },
  { kind: 'laptop', gflops: 150, idleW: 5, activeW: 22, link: 6e8, mem: 16e9, n: 8 },
  { kind: 'tv', gflops: 13, idleW: 1.5, activeW: 8, link: 3e8, mem: 2e9, n: 8 },
  { kind: 'phone', gflops: 40, idleW: 0.5, activeW: 5, link: 4.33e8, mem: 6e9, n: 10 },
  { kind: 'orin', gflops: 400, idleW: 2.2, activeW: 15, link: null, mem: 8e9, n: 4 },
  { kind: 'nas', gflops: 30, idleW: 10, activeW: 18, link: null, mem: 4e9, n: 6 },
] as const

export function fleet48(): Fleet {
  const devices: DeviceProfile[] = []
  for (const k of KINDS) for (let i = 0; i < k.n; i++) {
    devices.push({
      id: `${k.kind}-${i}`, kind: k.kind, emulated: true, flopsPerSec: { conv: k.gflops * 1e9, matmul: k.gflops * 1.2e9, elementwise: k.gflops * 0.2e9 },
      stageOverheadMs: 1, memoryBytes: k.mem, idleW: k.idleW, activeW: k.activeW, txJPerByte: 1.9e-6, rxJPerByte: 0.42e-6, linkRateBps: k.link, battery: null,
    })
  }
  return { devices: new Map(devices.map((d) => [d.id, d])) }
}

export function encoder12(): ModelProfile {
  const act = 128 * 768 * 4
  const layer = { flops: { conv: 0, matmul: 0.9e9, elementwise: 0.05e9 }, paramBytes: 7.1e6 * 4, peakActivationBytes: 128 * 3072 * 4 }
  return { name: 'encoder-12', layers: Array.from({ length: 12 }, () => layer), boundaryBytes: [128 * 8, ...Array(11).fill(act), 128 * 768 * 4] }
}

export function job48(): Job {
  return { id: 'encoder', model: encoder12(), rateRps: 20, qoe: { latencyMs: 250, p95LatencyMs: 500 }, goal: 'energy', sourceDevice: null }
}

export const network48: Network = { standard: WIFI5, coordination: 'scheduled', availableAirtime: 1 }

/** fleet48 with each device's speeds drawn 0.8-1.2x its kind's (seeded), as measured caps are: no two alike. */
export function jitteredFleet48(seed: number): Fleet {
  const r = seededRandom(seed)
  const devices = [...fleet48().devices.values()].map((d) => {
    const x = 0.8 + 0.4 * r()
    return { ...d, flopsPerSec: { conv: d.flopsPerSec.conv * x, matmul: d.flopsPerSec.matmul * x, elementwise: d.flopsPerSec.elementwise * x } }
  })
  return { devices: new Map(devices.map((d) => [d.id, d])) }
}
