/**
 * Client ids bound to accounts, connections per account, keepalive 0 and stalled partial packets
 * (topics.md § Client ids, README § Security), against the real embedded broker with real
 * mqtt.js clients and raw sockets. Issue 16: "Client-id takeover", "Floods and slow clients".
 */
import { afterEach, describe, expect, it } from 'vitest'
import net from 'node:net'
import mqttPacket from 'mqtt-packet'
import mqtt from 'mqtt'
import type { Hub } from '../../src/hub/hub.js'
import { topics } from '../../src/protocol/topics.js'
import { deviceClientId } from '../../src/broker/connection-policy.js'
import { DEVICE_PASSWORD, caps, cbor, connect, deviceUrl, startHub, tempStateDir, until } from '../helpers/hub.js'
import { startRedis } from '../helpers/redis.js'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { captureLog } from '../helpers/log-capture.js'

const OPS = { username: 'ops', password: 'ops-secret-1' }
const DASH = { username: 'dash', password: 'dash-secret' }
let hub: Hub | null = null
afterEach(async () => {
  await hub?.stop()
  hub = null
})

async function deviceOnline(url: string, id: string) {
  const c = await connect(url, { username: id, password: DEVICE_PASSWORD, clientId: deviceClientId(id), will: { topic: topics.device(id, 'availability'), payload: Buffer.from('offline'), qos: 1, retain: true } })
  await c.publishAsync(topics.device(id, 'caps'), cbor(caps(id)), { qos: 1, retain: true })
  await c.publishAsync(topics.device(id, 'availability'), 'online', { qos: 1, retain: true })
  return c
}

describe('client ids are bound to the account that may use them', () => {
  it("no other account (an observer, another device, an operator) can take a device's client id; the device stays connected; each refusal is logged with who", async () => {
    const cap = captureLog()
    hub = await startHub({ auth: { operators: [OPS] } }, cap.log)
    const url = deviceUrl(hub)
    const dev = await deviceOnline(url, 'dev-a')
    let kicked = false
    dev.on('close', () => (kicked = true))
    await until(() => hub!.registry.get('dev-a')?.status === 'online', 3000, 'dev-a online')

    for (const who of [DASH, OPS, { username: 'dev-b', password: DEVICE_PASSWORD }]) {
      await expect(connect(url, { ...who, clientId: deviceClientId('dev-a') })).rejects.toThrow(/Identifier rejected/i)
    }
    await new Promise((r) => setTimeout(r, 200))
    expect(kicked).toBe(false)
    expect(hub.registry.get('dev-a')?.status).toBe('online')
    const refused = cap.find(/client id takeover refused/)
    expect(refused.map((l) => l.username)).toEqual(['dash', 'ops', 'dev-b'])
    for (const l of refused) {
      expect(l.clientId).toBe('dora-device-dev-a')
      expect(String(l.remote)).toMatch(/127\.0\.0\.1/)
    }

    // the device itself may reconnect with its id (it takes over its own stale connection)
    const again = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD, clientId: deviceClientId('dev-a') })
    await until(() => kicked, 3000, 'the old connection of dev-a replaced by its new one')
    await again.endAsync()
  })

  it('a connected client id of one account cannot be taken by another', async () => {
    hub = await startHub({ auth: { operators: [OPS] } })
    const url = deviceUrl(hub)
    const dash = await connect(url, { ...DASH, clientId: 'wall-panel' })
    await expect(connect(url, { ...OPS, clientId: 'wall-panel' })).rejects.toThrow(/Identifier rejected/i)
    expect(dash.connected).toBe(true)
    await dash.endAsync()
    // once it is gone (a clean session), the id is free
    const ops = await connect(url, { ...OPS, clientId: 'wall-panel' })
    await ops.endAsync()
  })

  it('a persistent session is resumed only by its own account; another cannot read its queue or wipe it', async () => {
    hub = await startHub({ auth: { operators: [OPS] } })
    const url = deviceUrl(hub)
    const first = await connect(url, { ...DASH, clientId: 'dash-durable', clean: false })
    await first.subscribeAsync(topics.hubAvailability, { qos: 1 })
    await first.subscribeAsync(topics.job('j1', 'spec'), { qos: 1 })
    await first.endAsync()
    // while it is away, a message is queued for it
    const ops = await connect(url, OPS)
    await ops.publishAsync(topics.job('j1', 'spec'), '{}', { qos: 1, retain: false })
    await ops.endAsync()

    const thief = connect(url, { ...OPS, clientId: 'dash-durable', clean: false })
    await expect(thief).rejects.toThrow(/Identifier rejected/i)
    await expect(connect(url, { ...OPS, clientId: 'dash-durable', clean: true })).rejects.toThrow(/Identifier rejected/i)

    const back = mqtt.connect(url, { ...DASH, clientId: 'dash-durable', clean: false, reconnectPeriod: 0 })
    const connack = await new Promise<{ sessionPresent: boolean }>((r) => back.once('connect', (p) => r(p)))
    const queued = await new Promise<string>((r) => back.on('message', (t) => r(t)))
    expect(queued).toBe(topics.job('j1', 'spec'))
    back.end(true)
    expect(connack.sessionPresent).toBe(true)
  })

  it('who owns a persistent session survives a hub restart (hub.stateDir); a clean connection of the owner frees the id', async () => {
    const stateDir = tempStateDir()
    hub = await startHub({ auth: { operators: [OPS] }, hub: { stateDir } })
    const first = await connect(deviceUrl(hub), { ...DASH, clientId: 'dash-durable', clean: false })
    await first.endAsync()
    await hub.stop()
    expect(JSON.parse(readFileSync(join(stateDir, 'session-owners.json'), 'utf8')).owners).toEqual({ 'dash-durable': 'observer:dash' })
    hub = await startHub({ auth: { operators: [OPS] }, hub: { stateDir } })
    const url = deviceUrl(hub)
    await expect(connect(url, { ...OPS, clientId: 'dash-durable', clean: false })).rejects.toThrow(/Identifier rejected/i)
    await expect(connect(url, { ...OPS, clientId: 'dash-durable', clean: true })).rejects.toThrow(/Identifier rejected/i)
    // its owner may; a clean connection ends the session, and the id is free
    await (await connect(url, { ...DASH, clientId: 'dash-durable', clean: false })).endAsync()
    await (await connect(url, { ...DASH, clientId: 'dash-durable', clean: true })).endAsync()
    await (await connect(url, { ...OPS, clientId: 'dash-durable', clean: true })).endAsync()
  })

  it('on two hubs sharing Redis, another account cannot resume a persistent session opened on the other hub (nor read its queue)', async () => {
    const redis = await startRedis()
    const hubs: Hub[] = []
    try {
      for (const id of ['hub-1', 'hub-2']) hubs.push(await startHub({ hub: { id }, auth: { operators: [OPS] }, broker: { embedded: { redis: redis.url } } }))
      const [one, two] = hubs.map(deviceUrl) as [string, string]
      const first = await connect(one, { ...DASH, clientId: 'dash-durable', clean: false })
      await first.subscribeAsync(topics.job('j1', 'spec'), { qos: 1 })
      await first.endAsync()
      const ops = await connect(two, OPS)
      await ops.publishAsync(topics.job('j1', 'spec'), '{}', { qos: 1, retain: false })
      await ops.endAsync()
      await expect(connect(two, { ...OPS, clientId: 'dash-durable', clean: false })).rejects.toThrow(/Identifier rejected/i)
      await expect(connect(one, { ...OPS, clientId: 'dash-durable', clean: false })).rejects.toThrow(/Identifier rejected/i)
      // the owner resumes it on the other hub, its queued message there
      const back = mqtt.connect(two, { ...DASH, clientId: 'dash-durable', clean: false, reconnectPeriod: 0 })
      const queued = await new Promise<string>((r) => back.on('message', (t) => r(t)))
      expect(queued).toBe(topics.job('j1', 'spec'))
      await back.endAsync()
    } finally {
      for (const h of hubs) await h.stop()
      await redis.stop()
    }
  })
})

describe('connections per account', () => {
  it('an account holds at most maxConnectionsPerAccount connections; a closed one frees its place', async () => {
    const cap = captureLog()
    hub = await startHub({ broker: { embedded: { maxConnectionsPerAccount: 3 } } }, cap.log)
    const url = deviceUrl(hub)
    const open = [await connect(url, DASH), await connect(url, DASH), await connect(url, DASH)]
    await expect(connect(url, DASH)).rejects.toThrow(/Server unavailable/i)
    expect(cap.find(/too many connections/)[0]).toMatchObject({ username: 'dash' })
    // other accounts are not affected
    const dev = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD })
    await open.pop()!.endAsync()
    await until(() => true, 100)
    open.push(await connect(url, DASH))
    for (const c of [...open, dev]) await c.endAsync()
  })
})

describe('slow and stalled clients', () => {
  it('keepalive 0 is capped: a silent client is closed after 1.5 x maxKeepaliveS', async () => {
    hub = await startHub({ broker: { embedded: { maxKeepaliveS: 1 } } })
    const c = await connect(deviceUrl(hub), { ...DASH, keepalive: 0 })
    const t0 = Date.now()
    await new Promise<void>((r) => c.once('close', () => r()))
    const ms = Date.now() - t0
    expect(ms).toBeGreaterThan(1000)
    expect(ms).toBeLessThan(4000)
    c.end(true)
  })

  it('a client that sends part of a 1 MB packet and stalls is disconnected after the partial-packet timeout; others keep working', async () => {
    const cap = captureLog()
    hub = await startHub({ broker: { embedded: { partialPacketTimeoutMs: 500 } } }, cap.log)
    const port = hub.boundPorts!.port
    const sockets: net.Socket[] = []
    const closedAt: number[] = []
    const t0 = Date.now()
    for (let i = 0; i < 5; i++) {
      const s = net.connect(port, '127.0.0.1')
      sockets.push(s)
      await new Promise((r) => s.once('connect', r))
      s.on('close', () => closedAt.push(Date.now() - t0))
      s.on('data', () => {}) // CONNACK
      s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `stall-${i}`, keepalive: 0, username: 'dash', password: Buffer.from('dash-secret') }))
      // a PUBLISH announcing 1,000,000 bytes, of which half arrive
      const header = mqttPacket.generate({ cmd: 'publish', topic: 'dora/v1/x', payload: Buffer.alloc(1_000_000 - 14), qos: 0, retain: false, dup: false })
      s.write(header.subarray(0, 500_000))
    }
    await until(() => closedAt.length === 5, 5000, 'every stalled connection closed')
    expect(Math.max(...closedAt)).toBeLessThan(3000)
    expect(cap.find(/closed by frame guard/).some((l) => /still incomplete/.test(String(l.reason)))).toBe(true)
    const ok = await connect(deviceUrl(hub), DASH)
    expect(ok.connected).toBe(true)
    await ok.endAsync()
    for (const s of sockets) s.destroy()
  })
})
