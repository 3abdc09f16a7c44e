/** Emulated device profiles for tests that run real device agents. */
import type { DeviceProfile } from '../../src/planner/types.js'

/**
 * A small emulated board: 4 GFLOP/s, 50 MB of memory (ResNet-18's 47 MB of weights do not fit
 * one, so two must split it), a 200 Mbit/s link. `over` changes any figure.
 */
export function smallBoard(id: string, over: Partial<DeviceProfile> = {}): DeviceProfile {
  return {
    id, kind: 'emulated-board', emulated: true, flopsPerSec: { conv: 4e9, matmul: 4e9, elementwise: 1e9 }, stageOverheadMs: 1,
    memoryBytes: 5e7, idleW: 2, activeW: 6, txJPerByte: 5e-8, rxJPerByte: 5e-8, linkRateBps: 2e8, battery: null, ...over,
  }
}
