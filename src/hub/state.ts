/** The hub's JSON state summary for dashboards (topics.md § Hub state). Pure. */
import type { DeviceRecord } from '../registry/registry.js'
import { PROTOCOL_VERSION } from '../protocol/topics.js'

export interface HubState {
  v: typeof PROTOCOL_VERSION
  hubId: string
  status: 'online' | 'offline'
  startedAt: string
  updatedAt: string
  broker: { embedded: boolean; url: string }
  counts: { total: number; online: number; offline: number; emulated: number }
  devices: Array<{
    id: string
    kind: string | null
    emulated: boolean | null
    status: 'online' | 'offline'
    lastSeenAgoMs: number
    load: number | null
    batteryPct: number | null
    linkThroughputBps: number | null
    epoch: number | null
  }>
}

export function buildHubState(args: {
  hubId: string
  status: 'online' | 'offline'
  startedMs: number
  nowMs: number
  broker: { embedded: boolean; url: string }
  devices: readonly DeviceRecord[]
}): HubState {
  const devices = args.devices.map((d) => ({
    id: d.id,
    kind: d.caps?.kind ?? null,
    emulated: d.caps?.emulated ?? null,
    status: d.status,
    lastSeenAgoMs: Math.max(0, args.nowMs - d.lastSeenMs),
    load: d.lastHeartbeat?.load ?? null,
    batteryPct: d.lastHeartbeat?.batteryPct ?? d.caps?.power.battery?.levelPct ?? null,
    linkThroughputBps: d.measurements.linkThroughputBpsEwma,
    epoch: d.lastHeartbeat?.epoch ?? null,
  }))
  const online = devices.filter((d) => d.status === 'online').length
  return {
    v: PROTOCOL_VERSION,
    hubId: args.hubId,
    status: args.status,
    startedAt: new Date(args.startedMs).toISOString(),
    updatedAt: new Date(args.nowMs).toISOString(),
    broker: args.broker,
    counts: { total: devices.length, online, offline: devices.length - online, emulated: devices.filter((d) => d.emulated).length },
    devices,
  }
}
