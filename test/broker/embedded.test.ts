import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import type { Hub } from '../../src/hub/hub.js'
import { topics } from '../../src/protocol/topics.js'
import { DEVICE_PASSWORD, caps, cbor, collect, connect, deviceUrl, startHub, until } from '../helpers/hub.js'

let hub: Hub
let url: string
beforeAll(async () => {
  hub = await startHub()
  url = deviceUrl(hub)
})
afterAll(async () => hub.stop())

describe('embedded broker: authentication (README § Security)', () => {
  it('refuses anonymous clients by default', async () => {
    await expect(connect(url, { clientId: 'anon' })).rejects.toThrow(/Bad username or password|Not authorized|closed/i)
  })

  it('refuses a wrong password and an unknown user', async () => {
    await expect(connect(url, { username: 'dev-a', password: 'wrong-password' })).rejects.toThrow(/Bad username or password/i)
    await expect(connect(url, { username: 'nobody', password: DEVICE_PASSWORD })).rejects.toThrow(/Bad username or password/i)
  })

  it('lets a configured device in', async () => {
    const c = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD })
    expect(c.connected).toBe(true)
    await c.endAsync()
  })
})

describe('embedded broker: ACL', () => {
  it('a device may not publish under another device id; the message is not delivered', async () => {
    const watcher = await connect(url, { username: 'dash', password: 'dash-secret' })
    const seen = await collect(watcher, topics.device('dev-b', 'caps'))
    const a = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD })
    const closed = new Promise<void>((r) => a.once('close', () => r()))
    a.publish(topics.device('dev-b', 'caps'), cbor(caps('dev-b')), { qos: 1 })
    await closed // Aedes closes a 3.1.1 client whose publish is not authorised
    await new Promise((r) => setTimeout(r, 100))
    expect(seen).toHaveLength(0)
    expect(hub.registry.get('dev-b')).toBeUndefined()
    a.end(true)
    await watcher.endAsync()
  })

  it('a device may not publish the hub-only assignment topic of its own id', async () => {
    const a = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD })
    const closed = new Promise<void>((r) => a.once('close', () => r()))
    a.publish(topics.device('dev-a', 'assignment'), Buffer.from([0xa0]), { qos: 1 })
    await closed
    a.end(true)
  })

  it('a device may not subscribe to other devices topics, but may to its own', async () => {
    const a = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD })
    // mqtt.js turns a SUBACK failure (0x80) into a rejected subscribe
    await expect(a.subscribeAsync('dora/v1/devices/dev-b/#')).rejects.toThrow(/Subscribe error/)
    await expect(a.subscribeAsync('dora/v1/#')).rejects.toThrow(/Subscribe error/)
    const [own] = await a.subscribeAsync(topics.device('dev-a', 'assignment'), { qos: 1 })
    expect(own!.qos).toBe(1)
    await a.endAsync()
  })

  it('an observer may subscribe but not publish', async () => {
    const o = await connect(url, { username: 'dash', password: 'dash-secret' })
    const [g] = await o.subscribeAsync('dora/v1/#', { qos: 1 })
    expect(g!.qos).toBe(1)
    const closed = new Promise<void>((r) => o.once('close', () => r()))
    o.publish(topics.hubState, 'x', { qos: 1 })
    await closed
    o.end(true)
  })
})

describe('embedded broker: packet size limit', () => {
  it('closes a client that sends a packet over the limit, before buffering it, and others keep working', async () => {
    const watcher = await connect(url, { username: 'dash', password: 'dash-secret' })
    const seen = await collect(watcher, topics.allDevices('heartbeat'))
    const big = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD })
    const closed = new Promise<void>((r) => big.once('close', () => r()))
    big.publish(topics.device('dev-a', 'heartbeat'), Buffer.alloc(2 * 1024 * 1024), { qos: 0 })
    await closed
    big.end(true)
    const ok = await connect(url, { username: 'dev-b', password: DEVICE_PASSWORD })
    await ok.publishAsync(topics.device('dev-b', 'heartbeat'), Buffer.from([0xa0]), { qos: 1 })
    await until(() => seen.length === 1, 3000, 'heartbeat from the well-behaved client')
    expect(seen[0]!.topic).toBe(topics.device('dev-b', 'heartbeat'))
    await ok.endAsync()
    await watcher.endAsync()
  })

  it('closes a client that sends a malformed remaining length', async () => {
    const { connect: tcp } = await import('node:net')
    const s = tcp(hub.boundPorts!.port, '127.0.0.1')
    await new Promise((r) => s.once('connect', r))
    s.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]))
    await new Promise((r) => s.once('close', r))
  })
})

describe('embedded broker: transports and protocol versions', () => {
  it('serves MQTT over WebSocket', async () => {
    const c = await connect(`ws://127.0.0.1:${hub.boundPorts!.wsPort}`, { username: 'dash', password: 'dash-secret' })
    const got = await collect(c, topics.hubAvailability)
    await until(() => got.length > 0, 3000, 'retained hub availability over WebSocket')
    expect(got[0]!.payload.toString()).toBe('online')
    await c.endAsync()
  })

  it('refuses WebSocket frames larger than the packet limit', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${hub.boundPorts!.wsPort}`, 'mqtt')
    await new Promise((r) => ws.once('open', r))
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)))
    ws.send(Buffer.alloc(2 * 1024 * 1024))
    expect(await closed).toBe(1009) // message too big
  })

  it('accepts MQTT 3.1 and 3.1.1 devices', async () => {
    for (const protocolVersion of [3, 4] as const) {
      const c = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD, protocolVersion, protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT' })
      expect(c.connected).toBe(true)
      await c.endAsync()
    }
  })

  it('refuses MQTT 5 clients with "unacceptable protocol version" (Aedes 1.2; see README § MQTT 5)', async () => {
    await expect(connect(url, { username: 'dev-a', password: DEVICE_PASSWORD, protocolVersion: 5 })).rejects.toThrow(/Unacceptable protocol version/)
  })
})

describe('embedded broker: anonymous access when configured', () => {
  it('lets anonymous loopback clients in when allowAnonymous is on', async () => {
    const open = await startHub({ broker: { embedded: { allowAnonymous: true } } })
    const c = await connect(deviceUrl(open), { clientId: 'demo-anon' })
    expect(c.connected).toBe(true)
    await c.endAsync()
    await open.stop()
  })

  it('recognises loopback addresses only as loopback', async () => {
    const { isLoopback } = await import('../../src/broker/acl.js')
    expect(['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'].map(isLoopback)).toEqual([true, true, true, true])
    expect(['10.0.0.5', '192.168.1.2', '::ffff:10.0.0.1', 'fe80::1', undefined].map(isLoopback)).toEqual([false, false, false, false, false])
  })
})
