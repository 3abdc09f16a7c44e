import { afterEach, describe, expect, it } from 'vitest'
import { EmbeddedBroker } from '../../src/broker/embedded.js'
import { Acl } from '../../src/broker/acl.js'
import { silentLogger } from '../../src/log.js'
import { DoraClient } from '../../src/mqtt/client.js'
import { Reassembler, topics } from '../../src/protocol/index.js'
import { decodeTensorMessage } from '../../src/protocol/chunk-batch.js'
import { ChunkBatcher, batcherOptions, carriesChunks } from '../../src/runtime/chunk-batcher.js'
import { sendTensor } from '../../src/runtime/send-tensor.js'
import { joined } from '../../src/shared/split-payload.js'
import { until } from '../helpers/hub.js'

const stops: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s().catch(() => {})
})

async function setup() {
  const broker = new EmbeddedBroker({
    host: '127.0.0.1', port: 0, wsPort: null, tls: null, maxPacketBytes: 1024 * 1024, drainTimeoutMs: 5000, log: silentLogger,
    acl: new Acl({ hub: { username: 'h', password: 'unused-password' }, devices: [], observers: [], allowAnonymous: true, anonymousLoopbackOnly: true, jobsOf: () => [] }),
  })
  const { port } = await broker.start()
  stops.push(() => broker.stop())
  const mk = async (id: string) => {
    const c = new DoraClient({ url: `mqtt://127.0.0.1:${port}`, clientId: id, maxInflight: 16, publishTimeoutMs: 10_000 })
    await c.start()
    stops.push(() => c.stop())
    return c
  }
  return { sender: await mk('sender'), receiver: await mk('receiver') }
}

describe('chunk batcher (topics.md § Tensor chunks, batches)', () => {
  it('batches a burst of small tensors; every one arrives once, with its bytes', async () => {
    const { sender, receiver } = await setup()
    const topic = topics.tensors('job1', 'dev-b')
    const seen = new Map<string, number>()
    let messages = 0
    const r = new Reassembler({ timeoutMs: 10_000, maxTensorBytes: 1 << 20, maxPendingBytes: 1 << 24 })
    await receiver.subscribe(topic, (_t, payload) => {
      messages++
      const m = decodeTensorMessage(payload)
      if (!m.ok) throw new Error(m.error)
      for (const c of m.chunks) {
        if (!c.ok) throw new Error(c.error)
        const a = r.add(c.chunk, 0)
        if (a.status === 'complete') seen.set(a.tensor.req, a.tensor.data[5]! + (seen.get(a.tensor.req) ?? 0) * 1000)
      }
    })
    const batcher = new ChunkBatcher((t, p) => sender.publish(t, p, { qos: 1 }), batcherOptions(256 * 1024))
    const n = 2000
    await Promise.all(Array.from({ length: n }, (_, k) =>
      sendTensor((t, p) => batcher.send(t, p), topic, { name: 'x', dtype: 'uint8', shape: [1024], data: new Uint8Array(1024).fill(k & 0xff) }, { req: `r${k}`, epoch: null }, 256 * 1024)))
    await until(() => seen.size === n, 10_000)
    for (let k = 0; k < n; k++) expect(seen.get(`r${k}`)).toBe(k & 0xff)
    expect(batcher.stats.batches).toBeGreaterThan(0)
    expect(messages).toBeLessThan(n / 4)
  })

  it('sends at once, alone, when its topic is idle; large tensors and non-chunk topics never batch', async () => {
    const sent: Buffer[] = []
    const batcher = new ChunkBatcher(async (_t, p) => {
      sent.push(joined(p))
    }, batcherOptions(256 * 1024))
    await batcher.send(topics.tensors('j', 'd'), Buffer.alloc(100))
    await batcher.send(topics.tensors('j', 'd'), Buffer.alloc(100))
    expect(sent.map((p) => p.length)).toEqual([100, 100])
    expect(batcher.stats.batches).toBe(0)
    expect(carriesChunks(topics.tensors('j', 'd'))).toBe(true)
    expect(carriesChunks(topics.results('j', 'hub'))).toBe(true)
    expect(carriesChunks(topics.results('j', 'cam', 'receipts'))).toBe(false)
    expect(carriesChunks(topics.job('j', 'steps'))).toBe(false)
    expect(carriesChunks(topics.job('j', 'plan'))).toBe(false)
  })

  it('a failed publish fails every tensor of its batch', async () => {
    let calls = 0
    const batcher = new ChunkBatcher(async () => {
      const call = ++calls
      await new Promise((r) => setTimeout(r, 10))
      if (call > 2) throw new Error('broker gone')
    }, batcherOptions(256 * 1024))
    const topic = topics.tensors('j', 'd')
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => batcher.send(topic, Buffer.alloc(100))))
    expect(results.slice(0, 2).every((x) => x.status === 'fulfilled')).toBe(true)
    expect(results.slice(2).every((x) => x.status === 'rejected')).toBe(true)
    expect(calls).toBe(3)
  })
})
