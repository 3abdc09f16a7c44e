/**
 * Lent payloads (src/mqtt/lent-payloads.ts) through real brokers: large payloads of topics whose
 * every handler is transient arrive in reused buffers, byte for byte as sent; any other handler
 * of the topic, a small payload, or an MQTT 5 client gets its own buffer; tensors reassembled
 * from lent payloads (single-chunk ones included) keep their bytes after the buffers are reused.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { DoraClient } from '../../src/mqtt/client.js'
import { LEND_MIN_BYTES, isLent } from '../../src/mqtt/lent-payloads.js'
import { Reassembler, topics, type Tensor } from '../../src/protocol/index.js'
import { decodeTensorMessage } from '../../src/protocol/chunk-batch.js'
import { sendTensor } from '../../src/runtime/send-tensor.js'
import { startMosquitto } from '../helpers/mosquitto.js'
import { until } from '../helpers/hub.js'
import { startBareBroker } from '../helpers/bare-broker.js'

const stops: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s().catch(() => {})
})

const embedded = () => startBareBroker(stops)

async function mosquitto(): Promise<string> {
  const m = await startMosquitto()
  stops.push(() => m.stop())
  return `mqtt://127.0.0.1:${m.port}`
}

async function client(url: string, id: string, protocolVersion: 4 | 5 = 4): Promise<DoraClient> {
  const c = new DoraClient({ url, clientId: id, maxInflight: 16, publishTimeoutMs: 10_000, protocolVersion })
  await c.start()
  stops.push(() => c.stop(false))
  return c
}

const bytes = (n: number, seed: number) => {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff
  return b
}

const TOPIC = topics.tensors('j', 'd')

// Aedes speaks MQTT 3.1.1 only: the MQTT 5 client goes to Mosquitto
describe.each([['embedded broker', embedded, false], ['Mosquitto', mosquitto, true]] as const)('lent payloads through the %s', (_name, broker, mqtt5) => {
  it('lends large payloads to transient handlers, reuses the buffers, and delivers every byte', async () => {
    const url = await broker()
    const sender = await client(url, 's')
    const receiver = await client(url, 'r')
    const sizes = [LEND_MIN_BYTES - 1, LEND_MIN_BYTES, 256 * 1024 + 77, 300_000, 1000, 256 * 1024 + 77, 200_000]
    const got: Array<{ ok: boolean; lent: boolean; buffer: ArrayBufferLike }> = []
    await receiver.subscribe(TOPIC, (_t, p) => {
      const i = got.length
      got.push({ ok: Buffer.compare(p, bytes(sizes[i]!, i)) === 0, lent: isLent(p), buffer: p.buffer })
    }, { transient: true })
    for (const [i, n] of sizes.entries()) await sender.publish(TOPIC, bytes(n, i), { qos: 1 })
    await until(() => got.length === sizes.length, 10_000)
    expect(got.map((g) => g.ok)).toEqual(sizes.map(() => true))
    expect(got.map((g) => g.lent)).toEqual(sizes.map((n) => n >= LEND_MIN_BYTES))
    // one after another, the same buffers come back: fewer distinct buffers than lent payloads
    const lentBuffers = new Set(got.filter((g) => g.lent).map((g) => g.buffer))
    expect(lentBuffers.size).toBeLessThan(got.filter((g) => g.lent).length)
  })

  it('lends nothing when any handler of the topic keeps its payload, nor to an MQTT 5 client', async () => {
    const url = await broker()
    const sender = await client(url, 's')
    const mixed = await client(url, 'r')
    const v5 = mqtt5 ? await client(url, 'r5', 5) : null
    const seen: boolean[] = []
    const kept: Buffer[] = []
    await mixed.subscribe(TOPIC, (_t, p) => void seen.push(isLent(p)), { transient: true })
    const keep = (_t: string, p: Buffer) => void kept.push(p) // keeps it
    await mixed.subscribe(TOPIC, keep)
    const v5seen: boolean[] = []
    await v5?.subscribe(TOPIC, (_t, p) => void v5seen.push(isLent(p)), { transient: true })
    for (let i = 0; i < 3; i++) await sender.publish(TOPIC, bytes(200_000, i), { qos: 1 })
    await until(() => kept.length === 3 && v5seen.length === (mqtt5 ? 3 : 0), 10_000)
    expect([...seen, ...v5seen]).toEqual(Array(mqtt5 ? 6 : 3).fill(false))
    expect(kept.map((p, i) => Buffer.compare(p, bytes(200_000, i)))).toEqual([0, 0, 0])
    // once the keeping handler is gone, the topic's payloads are lent again
    await mixed.unsubscribe(TOPIC, keep)
    await sender.publish(TOPIC, bytes(200_000, 9), { qos: 1 })
    await until(() => seen.length === 4, 10_000)
    expect(seen[3]).toBe(true)
  })
})

describe('tensors reassembled from lent payloads', () => {
  it('keep their bytes after the buffers are reused (single-chunk tensors copied, multi-chunk ones reassembled)', async () => {
    const url = await embedded()
    const sender = await client(url, 's')
    const receiver = await client(url, 'r')
    const r = new Reassembler({ timeoutMs: 60_000, maxTensorBytes: 2 ** 26, maxPendingBytes: 2 ** 27, transientInput: isLent })
    const done: Tensor[] = []
    let lent = 0
    await receiver.subscribe(TOPIC, (_t, payload) => {
      if (isLent(payload)) lent++
      const m = decodeTensorMessage(payload)
      if (!m.ok) throw new Error(m.error)
      for (const d of m.chunks) {
        if (!d.ok) throw new Error(d.error)
        const res = r.add(d.chunk, 0)
        if (res.status === 'complete') done.push(res.tensor)
      }
    }, { transient: true })
    // 200 KB tensors go as one chunk each (a lent payload), 600 KB ones as three
    const sizes = [200_000, 600_000, 200_000, 200_000, 600_000, 200_000]
    for (const [i, n] of sizes.entries()) {
      await sendTensor((t, p) => sender.publish(t, p, { qos: 1 }), TOPIC, { name: 'x', dtype: 'uint8', shape: [n], data: bytes(n, i) }, { req: `q${i}`, epoch: null }, 256 * 1024)
    }
    await until(() => done.length === sizes.length, 10_000)
    expect(lent).toBe(2 + 2 * 3 + 2)
    expect(done.map((t, i) => Buffer.compare(Buffer.from(t.data), bytes(sizes[i]!, i)))).toEqual(sizes.map(() => 0))
    expect(done.map((t) => isLent(t.data))).toEqual(sizes.map(() => false))
  })
})
