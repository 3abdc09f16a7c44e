/**
 * Property-based fuzzing of a running hub and a running device (issue 16): fast-check generates
 * payloads (random bytes, CBOR of any shape, JSON, tensor chunks with valid CRCs and huge or
 * inconsistent sizes, caps and heartbeats with one field made hostile) and throws them at every
 * topic the hub or the device reads. After every batch the device process (a real `dora device`,
 * EMULATION profile) is alive and heartbeating and the hub still lists it with its caps; at the
 * end the job's plan still holds the device and requests still run through it. Bounded: 40 batches
 * of at most 8 messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { crc32 } from 'node:zlib'
import type { MqttClient } from 'mqtt'
import type { Hub } from '../../src/hub/hub.js'
import { encodeCbor } from '../../src/protocol/codec.js'
import { topics } from '../../src/protocol/topics.js'
import { DEVICE_PASSWORD, caps, connect, deviceUrl, heartbeat, startHub, until } from '../helpers/hub.js'

const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const scenario = fileURLToPath(new URL('../../config/scenarios/smart-home.yaml', import.meta.url))

let hub: Hub
let device: ChildProcess
let deviceErr = ''
let fuzzer: MqttClient
let watcher: MqttClient
let cacheDir: string
/** Heartbeats the device itself sent (fuzzed payloads on its topic are told apart by their bytes). */
let ownHeartbeats = 0
const fuzzed = new Set<string>()

beforeAll(async () => {
  hub = await startHub({
    broker: { embedded: { allowAnonymous: true } },
    jobs: [{ id: 'j1', model: 'mlp', rateRps: 1, goal: 'latency', qoe: { latencyMs: 5000 }, recostCron: '0 0 * * * *' }],
  })
  cacheDir = mkdtempSync(join(tmpdir(), 'dora-models-'))
  device = spawn(process.execPath, [bin, 'device', '--id', 'dev-a', '--scenario', scenario, '--profile', 'laptop', '--broker', deviceUrl(hub), '--heartbeat-ms', '200', '--cache-dir', cacheDir, '--no-dilate'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DORA_DEVICE_PASSWORD: DEVICE_PASSWORD } })
  device.stderr!.on('data', (b: Buffer) => (deviceErr = (deviceErr + b.toString()).slice(-20_000)))
  fuzzer = await connect(deviceUrl(hub), { clientId: 'fuzzer' })
  watcher = await connect(deviceUrl(hub), { clientId: 'watcher' })
  watcher.on('message', (_topic, payload) => {
    if (!fuzzed.has(payload.toString('base64'))) ownHeartbeats++
  })
  await watcher.subscribeAsync(topics.device('dev-a', 'heartbeat'), { qos: 0 })
  const service = hub.jobs.find((j) => j.id === 'j1')!
  // the device has joined, holds the job and has opened its stages
  await until(() => {
    const e = service.epoch
    const d = hub.registry.get('dev-a')
    return e && e.assignments['dev-a'] && (d?.lastHeartbeat?.epoch ?? 0) >= e.epoch
  }, 60_000, 'the job ready on dev-a')
}, 90_000)

afterAll(async () => {
  await fuzzer?.endAsync(true)
  await watcher?.endAsync(true)
  if (device && device.exitCode === null) {
    const exited = new Promise((r) => device.once('exit', r))
    device.kill('SIGTERM')
    await exited
  }
  await hub?.stop()
  rmSync(cacheDir, { recursive: true, force: true })
})

const SHA = 'a'.repeat(64)
/** Every topic the hub or the device reads (anonymous clients may publish anywhere, as the hub). */
const TOPICS = [
  ...(['caps', 'heartbeat', 'availability', 'assignment', 'error'] as const).map((k) => topics.device('dev-a', k)),
  topics.device('ghost', 'caps'), topics.device('ghost', 'heartbeat'),
  ...(['plan', 'requests', 'spec', 'status', 'steps'] as const).map((k) => topics.job('j1', k)),
  topics.results('j1', 'hub'), topics.results('j1', 'dev-a'), topics.results('j1', 'dev-a', 'receipts'),
  topics.tensors('j1', 'dev-a'), topics.tensors('other', 'dev-a'), topics.job('zz', 'spec'),
  topics.modelChunk(SHA, 0), topics.upload(SHA, 0),
  topics.trainingState('j1', 'checkpoint'), topics.trainingState('j1', 'restore'),
  topics.trainingState('j1', 'checkpoint', 'dev-a'), topics.trainingState('j1', 'restore', 'dev-a'),
]

const cbor = (v: unknown): Buffer => {
  try {
    return encodeCbor(v)
  } catch {
    return Buffer.from([0xff])
  }
}

/**
 * A tensor chunk for dev-a with a valid CRC and sizes anywhere from right to absurd; mostly with a
 * total that matches its shape, so that the chunk passes the decoder's first checks and reaches
 * the size bounds (a count of 5e9 that way killed the agent before issue 16).
 */
const hostileChunk = fc.record({
  req: fc.string({ minLength: 1, maxLength: 20 }),
  dtype: fc.constantFrom('float32', 'uint8'),
  shape: fc.array(fc.nat(16), { maxLength: 3 }),
  consistent: fc.boolean(),
  total: fc.oneof(fc.nat(256), fc.constant(2 ** 31), fc.constant(1e15)),
  epoch: fc.oneof(fc.constant(null), fc.nat(10), fc.constant(2 ** 40)),
  idx: fc.oneof(fc.nat(4), fc.constant(5e9)),
  count: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(5e9), fc.constant(2 ** 31), fc.constant(Number.MAX_SAFE_INTEGER)),
  data: fc.uint8Array({ maxLength: 64 }),
  plan: fc.string({ maxLength: 8 }),
  stage: fc.oneof(fc.nat(1), fc.constant(1e9)),
}).map(({ consistent, ...c }) => {
  const total = consistent ? c.shape.reduce((a, d) => a * d, 1) * (c.dtype === 'float32' ? 4 : 1) : c.total
  const data = consistent ? c.data.slice(0, total) : c.data
  return cbor({ v: 1, name: 'x', ...c, total, offset: 0, data, crc: crc32(data), src: 'fuzz', route: ['dev-a', 'dev-a'], t0: 1 })
})

/** A valid caps or heartbeat with one field replaced by anything. */
const mutated = fc.tuple(fc.constantFrom<Record<string, unknown>>(caps('dev-a') as never, heartbeat(1) as never), fc.string({ maxLength: 16 }), fc.anything({ maxDepth: 3 }))
  .map(([base, key, value]) => {
    const keys = Object.keys(base)
    return cbor({ ...base, [keys[key.length % keys.length]!]: value })
  })

const payload = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 2048 }).map((b) => Buffer.from(b)),
  fc.anything({ maxDepth: 4 }).map(cbor),
  fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  hostileChunk,
  mutated,
  fc.constantFrom(Buffer.from([0xbf]), Buffer.from('online '), Buffer.alloc(200_000, 0x9f)),
)

describe('fuzzing a running hub and device', () => {
  it('both stay up and consistent under generated payloads on every topic they read', async () => {
    const kind = hub.registry.get('dev-a')!.caps!.kind
    let batches = 0
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...TOPICS), payload), { minLength: 1, maxLength: 8 }), async (messages) => {
        batches++
        for (const [, p] of messages) fuzzed.add(p.toString('base64'))
        await Promise.all(messages.map(([t, p]) => fuzzer.publishAsync(t, p, { qos: 1 })))
        const seen = ownHeartbeats
        // the device still heartbeats (it is alive and connected) and the hub still lists it
        await until(() => ownHeartbeats >= seen + 2 || device.exitCode !== null || null, 10_000, 'two more heartbeats of dev-a')
        expect(device.exitCode, `the device died: ${deviceErr.slice(-2000)}`).toBe(null)
        const rec = hub.registry.get('dev-a')
        expect(rec?.status).toBe('online')
        expect(rec?.caps?.kind).toBeTruthy()
      }),
      { numRuns: 40, interruptAfterTimeLimit: 90_000 },
    )
    expect(batches).toBeGreaterThan(10)
    // the device reported what it refused, as errors, and went on; chunks reached its decoder
    expect(deviceErr).toMatch(/dora device: /)
    expect(deviceErr).toMatch(/tensor chunk/)
    // state stays consistent: dev-a keeps its caps (a mutated caps message is refused or is caps),
    // the job's plan still holds it, and requests still run through it
    expect(typeof kind).toBe('string')
    const service = hub.jobs.find((j) => j.id === 'j1')!
    await until(() => service.epoch?.assignments['dev-a'], 20_000, 'the job still assigned to dev-a')
    const source = await hub.source('j1', { timeoutMs: 5000 })
    try {
      await until(() => source.requester.current(), 10_000, 'the plan at the hub source')
      source.drive(4)
      await until(() => source.requester.stats.completed >= 4 || null, 30_000, 'requests completed after the fuzzing')
    } finally {
      await source.stop(10_000)
    }
    expect(source.requester.stats.failed).toBe(0)
    // and the hub still answers a new device
    const other = await connect(deviceUrl(hub), { clientId: 'dora-device-dev-b', username: 'dev-b', password: DEVICE_PASSWORD })
    await other.publishAsync(topics.device('dev-b', 'caps'), encodeCbor(caps('dev-b')), { qos: 1, retain: true })
    await until(() => hub.registry.get('dev-b')?.status === 'online' || null, 5000, 'dev-b registered')
    await other.publishAsync(topics.device('dev-b', 'caps'), Buffer.alloc(0), { qos: 1, retain: true })
    await other.endAsync()
  }, 240_000)
})
