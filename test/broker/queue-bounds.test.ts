/**
 * What a persistent session (MQTT clean=false) may have queued at the embedded broker is bounded
 * (src/broker/bounded-queues.ts): a client that subscribes with a persistent session and never
 * acknowledges, or goes away, no longer makes the hub hold every message of its filter. Real
 * Aedes on a loopback port, a real mqtt.js publisher, and a raw MQTT subscriber that acknowledges
 * only when told to (mqtt.js always acknowledges).
 */
import { afterEach, describe, expect, it } from 'vitest'
import net from 'node:net'
import mqttPacket from 'mqtt-packet'
import mqtt from 'mqtt'
import { EmbeddedBroker } from '../../src/broker/embedded.js'
import { Acl } from '../../src/broker/acl.js'
import { silentLogger } from '../../src/log.js'

const stops: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s()
})

const CHUNK = 64 * 1024
const BOUND = { maxMessages: 10_000, maxBytes: 4 * 1024 * 1024 }

async function broker(): Promise<{ b: EmbeddedBroker; port: number }> {
  const b = new EmbeddedBroker({
    host: '127.0.0.1', port: 0, wsPort: null, tls: null, maxPacketBytes: 1024 * 1024, drainTimeoutMs: 5000, log: silentLogger, maxQueued: BOUND,
    acl: new Acl({ hub: { username: 'h', password: 'unused-password' }, devices: [], observers: [], allowAnonymous: true, anonymousLoopbackOnly: true, jobsOf: () => [] }),
  })
  const { port } = await b.start()
  stops.push(() => b.stop())
  return { b, port }
}

/** A subscriber on `dora/v1/x/#` at QoS 1 with a persistent session; acknowledges only with `ack`. */
async function subscriber(port: number, ack: boolean, clientId = 'dash') {
  const sock = net.connect(port, '127.0.0.1')
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  let got = 0
  parser.on('packet', (p) => {
    if (p.cmd !== 'publish') return
    got++
    if (ack && p.qos === 1) sock.write(mqttPacket.generate({ cmd: 'puback', messageId: p.messageId! }))
  })
  sock.on('data', (d) => parser.parse(d))
  sock.on('error', () => undefined)
  stops.push(() => void sock.destroy())
  await new Promise((r) => sock.once('connect', r))
  sock.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId, keepalive: 60 }))
  sock.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'dora/v1/x/#', qos: 1 }] }))
  await new Promise((r) => setTimeout(r, 200))
  return { got: () => got, close: () => new Promise<void>((r) => { sock.once('close', () => r()); sock.end() }) }
}

async function publish(port: number, n: number): Promise<void> {
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'pub' })
  stops.push(() => pub.endAsync())
  const payload = Buffer.alloc(CHUNK, 7)
  for (let i = 0; i < n; i++) await pub.publishAsync('dora/v1/x/a', payload, { qos: 1 })
}

describe('persistent sessions at the embedded broker', () => {
  it('a session that never acknowledges holds at most its bound; the broker drops the rest for it', async () => {
    const { b, port } = await broker()
    await subscriber(port, false)
    await publish(port, 200) // 12.5 MiB against a 4 MiB bound
    expect(b.queues!.queued('dash').bytes).toBeLessThanOrEqual(BOUND.maxBytes)
    expect(b.queues!.queued('dash').messages).toBe(BOUND.maxBytes / CHUNK)
    expect(b.queues!.dropped).toBe(200 - BOUND.maxBytes / CHUNK)
  })

  it('a session away gets back what was queued within its bound, and acknowledging makes room again', async () => {
    const { b, port } = await broker()
    const first = await subscriber(port, true)
    await first.close()
    await publish(port, 200)
    expect(b.queues!.queued('dash').messages).toBe(BOUND.maxBytes / CHUNK)
    const back = await subscriber(port, true)
    await expect.poll(() => back.got(), { timeout: 5000 }).toBe(BOUND.maxBytes / CHUNK)
    await expect.poll(() => b.queues!.queued('dash').messages, { timeout: 5000 }).toBe(0)
    // acknowledged: a session that keeps up gets everything, however much passes
    await publish(port, 200)
    await expect.poll(() => back.got(), { timeout: 5000 }).toBe(BOUND.maxBytes / CHUNK + 200)
    expect(b.queues!.queued('dash').messages).toBe(0)
  })

  it('one account\'s sessions share the bound: more client ids buy no more room', async () => {
    const { b, port } = await broker()
    // both anonymous: one account
    await subscriber(port, false, 'dash-1')
    await subscriber(port, false, 'dash-2')
    await publish(port, 100)
    const total = b.queues!.queued('dash-1').account
    expect(total).toEqual(b.queues!.queued('dash-2').account)
    expect(total.bytes).toBe(BOUND.maxBytes)
    expect(b.queues!.queued('dash-1').bytes + b.queues!.queued('dash-2').bytes).toBe(BOUND.maxBytes)
    expect(b.queues!.dropped).toBe(2 * 100 - BOUND.maxBytes / CHUNK)
  })
})
