/** Planner test fixtures: a uniform-speed device profile (emulation) and the Wi-Fi 5 network. */
import { WIFI5 } from '../../src/planner/network/wifi.js'
import { DEFAULT_TRANSPORT } from '../../src/planner/network/transport.js'
import type { Network, DeviceProfile } from '../../src/planner/types.js'

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
