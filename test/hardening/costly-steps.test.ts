/**
 * A hostile client on the training steps topic (dora/v1/jobs/{job}/steps): an authenticated
 * account of a device in the job floods it with small CBOR messages that cost a decoder a second
 * each (an array of a million empty maps in 1 MB; arrays nested 100,000 deep). Every receiver
 * refuses them unread by the steps topic's budget (src/protocol/cbor-budgets.ts), and a `start`
 * within the budget but of numbers for device ids with one schema issue (text-lists.ts), so training
 * goes on: each step of the flood's time finishes, with the losses one process computes, and the
 * process (hub, broker and both devices: they share this event loop) gets through the flood in the
 * time of a few such decodes, not of two per message.
 * Real hub and Aedes on loopback, real mqtt.js, onnxruntime stages.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { MqttClient } from 'mqtt'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { DEVICE_PASSWORD, connect, deviceUrl, startHub, until } from '../helpers/hub.js'
import type { Hub } from '../../src/hub/hub.js'
import { CBOR_BUDGETS } from '../../src/protocol/cbor-budgets.js'
import { decodeCbor, encodeCbor } from '../../src/protocol/codec.js'
import { topics } from '../../src/protocol/topics.js'
import { smallBoard } from '../helpers/devices.js'
import { referenceLosses, stopTrainingFleet } from '../helpers/training.js'

let hub: Hub | null = null
let hostile: MqttClient | null = null
const agents: DeviceAgent[] = []

afterEach(async () => {
  await hostile?.endAsync(true)
  hostile = null
  await stopTrainingFleet(agents, hub)
  hub = null
})

const M = 4
/** An array of a million empty maps: 1 MB that cbor-x turns into a million objects (0.3-1 s). */
const MILLION_MAPS = Buffer.concat([Buffer.from([0x9a, 0x00, 0x0f, 0x42, 0x40]), Buffer.alloc(1_000_000, 0xa0)])
/** Arrays nested 100,000 deep around one integer. */
const DEEP = Buffer.concat([Buffer.alloc(100_000, 0x81), Buffer.from([0x01])])
/** Within the budget: a `start` of 4096 routes of 64 numbers (zod, element by element, spent a second on its issues; text-lists.ts). */
const NUMBER_ROUTES = encodeCbor({ v: 1, kind: 'start', epoch: 1, planId: 'p', step: 0, startedAtMs: 0, routes: Array.from({ length: 4096 }, () => Array(64).fill(0)) })

describe('a hostile client on the training steps topic', () => {
  it('floods it with costly CBOR: every device refuses each unread, training goes on with the right losses', async () => {
    hub = await startHub({
      auth: { devices: ['dev-a', 'dev-b'].map((id) => ({ id, password: DEVICE_PASSWORD })) },
      jobs: [{ id: 'ft', model: 'bert-tiny', rateRps: 10, goal: 'throughput', source: 'dev-a', planner: 'equal-split', training: { microBatchesPerStep: M, optimizerStateFactor: 2 }, qoe: { throughputRps: 0.1 }, recostCron: '0 0 * * * *' }],
    })
    const errors: string[] = []
    for (const id of ['dev-a', 'dev-b']) {
      const a = new DeviceAgent({ url: deviceUrl(hub), id, password: DEVICE_PASSWORD, profile: smallBoard(id, { memoryBytes: 2e9, flopsPerSec: { conv: 1e12, matmul: 1e12, elementwise: 1e12 } }), heartbeatMs: 200, cacheDir: mkdtempSync(join(tmpdir(), 'dora-models-')), onError: (m) => errors.push(`${id}: ${m}`) })
      agents.push(a)
      await a.start()
    }
    const [a, b] = agents as [DeviceAgent, DeviceAgent]
    await until(() => agents.every((x) => x.assignments.get('ft')?.stages.length) || null, 20_000, 'both devices assigned a stage')
    const source = await a.startTraining('ft')
    await until(() => source.records.length >= 1 || null, 60_000, 'a first step')
    // what one such message costs this process to decode, now (the load on this machine varies)
    const probes = [0, 1, 2].map(() => {
      const t = performance.now()
      expect(decodeCbor(MILLION_MAPS, { what: 'probe', maxItems: 2_000_000, maxDepth: 2 }).ok).toBe(true)
      return performance.now() - t
    })
    const decodeMs = probes.sort((x, y) => x - y)[1]!

    // dev-b's account, a second connection of its own: allowed to publish on the job's steps
    hostile = await connect(deviceUrl(hub), { username: 'dev-b', password: DEVICE_PASSWORD, clientId: 'dev-b-hostile' })
    const stall = monitorEventLoopDelay({ resolution: 10 })
    stall.enable()
    const floodAt = source.records.length
    const t0 = performance.now()
    const flood = [...Array(8).fill(MILLION_MAPS), ...Array(4).fill(DEEP), ...Array(8).fill(NUMBER_ROUTES)] as Buffer[]
    await Promise.all(flood.map((m) => hostile!.publishAsync(topics.job('ft', 'steps'), m, { qos: 1 })))
    const refused = (id: string) => errors.filter((e) => e.startsWith(`${id}: steps of ft: `)).length
    await until(() => (refused('dev-a') === flood.length && refused('dev-b') === flood.length) || null, 60_000, `every flood message refused by both devices (${refused('dev-a')}, ${refused('dev-b')})`)
    const floodMs = performance.now() - t0
    stall.disable()
    await until(() => source.records.length >= floodAt + 3 || null, 60_000, 'three steps after the flood')
    await a.stopTraining()

    // the refusals say what and why, and nothing else went wrong
    expect(errors.filter((e) => /over its budget/.test(e))).toEqual(expect.arrayContaining([
      expect.stringMatching(`training step over its budget: more than ${CBOR_BUDGETS.trainingStep.maxItems} CBOR items \\(refused unread\\)`),
      expect.stringMatching(`training step over its budget: nested more than ${CBOR_BUDGETS.trainingStep.maxDepth} deep \\(refused unread\\)`),
    ]))
    expect(errors.filter((e) => /steps of ft: routes: must be 1-4096 lists of 1-64 texts/.test(e))).toHaveLength(2 * 8)
    expect(errors.filter((e) => !/steps of ft: (training step over its budget|routes: must be)/.test(e))).toEqual([])
    // no work lost: every step finished, as one process trains on the same micro-batches
    expect(source.records.every((r) => r.ok)).toBe(true)
    const plan = source.planOf(source.records[0]!.epoch)!
    expect(source.records.every((r) => r.epoch === plan.epoch)).toBe(true)
    const want = await referenceLosses(agents, a, 'ft', plan, source.records.length, M)
    source.records.forEach((r, i) => expect(Math.abs(r.loss! - want[i]!) / want[i]!).toBeLessThan(1e-5))
    expect(b.training.counts.backwards).toBeGreaterThanOrEqual(source.records.length * M)
    // the hub heard both devices throughout (heartbeats every 200 ms), and they are online
    for (const id of ['dev-a', 'dev-b']) expect(hub.registry.get(id)?.status).toBe('online')
    // at load 10: refused, the flood took 0.7 s (1.6 decodes' time, the longest stall 0.22 s, as
    // long as training's own); with the steps budget lifted, 5.5 s (26 decodes, 1.6 s); with zod's
    // element-by-element routes, 24 s (94 decodes, 18.8 s)
    expect(floodMs, `flood ${floodMs.toFixed(0)} ms, one decode ${decodeMs.toFixed(0)} ms, longest stall ${(stall.max / 1e6).toFixed(0)} ms`).toBeLessThan(8 * decodeMs)
  }, 180_000)
})
