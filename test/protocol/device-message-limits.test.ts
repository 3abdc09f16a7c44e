/**
 * The size bounds the hub checks before decoding a device's control message
 * (src/protocol/device-message-limits.ts): the largest message each schema accepts fits under its
 * bound, so no valid message is ever refused; a message over it is refused unread.
 */
import { describe, expect, it } from 'vitest'
import { DEVICE_MESSAGE_MAX_BYTES, deviceMessageTooLarge } from '../../src/protocol/device-message-limits.js'
import { encodeCbor } from '../../src/protocol/codec.js'
import { airMessageSchema, capsSchema, heartbeatSchema } from '../../src/protocol/payloads.js'
import { AVAILABILITY } from '../../src/protocol/topics.js'
import { Registry } from '../../src/registry/registry.js'

// the longest texts the schemas take, in the widest UTF-8 (4 bytes a character), and the longest ids
const text = '\u{1F600}'.repeat(128)
const id = 'x'.repeat(64)
const big = 1.234567890123e13 // a float64: 9 bytes in CBOR

function largestCaps() {
  return {
    v: 1, deviceId: id, kind: text, emulated: true,
    compute: { cores: 4096, flopsPerSec: { conv: big, matmul: big, elementwise: big }, accelerators: Array(16).fill(text) },
    memory: { totalBytes: big, availableBytes: big },
    power: { idleW: 9999.5, activeW: 9999.5, battery: { capacityWh: 9999.5, levelPct: 99.5, charging: true } },
    network: { linkRateBps: 4e11 - 0.5, interface: 'ethernet', standard: null }, runtime: { dora: text, onnxruntime: text },
  }
}

function largestHeartbeat() {
  return {
    v: 1, seq: 2 ** 52, timeMs: big, load: 0.5, freeMemoryBytes: big, batteryPct: 99.5, linkThroughputBps: 4e11 - 0.5, queueDepth: 2 ** 52, epoch: 2 ** 52,
    stageTimings: Array.from({ length: 256 }, (_, i) => ({ jobId: id, stage: 2 ** 52 + i, meanMs: big, count: 2 ** 52 })),
    energyJ: big,
    requestLatencies: Array.from({ length: 64 }, () => ({ jobId: id, meanMs: big, p95Ms: big, count: 2 ** 52 })),
    grants: { meanMs: 9999.5, count: 1_000_000 },
  }
}

describe('device message size bounds', () => {
  it.each([
    ['caps', capsSchema, largestCaps()],
    ['heartbeat', heartbeatSchema, largestHeartbeat()],
    ['air', airMessageSchema, { v: 1, kind: 'ask', seq: 2 ** 31, bytes: 2 ** 31, airMs: 9999.123456789 }],
  ] as const)('the largest %s the schema accepts fits under the bound', (kind, schema, message) => {
    expect(schema.safeParse(message).success).toBe(true)
    const bytes = encodeCbor(message).byteLength
    expect(bytes).toBeLessThanOrEqual(DEVICE_MESSAGE_MAX_BYTES[kind])
    expect(deviceMessageTooLarge(kind, bytes)).toBeNull()
  })

  it('availability: both words fit', () => {
    for (const w of [AVAILABILITY.online, AVAILABILITY.offline]) expect(deviceMessageTooLarge('availability', Buffer.byteLength(w))).toBeNull()
  })

  it('a heartbeat or caps over the bound is refused unread, however cheap its bytes look', () => {
    const registry = new Registry({ heartbeatTimeoutMs: 10_000 })
    // valid CBOR: an array of a million empty maps (seconds of decoding, then refused by the schema)
    const heavy = Buffer.concat([Buffer.from([0x9a, 0x00, 0x0f, 0x42, 0x40]), Buffer.alloc(1_000_000, 0xa0)])
    for (const handle of [registry.handleHeartbeat.bind(registry), registry.handleCaps.bind(registry), registry.handleAvailability.bind(registry)]) {
      const t0 = performance.now()
      const out = handle('dev-a', heavy, 0)
      expect(out).toMatchObject({ ok: false, code: 'DORA_PAYLOAD_TOO_LARGE' })
      expect(out.ok ? '' : out.error).toMatch(/refused unread/)
      // not a timing assertion of speed: decoding would have allocated a million objects
      expect(performance.now() - t0).toBeLessThan(1000)
    }
    expect(registry.snapshot()).toEqual([])
  })

  it('an id that is not a topic id is refused in caps and heartbeats', () => {
    expect(capsSchema.safeParse({ ...largestCaps(), deviceId: 'a/b' }).success).toBe(false)
    const hb = largestHeartbeat()
    expect(heartbeatSchema.safeParse({ ...hb, stageTimings: [{ ...hb.stageTimings[0]!, jobId: '#' }] }).success).toBe(false)
  })
})
