/**
 * One chunk must not crash a device (issue 16 § One chunk crashes a device): a real hub, a real
 * device agent and a hostile client on the embedded broker. Chunk size fields are bounded before
 * any allocation, and tensors held for a job no plan announces are bounded and expire.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import type { MqttClient } from 'mqtt'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { DEVICE_PASSWORD, connect, deviceUrl, startHub, until } from '../helpers/hub.js'
import { encodeCbor } from '../../src/protocol/codec.js'
import { encodeTensorChunks } from '../../src/protocol/chunks.js'
import { topics } from '../../src/protocol/topics.js'
import type { Hub } from '../../src/hub/hub.js'
import { smallBoard } from '../helpers/devices.js'

let hub: Hub
let agent: DeviceAgent
let attacker: MqttClient
let cacheDir: string
const errors: string[] = []
const hop = { src: 'attacker', plan: 'p0', stage: 0, route: ['dev-a'], t0: 1 }

beforeAll(async () => {
  hub = await startHub({ broker: { embedded: { allowAnonymous: true } } })
  cacheDir = mkdtempSync(join(tmpdir(), 'dora-models-'))
  agent = new DeviceAgent({ url: deviceUrl(hub), id: 'dev-a', password: DEVICE_PASSWORD, profile: smallBoard('dev-a'), heartbeatMs: 200, reassemblyTimeoutMs: 3000, maxHeld: { tensors: 40, bytes: 1024 * 1024 }, cacheDir, onError: (m) => errors.push(m) })
  await agent.start()
  attacker = await connect(deviceUrl(hub), { clientId: 'attacker' })
}, 30_000)

afterAll(async () => {
  await attacker?.endAsync()
  await agent?.stop()
  await hub?.stop()
  rmSync(cacheDir, { recursive: true, force: true })
})

/** The device still heartbeats: the hub sees a newer heartbeat than before. */
async function stillAlive(): Promise<void> {
  const seq = hub.registry.get('dev-a')?.lastHeartbeat?.seq ?? -1
  await until(() => (hub.registry.get('dev-a')?.lastHeartbeat?.seq ?? -1) > seq + 1, 5000, 'a later heartbeat of dev-a')
}

describe('hostile tensor chunks', () => {
  it('a chunk claiming 5e9 chunks (valid CRC) is refused and counted; the device lives on', async () => {
    const data = new Uint8Array([1, 2, 3, 4])
    const chunk = { v: 1, req: 'evil.1.0', name: 'x', dtype: 'float32', shape: [1], epoch: 1, idx: 0, count: 5e9, offset: 0, total: 4, crc: crc32(data), data, ...hop }
    const rejected = agent.executor.counts.rejected
    await attacker.publishAsync(topics.tensors('j1', 'dev-a'), encodeCbor(chunk), { qos: 1 })
    // and the largest count a tensor could need (one byte a chunk) with a huge total: refused before allocating
    const big = { ...chunk, req: 'evil.2.0', shape: [2 ** 29], total: 2 ** 31, count: 2 ** 31, idx: 5 }
    await attacker.publishAsync(topics.tensors('j1', 'dev-a'), encodeCbor(big), { qos: 1 })
    await until(() => agent.executor.counts.rejected >= rejected + 2 || null, 5000, 'both chunks refused')
    expect(errors.some((e) => /tensor chunk: count: .*2147483648/.test(e))).toBe(true)
    expect(errors.some((e) => /tensor evil\.2\.0|x of 2147483648 bytes exceeds the limit/.test(e))).toBe(true)
    await stillAlive()
  })

  it('single-chunk tensors of a job no plan announces are held within bounds and expire', async () => {
    const rejected = agent.executor.counts.rejected
    const flood = async (from: number, n: number, bytes: number) => {
      const sends: Array<Promise<unknown>> = []
      for (let i = from; i < from + n; i++) {
        for (const m of encodeTensorChunks({ req: `ghost.${i}.0`, name: 'x', dtype: 'uint8', shape: [bytes], epoch: 999, hop }, new Uint8Array(bytes), bytes)) {
          sends.push(attacker.publishAsync(topics.tensors('j1', 'dev-a'), m, { qos: 1 }))
        }
      }
      await Promise.all(sends)
    }
    // 3 MiB in 64 KiB tensors of job j1, which no plan or assignment announces (held by the
    // device's router until one does: tensor-router.ts): the byte bound (1 MiB) holds
    await flood(0, 48, 64 * 1024)
    await until(() => agent.executor.counts.rejected > rejected || null, 5000, 'tensors past the byte bound refused')
    expect(agent.incoming.room.bytes).toBeLessThanOrEqual(1024 * 1024)
    expect(errors.some((e) => /ghost\.\d+\.0 dropped: \d+ bytes already held/.test(e))).toBe(true)
    // with no further traffic, the held tensors expire (the heartbeat sweeps them)
    await until(() => agent.incoming.room.tensors === 0 || null, 8000, 'held tensors expired')
    expect(agent.incoming.room.bytes).toBe(0)
    // many tiny ones: the count bound (40) holds
    await flood(100, 60, 4)
    await until(() => errors.some((e) => /dropped: 40 tensors already held \(the limit\)/.test(e)) || null, 5000, 'tensors past the count bound refused')
    expect(agent.incoming.room.tensors).toBeLessThanOrEqual(40)
    // with no further traffic, the held tensors expire (the heartbeat sweeps them)
    await until(() => agent.incoming.room.tensors === 0 || null, 8000, 'held tensors expired')
    expect(agent.incoming.room.bytes).toBe(0)
    expect(errors.some((e) => /job j1: \d+ tensor\(s\) came and no plan or assignment of the job followed within 3000 ms; dropped/.test(e))).toBe(true)
    await stillAlive()
  }, 60_000)
})
