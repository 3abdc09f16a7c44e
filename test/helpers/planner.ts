/** Planner test fixtures: a uniform-speed device profile (emulation) and the Wi-Fi 5 network. */
import { WIFI5 } from '../../src/planner/network/wifi.js'
import { DEFAULT_TRANSPORT } from '../../src/planner/network/transport.js'
import type { Network, DeviceProfile, Fleet, ModelProfile, Plan } from '../../src/planner/types.js'

export const scheduledWifi5: Network = { standard: WIFI5, coordination: 'scheduled', availableAirtime: 1 }

/** Wi-Fi 5 with free wires and broker (no wired time, no relay): for textbook figures. */
export const freeWiresWifi5: Network = { ...scheduledWifi5, transport: { ...DEFAULT_TRANSPORT, wiredRateBps: Infinity, wiredLatencyMs: 0, brokerRelayMs: 0, brokerBps: Infinity } }

/** A device doing `gflops` GFLOP/s on every op class; 2 W idle, 6 W active, 400 Mbit/s Wi-Fi. */
export function testDevice(id: string, gflops: number, patch: Partial<DeviceProfile> = {}): DeviceProfile {
  return {
    id, kind: 'test', emulated: true, flopsPerSec: { conv: gflops * 1e9, matmul: gflops * 1e9, elementwise: gflops * 1e9 },
    stageOverheadMs: 0, memoryBytes: 4e9, idleW: 2, activeW: 6, txJPerByte: 0, rxJPerByte: 0, linkRateBps: 400e6, battery: null, ...patch,
  }
}

/**
 * Two conv layers (1.2 MB in, 0.8 MB between, 4 KB out) cut in two stages on devices a and b of
 * 20 GFLOP/s: a fleet where the transfers, not the compute, decide the transfer mode.
 */
export const twoStages: { readonly model: ModelProfile; readonly fleet: Fleet; readonly plan: Plan } = {
  model: {
    name: 'm', layers: [
      { flops: { conv: 4e8, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e6 },
      { flops: { conv: 4e8, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e6 },
    ], boundaryBytes: [1.2e6, 8e5, 4e3],
  },
  fleet: { devices: new Map(['a', 'b'].map((id) => [id, testDevice(id, 20)])) },
  plan: { id: 'p', planner: 't', microBatch: 1, stages: [{ layers: [0, 1], devices: ['a'] }, { layers: [1, 2], devices: ['b'] }] },
}
