/** What a device announces (its retained caps), from its profile. */
import os from 'node:os'
import { PROTOCOL_VERSION } from '../src/protocol/topics.js'
import type { Caps } from '../src/protocol/payloads.js'
import type { DeviceProfile } from '../src/shared/device-profile.js'

/** A device profile as caps (what a device announces). */
export function capsFromProfile(p: DeviceProfile): Caps {
  return {
    v: PROTOCOL_VERSION,
    deviceId: p.id,
    kind: p.kind,
    emulated: p.emulated,
    compute: { cores: os.availableParallelism(), flopsPerSec: { ...p.flopsPerSec }, accelerators: [] },
    memory: { totalBytes: p.memoryBytes, availableBytes: p.memoryBytes },
    power: { idleW: p.idleW, activeW: p.activeW, battery: p.battery ? { capacityWh: p.battery.capacityWh, levelPct: p.battery.levelPct, charging: false } : null },
    network: { linkRateBps: p.linkRateBps ?? 1e9, interface: p.linkRateBps === null ? 'ethernet' : 'wifi', standard: p.linkRateBps === null ? null : 'wifi5' },
    runtime: { dora: '0.1.0', onnxruntime: '1.30' },
  }
}
