/**
 * Device profiles for the planner from what devices publish: caps (speeds, memory, power, link)
 * and the latest heartbeat (battery level). Pure.
 * - A wired device (ethernet) has no air hop: linkRateBps null. A Wi-Fi device's rate follows
 *   its measured throughput once heartbeats report one.
 * - Battery: capacity from caps; level from the latest heartbeat, else from caps.
 * - Fixed per-stage overhead and radio energy per byte are not in caps: the shared defaults
 *   (shared/device-profile.ts).
 */
import type { DeviceRecord } from '../registry/registry.js'
import { DEFAULT_RX_J_PER_BYTE, DEFAULT_STAGE_OVERHEAD_MS, DEFAULT_TX_J_PER_BYTE, type DeviceProfile } from '../shared/device-profile.js'
import { soloEfficiency, type WifiStandard } from '../planner/network/wifi.js'

/**
 * The link rate a device's measured throughput implies (heartbeats' EWMA over the efficiency of
 * a lone sender at its announced rate), or null before any measurement.
 */
export function measuredLinkRate(d: DeviceRecord, std?: WifiStandard): number | null {
  const m = d.measurements.linkThroughputBpsEwma
  if (!std || !d.caps || m === null || !(m > 0)) return null
  return m / soloEfficiency(std, d.caps.network.linkRateBps)
}

/**
 * `slowdown`: measured stage time over predicted (from heartbeats; 1 = as profiled). The device's
 * speeds are divided by it, so the planner sees the device as it measures.
 */
export function profileFromRecord(d: DeviceRecord, batteryMinPct: number, slowdown = 1, std?: WifiStandard): DeviceProfile | null {
  const c = d.caps
  if (!c) return null
  const f = c.compute.flopsPerSec
  const battery = c.power.battery
    ? { capacityWh: c.power.battery.capacityWh, levelPct: d.lastHeartbeat?.batteryPct ?? c.power.battery.levelPct, minPct: batteryMinPct }
    : null
  return {
    id: d.id,
    kind: c.kind,
    emulated: c.emulated,
    flopsPerSec: { conv: f.conv / slowdown, matmul: f.matmul / slowdown, elementwise: f.elementwise / slowdown },
    stageOverheadMs: DEFAULT_STAGE_OVERHEAD_MS * slowdown,
    memoryBytes: c.memory.totalBytes,
    idleW: c.power.idleW,
    activeW: c.power.activeW,
    txJPerByte: DEFAULT_TX_J_PER_BYTE,
    rxJPerByte: DEFAULT_RX_J_PER_BYTE,
    linkRateBps: c.network.interface === 'ethernet' ? null : measuredLinkRate(d, std) ?? c.network.linkRateBps,
    battery,
  }
}
