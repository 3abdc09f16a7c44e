/**
 * The compute-time model both sides share: how long a device of a given profile takes for some
 * FLOPs. The planner costs stages with it; an emulated device waits until this time (dilation).
 */
import type { DeviceProfile } from './device-profile.js'

export interface Flops {
  conv: number
  matmul: number
  elementwise: number
}

/** A device's time for a request of `flops` (a stage as an emulated device runs it): overhead + work, ms. */
export function flopsTimeMs(device: DeviceProfile, flops: Flops): number {
  return device.stageOverheadMs + 1000 * (flops.conv / device.flopsPerSec.conv + flops.matmul / device.flopsPerSec.matmul + flops.elementwise / device.flopsPerSec.elementwise)
}
