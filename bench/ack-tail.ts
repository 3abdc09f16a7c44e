/**
 * Stalls at the end of a tensor: Dora's sender sends tensors one at a time (sendTensor, QoS 1)
 * and records, per tensor, the largest gap between successive PUBACKs among its last 16 (where a
 * sender that has nothing more to send waits). With Nagle's algorithm on the broker's side, the
 * last PUBACKs wait for the sender's delayed TCP acknowledgement: about 40 ms (BENCHMARKS.md,
 * issue 18, fourth pass).
 *   node bin/run-ts.mjs bench/ack-tail.ts mosquitto|mosquitto-nodelay|aedes [MiB per tensor] [tensors]
 */
import { DoraClient } from '../src/mqtt/client.js'
import { sendTensor } from '../src/runtime/send-tensor.js'
import { ChunkBatcher, batcherOptions } from '../src/runtime/chunk-batcher.js'
import { DEFAULT_CHUNK_BYTES } from '../src/protocol/chunks.js'
import { topics } from '../src/protocol/index.js'
import { EmbeddedBroker } from '../src/broker/embedded.js'
import { Acl } from '../src/broker/acl.js'
import { silentLogger } from '../src/log.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'

const [kind = 'mosquitto', mibS = '1', countS = '100'] = process.argv.slice(3)
const size = Number(mibS) * 1024 * 1024
const count = Number(countS)

async function broker(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (kind === 'aedes') {
    const b = new EmbeddedBroker({
      host: '127.0.0.1', port: 0, wsPort: null, tls: null, maxPacketBytes: 1024 * 1024, drainTimeoutMs: 30_000, log: silentLogger,
      acl: new Acl({ hub: { username: 'h', password: 'unused-password' }, devices: [], observers: [], allowAnonymous: true, anonymousLoopbackOnly: true, jobsOf: () => [] }),
    })
    const { port } = await b.start()
    return { url: `mqtt://127.0.0.1:${port}`, stop: () => b.stop() }
  }
  return startMosquitto(undefined, `max_queued_messages 0\n${kind === 'mosquitto-nodelay' ? 'set_tcp_nodelay true\n' : ''}`)
}

const b = await broker()
const topic = topics.tensors('bench', 'receiver')
const sender = new DoraClient({ url: b.url, clientId: 'ack-tail-send', maxInflight: 16, publishTimeoutMs: 60_000 })
const receiver = new DoraClient({ url: b.url, clientId: 'ack-tail-recv', maxInflight: 16, publishTimeoutMs: 60_000 })
await sender.start()
await receiver.start()
await receiver.subscribe(topic, () => {}, { transient: true })
let acks: number[] = []
const out = new ChunkBatcher((t, p) => sender.publish(t, p, { qos: 1 }).then(() => void acks.push(performance.now())), batcherOptions(DEFAULT_CHUNK_BYTES))
const tensor = new Uint8Array(size)
const chunks = Math.ceil(size / DEFAULT_CHUNK_BYTES)
const largest: number[] = []
for (let k = 0; k < count; k++) {
  acks = []
  const t0 = performance.now()
  await sendTensor((t, p) => out.send(t, p), topic, { name: 'x', dtype: 'uint8', shape: [size], data: tensor }, { req: `r${k}`, epoch: null }, DEFAULT_CHUNK_BYTES)
  const gaps = acks.map((a, i) => a - (i ? acks[i - 1]! : t0)).slice(Math.max(0, chunks - 16))
  largest.push(Math.max(...gaps))
}
await sender.stop()
await receiver.stop()
await b.stop()
const sorted = [...largest].sort((x, y) => x - y)
console.log(`${kind}, ${mibS} MiB tensors: ${largest.filter((g) => g >= 35).length} of ${count} with a gap >= 35 ms between PUBACKs among their last 16; median largest gap ${sorted[count >> 1]!.toFixed(1)} ms`)
