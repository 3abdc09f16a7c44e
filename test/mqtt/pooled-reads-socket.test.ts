/**
 * DoraClient's framed reads (src/mqtt/pooled-reads.ts) on a real connection through a real
 * broker (Aedes): a subscriber whose handler is slow makes mqtt.js pause the socket (its parser's
 * stream is full) while packets of every size keep coming; every message still arrives, in
 * order, with its bytes; and after the broker drops the connection, the new connection (a new
 * socket and framer) carries messages as before.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { DoraClient } from '../../src/mqtt/client.js'
import { startBareBroker } from '../helpers/bare-broker.js'
import { until } from '../helpers/hub.js'

const stops: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s().catch(() => {})
})

const client = (url: string, clientId = `t-${Math.random().toString(16).slice(2)}`) => {
  const c = new DoraClient({ url, clientId, maxInflight: 16, publishTimeoutMs: 10_000, reconnectPeriodMs: 100 })
  stops.push(() => c.stop(false))
  return c
}

/** Message `i`: its size cycles through small, one read, lent and several reads; its bytes say `i`. */
const message = (i: number) => {
  const n = [10, 300, 70_000, 5_000, 300_000, 65_536][i % 6]!
  const b = Buffer.alloc(n, i & 0xff)
  b.writeUInt32BE(i, 0)
  return b
}
const busy = (ms: number) => {
  const end = performance.now() + ms
  while (performance.now() < end);
}

describe('framed reads on a real connection', () => {
  it('a slow subscriber gets every message, in order, whole; and again after a reconnect', async () => {
    const url = await startBareBroker(stops)
    const sub = client(url)
    await sub.start()
    const stream = () => (sub as unknown as { client: { stream: NodeJS.EventEmitter } }).client.stream
    let pauses = 0
    const first = stream()
    first.on('pause', () => pauses++)
    const got: Array<{ i: number; ok: boolean }> = []
    const onMessage = (_t: string, p: Buffer) => {
      const i = p.readUInt32BE(0)
      got.push({ i, ok: Buffer.compare(p, message(i)) === 0 })
      busy(1) // slower than the broker sends: the parser's stream fills and mqtt.js pauses the socket
    }
    await sub.subscribe('dora/v1/tensors/#', onMessage, { transient: true })
    await sub.subscribe('dora/v1/plain/#', onMessage)
    const pub = client(url)
    await pub.start()
    const send = async (from: number, to: number) => {
      const all: Array<Promise<void>> = []
      for (let i = from; i < to; i++) all.push(pub.publish(i % 2 ? 'dora/v1/tensors/j/a' : 'dora/v1/plain/x', message(i), { qos: 1 }))
      await Promise.all(all)
    }
    await send(0, 240)
    await until(() => got.length >= 240, 30_000)
    expect(got).toEqual(Array.from({ length: 240 }, (_, i) => ({ i, ok: true })))
    expect(pauses).toBeGreaterThan(0) // the back-pressure path was taken

    // the broker drops the subscriber (a client with its id takes over, then leaves): it reconnects and resubscribes
    const usurper = client(url, (sub as unknown as { options: { clientId: string } }).options.clientId)
    await usurper.start()
    await usurper.stop(false)
    await until(() => sub.connected && stream() !== first, 10_000)
    await new Promise((r) => setTimeout(r, 300)) // its subscriptions restored
    got.length = 0
    await send(240, 360)
    await until(() => got.length >= 120, 30_000)
    expect(got).toEqual(Array.from({ length: 120 }, (_, k) => ({ i: 240 + k, ok: true })))
  }, 90_000)
})
