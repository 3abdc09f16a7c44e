/**
 * The fleet as the hub sees it. Pure state plus events: the caller passes the time (`nowMs`), the
 * service shell feeds it MQTT messages and runs `sweep` on a schedule. A bad payload is refused
 * with a reason and leaves the registry exactly as it was.
 *
 * Liveness: a device is online once it has published caps and is not known to be gone; it goes
 * offline on its `offline` availability (its MQTT last will) or when no heartbeat arrived for
 * `heartbeatTimeoutMs`. An empty retained caps payload removes the device.
 */
import { EventEmitter } from 'node:events'
import { decodeCbor } from '../protocol/codec.js'
import { CBOR_BUDGETS, DEVICE_MESSAGE_MAX_BYTES } from '../protocol/cbor-budgets.js'
import { capsSchema, heartbeatSchema, validate, type Caps, type Heartbeat } from '../protocol/payloads.js'
import { AVAILABILITY } from '../protocol/topics.js'
import { ErrorCodes, type ErrorCode } from '../errors.js'

export type DeviceStatus = 'online' | 'offline'
export type LeaveReason = 'last-will' | 'offline-announced' | 'heartbeat-timeout' | 'removed'

export interface Measurements {
  heartbeats: number
  /** Heartbeats missing from the sequence (seq gaps) since the device joined. */
  missedHeartbeats: number
  /** Exponentially weighted means (alpha 0.3) of heartbeat figures; null until seen. */
  loadEwma: number | null
  linkThroughputBpsEwma: number | null
  /** Device clock minus hub clock at the last heartbeat, ms (transit delay included). */
  clockOffsetMs: number | null
}

export interface DeviceRecord {
  readonly id: string
  readonly caps: Caps | null
  readonly status: DeviceStatus
  readonly lastSeenMs: number
  readonly lastHeartbeat: Heartbeat | null
  readonly measurements: Measurements
}

export type RegistryEvent =
  | { type: 'joined'; device: DeviceRecord }
  | { type: 'left'; device: DeviceRecord; reason: LeaveReason }
  | { type: 'changed'; device: DeviceRecord; what: 'caps' | 'battery' | 'measurements' }

export type Outcome = { ok: true } | { ok: false; code: ErrorCode; error: string }

interface RegistryEvents {
  event: [RegistryEvent]
}

const EWMA_ALPHA = 0.3
const ewma = (prev: number | null, x: number) => (prev === null ? x : prev + EWMA_ALPHA * (x - prev))

export class Registry extends EventEmitter<RegistryEvents> {
  private readonly devices = new Map<string, DeviceRecord>()

  constructor(private readonly options: { heartbeatTimeoutMs: number }) {
    super()
  }

  get(id: string): DeviceRecord | undefined {
    return this.devices.get(id)
  }

  snapshot(): DeviceRecord[] {
    return [...this.devices.values()].sort((a, b) => a.id.localeCompare(b.id))
  }

  online(): DeviceRecord[] {
    return this.snapshot().filter((d) => d.status === 'online' && d.caps !== null)
  }

  handleCaps(deviceId: string, payload: Uint8Array, nowMs: number): Outcome {
    if (payload.byteLength === 0) {
      const existing = this.devices.get(deviceId)
      if (existing) {
        this.devices.delete(deviceId)
        if (existing.status === 'online') this.emitEvent({ type: 'left', device: { ...existing, status: 'offline' }, reason: 'removed' })
      }
      return { ok: true }
    }
    const decoded = decodeCbor(payload, CBOR_BUDGETS.caps)
    if (!decoded.ok) return decoded
    const checked = validate(capsSchema, decoded.value)
    if (!checked.ok) return { ok: false, code: checked.version ? ErrorCodes.PAYLOAD_VERSION : ErrorCodes.PAYLOAD_INVALID, error: `caps: ${checked.error}` }
    const caps = checked.value
    if (caps.deviceId !== deviceId) {
      return { ok: false, code: ErrorCodes.DEVICE_ID_MISMATCH, error: `caps: deviceId ${JSON.stringify(caps.deviceId)} does not match the topic's device id ${JSON.stringify(deviceId)}` }
    }
    const existing = this.devices.get(deviceId)
    const record: DeviceRecord = {
      id: deviceId,
      caps,
      status: 'online',
      lastSeenMs: nowMs,
      lastHeartbeat: existing?.lastHeartbeat ?? null,
      measurements: existing?.measurements ?? freshMeasurements(),
    }
    this.devices.set(deviceId, record)
    if (!existing || existing.status === 'offline' || existing.caps === null) this.emitEvent({ type: 'joined', device: record })
    else this.emitEvent({ type: 'changed', device: record, what: 'caps' })
    return { ok: true }
  }

  handleHeartbeat(deviceId: string, payload: Uint8Array, nowMs: number): Outcome {
    const decoded = decodeCbor(payload, CBOR_BUDGETS.heartbeat)
    if (!decoded.ok) return decoded
    const checked = validate(heartbeatSchema, decoded.value)
    if (!checked.ok) return { ok: false, code: checked.version ? ErrorCodes.PAYLOAD_VERSION : ErrorCodes.PAYLOAD_INVALID, error: `heartbeat: ${checked.error}` }
    const hb = checked.value
    const existing = this.devices.get(deviceId)
    const prevSeq = existing?.lastHeartbeat?.seq
    const m = existing?.measurements ?? freshMeasurements()
    const measurements: Measurements = {
      heartbeats: m.heartbeats + 1,
      // A restarted device starts its sequence again; only forward gaps count as missed.
      missedHeartbeats: m.missedHeartbeats + (prevSeq !== undefined && hb.seq > prevSeq + 1 ? hb.seq - prevSeq - 1 : 0),
      loadEwma: ewma(m.loadEwma, hb.load),
      linkThroughputBpsEwma: hb.linkThroughputBps === null ? m.linkThroughputBpsEwma : ewma(m.linkThroughputBpsEwma, hb.linkThroughputBps),
      clockOffsetMs: hb.timeMs - nowMs,
    }
    const record: DeviceRecord = {
      id: deviceId,
      caps: existing?.caps ?? null,
      status: existing?.caps ? 'online' : existing?.status ?? 'offline',
      lastSeenMs: nowMs,
      lastHeartbeat: hb,
      measurements,
    }
    this.devices.set(deviceId, record)
    if (existing?.caps && existing.status === 'offline') this.emitEvent({ type: 'joined', device: record })
    else if (record.caps) {
      const batteryChanged = (existing?.lastHeartbeat?.batteryPct ?? null) !== hb.batteryPct
      this.emitEvent({ type: 'changed', device: record, what: batteryChanged ? 'battery' : 'measurements' })
    }
    return { ok: true }
  }

  handleAvailability(deviceId: string, payload: Uint8Array, nowMs: number): Outcome {
    const max = DEVICE_MESSAGE_MAX_BYTES.availability
    if (payload.byteLength > max) return { ok: false, code: ErrorCodes.PAYLOAD_TOO_LARGE, error: `availability of ${payload.byteLength} bytes is over the ${max} bytes it may have (refused unread)` }
    const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8')
    if (text !== AVAILABILITY.online && text !== AVAILABILITY.offline) {
      return { ok: false, code: ErrorCodes.PAYLOAD_INVALID, error: `availability: expected "online" or "offline", got ${JSON.stringify(text.slice(0, 32))}` }
    }
    const existing = this.devices.get(deviceId)
    if (!existing) return { ok: true }
    if (text === AVAILABILITY.offline && existing.status === 'online') {
      const record = { ...existing, status: 'offline' as const }
      this.devices.set(deviceId, record)
      this.emitEvent({ type: 'left', device: record, reason: 'last-will' })
    } else if (text === AVAILABILITY.online && existing.status === 'offline' && existing.caps) {
      const record = { ...existing, status: 'online' as const, lastSeenMs: nowMs }
      this.devices.set(deviceId, record)
      this.emitEvent({ type: 'joined', device: record })
    }
    return { ok: true }
  }

  /**
   * Marks devices silent for longer than the heartbeat timeout as offline. `listeningSinceMs`:
   * since when the hub could hear them (its broker connection's last (re)connection): a device is
   * not timed out for the silence of an outage.
   */
  sweep(nowMs: number, listeningSinceMs = -Infinity): RegistryEvent[] {
    const events: RegistryEvent[] = []
    for (const device of this.devices.values()) {
      if (device.status === 'online' && nowMs - Math.max(device.lastSeenMs, listeningSinceMs) > this.options.heartbeatTimeoutMs) {
        const record = { ...device, status: 'offline' as const }
        this.devices.set(device.id, record)
        const event: RegistryEvent = { type: 'left', device: record, reason: 'heartbeat-timeout' }
        events.push(event)
        this.emitEvent(event)
      }
    }
    return events
  }

  private emitEvent(event: RegistryEvent): void {
    this.emit('event', event)
  }
}

function freshMeasurements(): Measurements {
  return { heartbeats: 0, missedHeartbeats: 0, loadEwma: null, linkThroughputBpsEwma: null, clockOffsetMs: null }
}
