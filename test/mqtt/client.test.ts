import { afterEach, describe, expect, it } from 'vitest'
import net from 'node:net'
import { DoraClient } from '../../src/mqtt/client.js'
import { startMosquitto, freePort, type Mosquitto } from '../helpers/mosquitto.js'
import { until } from '../helpers/hub.js'

let mosq: Mosquitto | undefined
const clients: DoraClient[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) await c.stop(false).catch(() => {})
  await mosq?.stop()
  mosq = undefined
})

const client = (url: string, extra: Partial<ConstructorParameters<typeof DoraClient>[0]> = {}) => {
  const c = new DoraClient({ url, clientId: `t-${Math.random().toString(16).slice(2)}`, maxInflight: 4, publishTimeoutMs: 2000, reconnectPeriodMs: 100, ...extra })
  clients.push(c)
  return c
}

describe('DoraClient (bounded, timed, resubscribing)', () => {
  it('never has more than maxInflight publishes awaiting acknowledgement', async () => {
    mosq = await startMosquitto()
    const c = client(mosq.url)
    await c.start()
    let peak = 0
    const payload = Buffer.alloc(256 * 1024)
    const all = Array.from({ length: 40 }, () => c.publish('t/x', payload, { qos: 1 }))
    const watch = setInterval(() => (peak = Math.max(peak, c.publishesAwaitingAck)), 1)
    await Promise.all(all)
    clearInterval(watch)
    expect(peak).toBeLessThanOrEqual(4)
    expect(peak).toBeGreaterThan(0)
    expect(c.publishesInFlight).toBe(0)
  })

  it('a publish fails with a timeout while the broker is unreachable, instead of hanging', async () => {
    // A TCP server that accepts and answers the CONNECT, then goes silent (no PUBACK ever).
    const port = await freePort()
    const server = net.createServer((s) => s.once('data', () => s.write(Buffer.from([0x20, 0x02, 0x00, 0x00]))))
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()))
    const c = client(`mqtt://127.0.0.1:${port}`, { publishTimeoutMs: 300 })
    await c.start()
    await expect(c.publish('t/x', 'hello', { qos: 1 })).rejects.toThrow(/not acknowledged within 300 ms/)
    expect(c.publishesInFlight).toBe(0)
    await c.stop(false)
    server.close()
  })

  it('restores its subscriptions after the broker restarts', async () => {
    mosq = await startMosquitto()
    const port = mosq.port
    const told: string[] = []
    const c = client(mosq.url, { onReconnect: () => told.push('reconnected'), onOutage: (m) => told.push(m) })
    await c.start()
    const got: string[] = []
    await c.subscribe('t/+', (_t, p) => got.push(p.toString()))
    const pub = client(mosq.url)
    await pub.start()
    await pub.publish('t/a', 'before')
    await until(() => got.includes('before'), 3000, 'message before restart')
    await mosq.stop()
    await until(() => !c.connected, 3000, 'disconnect')
    // down long enough for several reconnection attempts to be refused
    await new Promise((r) => setTimeout(r, 500))
    mosq = await startMosquittoOn(port)
    await until(() => c.connected && pub.connected, 5000, 'reconnect')
    await new Promise((r) => setTimeout(r, 200))
    await pub.publish('t/b', 'after')
    await until(() => got.includes('after'), 3000, 'message after restart')
    // the outage reported once (however many reconnect attempts failed), the reconnection told once
    expect(told.filter((m) => m.startsWith('broker: '))).toHaveLength(1)
    expect(told.filter((m) => m === 'reconnected')).toHaveLength(1)
  })

  it('a second handler of a filter whose SUBACK is on its way waits for it; several filters go in one SUBSCRIBE', async () => {
    mosq = await startMosquitto()
    const c = client(mosq.url)
    await c.start()
    const order: string[] = []
    const got: string[] = []
    const first = c.subscribe(['t/a', 't/b'], (topic) => got.push(`1 ${topic}`)).then(() => order.push('first'))
    const second = c.subscribe('t/a', (topic) => got.push(`2 ${topic}`)).then(() => order.push('second'))
    await Promise.all([first, second])
    expect(order).toEqual(['first', 'second'])
    const pub = client(mosq.url)
    await pub.start()
    await pub.publish('t/a', 'x')
    await pub.publish('t/b', 'y')
    await until(() => got.length >= 3, 3000, 'messages to both handlers')
    expect(got.sort()).toEqual(['1 t/a', '1 t/b', '2 t/a'])
  })

  it('drop() ends the connection without a DISCONNECT: the broker sends the last will', async () => {
    mosq = await startMosquitto()
    const watcher = client(mosq.url)
    await watcher.start()
    const wills: string[] = []
    await watcher.subscribe('t/will', (_t, p) => wills.push(p.toString()))
    const c = client(mosq.url, { will: { topic: 't/will', payload: 'gone', qos: 1, retain: false } })
    await c.start()
    c.drop()
    expect(c.connected).toBe(false)
    await until(() => wills.includes('gone') || null, 5000, 'the last will')
  })

  it('start() rejects with a clear error when nothing listens', async () => {
    const port = await freePort()
    const c = client(`mqtt://127.0.0.1:${port}`)
    await expect(c.start()).rejects.toThrow(new RegExp(`cannot connect to mqtt://127.0.0.1:${port} as t-`))
    const named = client(`mqtt://127.0.0.1:${port}`, { label: 'device cam' })
    await expect(named.start()).rejects.toThrow(new RegExp(`^device cam cannot connect to mqtt://127.0.0.1:${port}: .*ECONNREFUSED`))
  })
})

async function startMosquittoOn(port: number): Promise<Mosquitto> {
  for (let i = 0; i < 20; i++) {
    const m = await startMosquitto(port).catch(() => null)
    if (m) return m
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`could not restart mosquitto on ${port}`)
}
