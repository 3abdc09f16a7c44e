/** A three-device fleet (fast, frugal, spare) and a small job, for the adapter and the dynamics tests. */
import type { Fleet, DeviceProfile, Job, ModelProfile } from '../../src/planner/types.js'
import { scheduledWifi5, testDevice } from './planner.js'

export const model: ModelProfile = {
  name: 'm', layers: Array.from({ length: 4 }, () => ({ flops: { conv: 1e9, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e5 })),
  boundaryBytes: [2e5, 1e5, 1e5, 1e5, 1e3],
}
export const devices: DeviceProfile[] = [
  testDevice('fast', 100, { activeW: 30, idleW: 5 }),
  testDevice('frugal', 30, { activeW: 4, idleW: 1 }),
  testDevice('spare', 50, { activeW: 10, idleW: 2 }),
]
export const fleetOf = (ids: string[]): Fleet => ({ devices: new Map(devices.filter((d) => ids.includes(d.id)).map((d) => [d.id, d])) })
export const job: Job = { id: 'j', model, rateRps: 2, qoe: { latencyMs: 200 }, goal: 'energy', sourceDevice: null }
export const inputs = (ids: string[]) => ({ job, fleet: fleetOf(ids), network: scheduledWifi5 })
