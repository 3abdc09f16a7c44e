/**
 * Split payloads (a tensor chunk's header, then a view of the tensor, never joined) through real
 * brokers: the receiver gets exactly the joined bytes, whatever the QoS, the broker, or whether
 * the publish waited offline; an MQTT 5 client sends them joined.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { DoraClient } from '../../src/mqtt/client.js'
import { SplitPayload } from '../../src/shared/split-payload.js'
import { Reassembler, topics } from '../../src/protocol/index.js'
import { decodeTensorMessage } from '../../src/protocol/chunk-batch.js'
import { sendTensor } from '../../src/runtime/send-tensor.js'
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js'
import mqtt from 'mqtt'
import { canSendSplit, storeWithoutCopy } from '../../src/mqtt/no-copy-publish.js'
import { until } from '../helpers/hub.js'
import { startBareBroker } from '../helpers/bare-broker.js'

const stops: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s().catch(() => {})
})

const embedded = () => startBareBroker(stops)

async function mosquitto(port?: number): Promise<Mosquitto> {
  const m = await startMosquitto(port)
  stops.push(() => m.stop())
  return m
}

async function client(url: string, id: string, extra: Partial<ConstructorParameters<typeof DoraClient>[0]> = {}): Promise<DoraClient> {
  const c = new DoraClient({ url, clientId: id, maxInflight: 16, publishTimeoutMs: 10_000, reconnectPeriodMs: 100, ...extra })
  await c.start()
  stops.push(() => c.stop(false))
  return c
}

const bytes = (n: number, seed: number) => {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff
  return b
}

async function roundTrip(url: string, protocolVersion: 4 | 5 = 4): Promise<void> {
  const sender = await client(url, `s-${protocolVersion}`, { protocolVersion })
  const receiver = await client(url, `r-${protocolVersion}`)
  const got: Buffer[] = []
  const topic = topics.tensors('j', 'd') // one topic: order kept; the embedded broker's ACL lets anonymous loopback clients use it
  await receiver.subscribe(topic, (_t, p) => got.push(Buffer.from(p)))
  const sent = [
    new SplitPayload(Buffer.from('head-one'), bytes(300 * 1024, 1)),
    Buffer.from('an ordinary payload'),
    new SplitPayload(Buffer.from([0xa1]), bytes(200_000, 2)),
    new SplitPayload(Buffer.alloc(0), bytes(10, 3)),
    new SplitPayload(Buffer.from('qos0'), bytes(70_000, 4)),
  ]
  for (const [i, p] of sent.entries()) await sender.publish(topic, p, { qos: i === 4 ? 0 : 1 })
  await until(() => got.length === sent.length, 5000, 'all messages')
  const want = sent.map((p) => (p instanceof SplitPayload ? p.join() : p))
  expect(got.map((g, i) => g.equals(want[i]!))).toEqual(want.map(() => true))
}

describe('split payloads through real brokers', () => {
  it('arrive as the joined bytes through the embedded broker (QoS 1 and 0, mixed with ordinary payloads)', async () => {
    await roundTrip(await embedded())
  })

  it('arrive as the joined bytes through Mosquitto', async () => {
    await roundTrip((await mosquitto()).url)
  })

  it('an MQTT 3.1.1 client writes them unjoined; an MQTT 5 one does not', () => {
    for (const [protocolVersion, split] of [[4, true], [5, false]] as const) {
      const c = mqtt.connect('mqtt://127.0.0.1:1', { protocolVersion, reconnectPeriod: 0, manualConnect: true })
      storeWithoutCopy(c)
      expect(canSendSplit(c)).toBe(split)
    }
  })

  it('an MQTT 5 client sends them joined', async () => {
    await roundTrip((await mosquitto()).url, 5)
  })

  it('a publish that waited offline arrives whole after the reconnect', async () => {
    let m = await mosquitto()
    const port = m.port
    const sender = await client(m.url, 'offline-sender')
    await m.stop()
    await until(() => !sender.connected, 3000, 'disconnect')
    const body = bytes(256 * 1024, 9)
    // retained, so that a receiver subscribing after the reconnect reads exactly what was stored
    const pending = sender.publish('t/offline', new SplitPayload(Buffer.from('hdr'), body), { qos: 1, retain: true })
    for (let i = 0; i < 20; i++) {
      const again = await mosquitto(port).catch(() => null)
      if (again) {
        m = again
        break
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    await pending
    const receiver = await client(m.url, 'offline-receiver')
    const got: Buffer[] = []
    await receiver.subscribe('t/#', (_t, p) => got.push(Buffer.from(p)))
    await until(() => got.length > 0, 5000, 'the retained message')
    expect(got).toHaveLength(1)
    expect(got[0]!.equals(Buffer.concat([Buffer.from('hdr'), body]))).toBe(true)
  })

  it('a tensor sent in split chunks reassembles to its bytes through the embedded broker', async () => {
    const url = await embedded()
    const sender = await client(url, 'ts')
    const receiver = await client(url, 'tr')
    const topic = topics.tensors('j', 'b')
    const r = new Reassembler({ timeoutMs: 10_000, maxTensorBytes: 1 << 24, maxPendingBytes: 1 << 25 })
    let whole: Uint8Array | null = null
    await receiver.subscribe(topic, (_t, payload) => {
      const m = decodeTensorMessage(payload)
      if (!m.ok) throw new Error(m.error)
      for (const c of m.chunks) {
        if (!c.ok) throw new Error(c.error)
        const a = r.add(c.chunk, 0)
        if (a.status === 'complete') whole = Buffer.from(a.tensor.data)
      }
    })
    const data = bytes(3 * 256 * 1024 + 17, 5)
    await sendTensor((t, p) => sender.publish(t, p, { qos: 1 }), topic, { name: 'x', dtype: 'uint8', shape: [data.length], data }, { req: 'r1', epoch: 1 }, 256 * 1024)
    await until(() => whole !== null, 5000, 'the tensor')
    expect(Buffer.from(whole!).equals(Buffer.from(data))).toBe(true)
  })
})
