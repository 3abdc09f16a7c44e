/**
 * The compute-time model both sides share: how long a device of a given profile takes for some
 * FLOPs. The planner costs stages with it (cost.ts stageComputeMs, the training replay's
 * backward); an emulated device waits until this time (dilation, device-firmware-bridge/runtime.ts).
 */
import type { DeviceProfile } from './device-profile.js'

export interface Flops {
  conv: number
  matmul: number
  elementwise: number
}

/**
 * A device's time for one run of a stage whose FLOPs per sample are `flops`, ms: the stage
 * overhead once, plus the work of `samples` samples (a micro-batch) times `passes` (a forward
 * pass is 1; a backward pass is 2, as the cost model counts). With the defaults: one request.
 */
export function flopsTimeMs(device: DeviceProfile, flops: Flops, samples = 1, passes = 1): number {
  const workMs = 1000 * (flops.conv / device.flopsPerSec.conv + flops.matmul / device.flopsPerSec.matmul + flops.elementwise / device.flopsPerSec.elementwise)
  return device.stageOverheadMs + passes * samples * workMs
}
