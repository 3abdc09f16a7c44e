/**
 * One side of a transfer benchmark case, run as its own process so the broker (or relay), the
 * sender and the receiver each have their own event loop, as devices and hub do.
 *   transfer-peer.ts send|recv mqtt|bare|raw PORT SIZE COUNT CHUNK
 * mqtt: Dora's data plane (CBOR chunks with CRC, QoS 1, reassembly); bare: the same chunk bytes
 * published as plain MQTT payloads (QoS 1, no codec), to separate codec cost from broker cost;
 * raw: length-prefixed tensors through a TCP relay.
 * Prints one JSON line: {"startMs"} (sender) or {"endMs"} (receiver), and "ready" when listening.
 */
import net from 'node:net'
import { DoraClient } from '../src/mqtt/client.js'
import { Reassembler, decodeTensorChunk, encodeTensorChunks, topics } from '../src/protocol/index.js'

const [role, mode, portS, sizeS, countS, chunkS] = process.argv.slice(3)
const port = Number(portS)
const size = Number(sizeS)
const count = Number(countS)
const chunk = Number(chunkS)
const TOPIC = topics.tensors('bench', 'receiver')
const now = () => performance.timeOrigin + performance.now()
const say = (v: unknown) => process.stdout.write(`${typeof v === 'string' ? v : JSON.stringify(v)}\n`)

async function client(role: string): Promise<DoraClient> {
  const c = new DoraClient({ url: `mqtt://127.0.0.1:${port}`, clientId: `${role}-${process.pid}`, maxInflight: 16, publishTimeoutMs: 60_000 })
  await c.start()
  return c
}

async function mqttRecv(): Promise<void> {
  const c = await client('recv')
  const r = new Reassembler({ timeoutMs: 600_000, maxTensorBytes: 2 ** 31, maxPendingBytes: 2 ** 32 })
  let done = 0
  await c.subscribe(TOPIC, (_t, payload) => {
    const d = decodeTensorChunk(payload)
    if (!d.ok) throw new Error(d.error)
    const res = r.add(d.chunk, 0)
    if (res.status === 'complete') r.release(res.tensor) // a device releases after running its stage
    if (res.status === 'complete' && ++done === count) {
      say({ endMs: now() })
      void c.stop().then(() => process.exit(0))
    }
  })
  say('ready')
}

async function bareRecv(): Promise<void> {
  const c = await client('recv')
  let got = 0
  await c.subscribe(TOPIC, (_t, payload) => {
    got += payload.byteLength
    if (got === size * count) {
      say({ endMs: now() })
      void c.stop().then(() => process.exit(0))
    }
  })
  say('ready')
}

async function bareSend(): Promise<void> {
  const c = await client('send')
  const tensor = Buffer.alloc(size, 7)
  const start = now()
  const window: Promise<void>[] = []
  for (let k = 0; k < count; k++) {
    for (let off = 0; off < size; off += chunk) {
      window.push(c.publish(TOPIC, tensor.subarray(off, Math.min(size, off + chunk)), { qos: 1 }))
      if (window.length >= 64) await window.shift()
    }
  }
  await Promise.all(window)
  say({ startMs: start })
  await c.stop()
}

async function mqttSend(): Promise<void> {
  const c = await client('send')
  const tensor = new Uint8Array(size)
  for (let i = 0; i < size; i += 4096) tensor[i] = i & 0xff
  const start = now()
  const window: Promise<void>[] = []
  for (let k = 0; k < count; k++) {
    for (const msg of encodeTensorChunks({ req: `r${k}`, name: 'x', dtype: 'uint8', shape: [size], epoch: null }, tensor, chunk)) {
      window.push(c.publish(TOPIC, msg, { qos: 1 }))
      if (window.length >= 64) await window.shift()
    }
  }
  await Promise.all(window)
  say({ startMs: start })
  await c.stop()
}

function rawRecv(): void {
  const s = net.connect(port, '127.0.0.1', () => {
    s.write('R')
    say('ready')
  })
  const total = (size + 4) * count
  let got = 0
  s.on('data', (b: Buffer) => {
    got += b.length
    if (got >= total) {
      say({ endMs: now() })
      s.destroy()
      process.exit(0)
    }
  })
}

function rawSend(): void {
  const tensor = Buffer.alloc(size, 7)
  const s = net.connect(port, '127.0.0.1', async () => {
    s.write('S')
    await new Promise((r) => setTimeout(r, 50))
    const start = now()
    for (let k = 0; k < count; k++) {
      const head = Buffer.alloc(4)
      head.writeUInt32LE(size)
      s.write(head)
      if (!s.write(tensor)) await new Promise((r) => s.once('drain', r))
    }
    s.end(() => say({ startMs: start }))
  })
}

if (mode === 'mqtt') await (role === 'send' ? mqttSend() : mqttRecv())
else if (mode === 'bare') await (role === 'send' ? bareSend() : bareRecv())
else role === 'send' ? rawSend() : rawRecv()
