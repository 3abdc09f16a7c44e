/**
 * The decoding budgets (src/protocol/cbor-budgets.ts, checked by decodeCbor before cbor-x builds
 * anything): the largest message each schema accepts fits its topic's budget, so no valid message
 * is ever refused; a message of tiny items, nested deep, or over a device message's bytes is
 * refused unread, fast, with a clear error.
 */
import { describe, expect, it } from 'vitest'
import { CBOR_BUDGETS, DEVICE_MESSAGE_MAX_BYTES, type CborTopic } from '../../src/protocol/cbor-budgets.js'
import { decodeCbor, encodeCbor, type CborBudget } from '../../src/protocol/codec.js'
import { cborShapeProblem } from '../../src/protocol/cbor-scan.js'
import { restoreAnswerSchema, restoreWantSchema, MAX_STAGE_PARAMS } from '../../src/protocol/checkpoint.js'
import { airGrantSchema, airMessageSchema, assignmentSchema, capsSchema, heartbeatSchema, modelChunkSchema, planEpochSchema, receiptSchema, trainingStepSchema } from '../../src/protocol/payloads.js'
import { AVAILABILITY } from '../../src/protocol/topics.js'
import { Registry } from '../../src/registry/registry.js'
import type { z } from 'zod'

// the longest texts the schemas take, in the widest UTF-8 (4 bytes a character), and the longest ids
const text = '\u{1F600}'.repeat(128)
const id = 'x'.repeat(64)
const big = 1.234567890123e13 // a float64: 9 bytes in CBOR
const sha = 'a'.repeat(64)
const n = (k: number, f: (i: number) => unknown) => Array.from({ length: k }, (_, i) => f(i))

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
    stageTimings: n(256, (i) => ({ jobId: id, stage: 2 ** 52 + i, meanMs: big, count: 2 ** 52 })),
    energyJ: big,
    requestLatencies: n(64, () => ({ jobId: id, meanMs: big, p95Ms: big, count: 2 ** 52 })),
    grants: { meanMs: 9999.5, count: 1_000_000 },
  }
}

// items do not depend on a string's length: the large hub-written messages use short ones
function largestPlan() {
  const stage = { layers: [0, 1], nodes: [0, 1], devices: Array(1024).fill('d'), inputs: Array(256).fill('i'), outputs: Array(256).fill('o'), shares: Array(1024).fill(0), codec: 'fp16' }
  const part = { planId: 'p', weight: 1, microBatch: 1, stages: Array(64).fill(stage), schedule: { periodMs: 1, cycleMs: 1, microBatchesPerCycle: 1, guardMs: 0, turns: Array(1024).fill('d') }, transfers: 'slots' }
  return {
    v: 1, jobId: 'j', epoch: 1, activateAtMs: 0, parts: Array(16).fill(part), predicted: { latencyMs: 1, p95LatencyMs: 1, energyJPerRequest: 1 },
    inputs: Array(64).fill({ name: 'x', dtype: 'float32', shape: Array(16).fill(1) }), outputs: Array(64).fill('y'), departed: Array(1024).fill('d'), sources: Array(1024).fill('d'),
    resultsTo: 'hub', reason: 'r', emulated: false, training: { microBatchesPerStep: 4096, checkpointEverySteps: 10 },
  }
}

function largestAssignment() {
  const ref = { sha256: sha, bytes: 1, chunks: 1 }
  const stage = { planId: 'p', stage: 0, layers: [0, 1], nodes: [0, 1], weight: 1, model: ref, backward: ref, params: Array(MAX_STAGE_PARAMS).fill('w'), flops: { conv: 1, matmul: 1, elementwise: 1 } }
  return { v: 1, jobId: 'j', epoch: 1, activateAtMs: 0, stages: Array(64).fill(stage), slots: Array(100_000).fill({ planId: 'p', to: 'd', tensor: 't', offsetMs: 0, durationMs: 1, bytes: 1 }) }
}

/** Per topic, its schema's largest message (`start` is the larger training step: only it is held to the budget's room). */
const largest: Array<[CborTopic, z.ZodType, () => unknown, boolean?]> = [
  ['caps', capsSchema, largestCaps],
  ['heartbeat', heartbeatSchema, largestHeartbeat],
  ['air', airMessageSchema, () => ({ v: 1, kind: 'ask', seq: 2 ** 31, bytes: 2 ** 31, airMs: 9999.123456789 })],
  ['receipt', receiptSchema, () => ({ v: 1, req: text, epoch: big, outputs: Array(64).fill('o'.repeat(256)), to: text })],
  ['trainingStep', trainingStepSchema, () => ({ v: 1, kind: 'start', epoch: 2 ** 40, planId: text, step: 2 ** 40, routes: n(4096, () => Array(64).fill(id)), startedAtMs: big })],
  ['trainingStep', trainingStepSchema, () => ({ v: 1, kind: 'done', epoch: 2 ** 40, planId: text, step: 2 ** 40, stage: 63, device: text, microBatches: 4096, loss: 0.5, paramsSha256: sha }), false],
  ['restoreWant', restoreWantSchema, () => ({ v: 1, kind: 'want', device: text, epoch: 1, step: 2 ** 40, params: Array(MAX_STAGE_PARAMS).fill('w'), have: 2 ** 40 })],
  ['modelChunk', modelChunkSchema, () => ({ v: 1, sha256: sha, index: 0, count: 1, totalBytes: 1 << 20, data: new Uint8Array(1 << 20) })],
  ['grant', airGrantSchema, () => ({ v: 1, seq: 2 ** 31, leaseMs: 10_000, queuedMs: big })],
  ['restoreAnswer', restoreAnswerSchema, () => ({ v: 1, kind: 'restore', epoch: 1, step: 1, params: Array(MAX_STAGE_PARAMS).fill({ name: 'w', from: { step: 1, t: 1 } }) })],
  ['plan', planEpochSchema, largestPlan],
  ['assignment', assignmentSchema, largestAssignment],
]

describe('CBOR decoding budgets', () => {
  it.each(largest)('the largest %s the schema accepts fits its budget (decoded, not refused)', (topic, schema, make, largestOfTopic = true) => {
    const message = make()
    expect(schema.safeParse(message).success).toBe(true)
    const bytes = encodeCbor(message)
    const budget: CborBudget = CBOR_BUDGETS[topic]
    if (budget.maxBytes !== undefined) expect(bytes.byteLength).toBeLessThanOrEqual(budget.maxBytes)
    expect(cborShapeProblem(bytes, budget.maxItems, budget.maxDepth)).toBeNull()
    // and the budget is that message and its room of 64 items, no more
    if (largestOfTopic) expect(cborShapeProblem(bytes, budget.maxItems - 65, budget.maxDepth)).toMatch(/more than/)
    if (bytes.byteLength < 1 << 22) expect(decodeCbor(bytes, budget).ok).toBe(true)
  }, 60_000)

  it('availability: both words fit its bytes', () => {
    for (const w of [AVAILABILITY.online, AVAILABILITY.offline]) expect(Buffer.byteLength(w)).toBeLessThanOrEqual(DEVICE_MESSAGE_MAX_BYTES.availability)
  })

  it('refuses a message of one item more than its budget (tiny items: a byte each), or nested 100,000 deep, unread, at every budget', () => {
    const deep = Buffer.concat([Buffer.alloc(100_000, 0x81), Buffer.from([0x01])])
    for (const [topic, budget] of Object.entries(CBOR_BUDGETS) as Array<[string, CborBudget]>) {
      // an array of maxItems empty maps: maxItems + 1 items in about as many bytes
      const heavy = Buffer.concat([Buffer.from([0x9a, 0, 0, 0, 0]), Buffer.alloc(budget.maxItems, 0xa0)])
      heavy.writeUInt32BE(budget.maxItems, 1)
      for (const message of [heavy, deep]) {
        const t0 = performance.now()
        const r = decodeCbor(message, budget)
        expect(r).toMatchObject({ ok: false, code: 'DORA_PAYLOAD_TOO_LARGE' })
        const error = r.ok ? '' : r.error
        expect(error, topic).toMatch(new RegExp(`^${budget.what} (of \\d+ bytes is over|over its budget: (more than ${budget.maxItems} CBOR items|nested more than ${budget.maxDepth} deep))`))
        expect(error).toMatch(/refused unread/)
        // not a timing assertion of speed: building a million maps takes a decoder a second
        expect(performance.now() - t0).toBeLessThan(1000)
      }
    }
  })

  it('a message that is not one well-formed item is not CBOR, whatever its budget', () => {
    const small = CBOR_BUDGETS.receipt
    for (const bad of [Buffer.alloc(0), Buffer.from([0xa2, 0x01]), Buffer.concat([encodeCbor(1), encodeCbor(2)]), Buffer.from([0x9f, 0x01, 0xff])]) {
      expect(decodeCbor(bad, small)).toMatchObject({ ok: false, code: 'DORA_PAYLOAD_NOT_CBOR' })
    }
  })

  it('a heartbeat or caps over its bytes or items is refused unread by the registry', () => {
    const registry = new Registry({ heartbeatTimeoutMs: 10_000 })
    const heavy = Buffer.concat([Buffer.from([0x9a, 0x00, 0x0f, 0x42, 0x40]), Buffer.alloc(1_000_000, 0xa0)])
    // under a heartbeat's 64 KiB, yet 20,000 items: as costly per byte, refused by its items
    const dense = Buffer.concat([Buffer.from([0x99, 0x4e, 0x20]), Buffer.alloc(20_000, 0xa0)])
    const cases = [[registry.handleHeartbeat, [heavy, dense]], [registry.handleCaps, [heavy, dense]], [registry.handleAvailability, [heavy]]] as const
    for (const [handle, messages] of cases) {
      for (const message of messages) {
        const out = handle.call(registry, 'dev-a', message, 0)
        expect(out).toMatchObject({ ok: false, code: 'DORA_PAYLOAD_TOO_LARGE' })
        expect(out.ok ? '' : out.error).toMatch(/refused unread/)
      }
    }
    expect(registry.snapshot()).toEqual([])
    expect(registry.handleHeartbeat('dev-a', encodeCbor(largestHeartbeat()), 0)).toMatchObject({ ok: true })
  })

  it('an id that is not a topic id is refused in caps and heartbeats', () => {
    expect(capsSchema.safeParse({ ...largestCaps(), deviceId: 'a/b' }).success).toBe(false)
    const hb = largestHeartbeat()
    expect(heartbeatSchema.safeParse({ ...hb, stageTimings: [{ ...hb.stageTimings[0]!, jobId: '#' }] }).success).toBe(false)
  })
})
