/**
 * One side of a transfer benchmark case, run as its own process so the broker (or relay), the
 * sender and the receiver each have their own event loop, as devices and hub do.
 *   transfer-peer.ts send|recv mqtt|bare|raw PORT SIZE COUNT CHUNK
 * mqtt: Dora's data plane as devices run it (sendTensor through the chunk batcher: CBOR chunks
 * with CRC, QoS 1, small tensors batched under load; receiving: decode, check, reassemble);
 * bare: the same chunk bytes published one per QoS 1 message, no codec, to separate codec cost
 * from broker cost; raw: length-prefixed tensors through a TCP relay (bench/transfer-relay.ts or
 * socat): the receiver connects to the relay's receiver port, the sender to its sender port.
 * Prints "ready" when listening, then one JSON line: {"startMs", "cpuMs"} (sender) or
 * {"endMs", "cpuMs"} (receiver); cpuMs = this process's CPU time over the transfer.
 */
import net from 'node:net'
import { DoraClient } from '../src/mqtt/client.js'
import { isLent } from '../src/mqtt/lent-payloads.js'
import { Reassembler, topics } from '../src/protocol/index.js'
import { decodeTensorMessage } from '../src/protocol/chunk-batch.js'
import { sendTensor } from '../src/runtime/send-tensor.js'
import { ChunkBatcher, batcherOptions } from '../src/runtime/chunk-batcher.js'
import { DEVICE_MAX_INFLIGHT } from '../device-firmware-bridge/connection.js'

const [role, mode, portS, sizeS, countS, chunkS] = process.argv.slice(3)
const port = Number(portS)
const size = Number(sizeS)
const count = Number(countS)
const chunk = Number(chunkS)
const TOPIC = topics.tensors('bench', 'receiver')
const now = () => performance.timeOrigin + performance.now()
const say = (v: unknown) => process.stdout.write(`${typeof v === 'string' ? v : JSON.stringify(v)}\n`)
let cpu0: NodeJS.CpuUsage | undefined
/** CPU ms this process used since it became ready (receiver) or started sending (sender). */
const cpuMs = () => {
  const u = process.cpuUsage(cpu0)
  return (u.user + u.system) / 1000
}
const ready = () => {
  cpu0 = process.cpuUsage()
  say('ready')
  watchdog()
}
/** A receiver that hears nothing for 30 s gives up loudly (a lost message would otherwise hang the run). */
let lastHeard = Date.now()
const heard = () => (lastHeard = Date.now())
function watchdog(): void {
  setInterval(() => {
    if (Date.now() - lastHeard < 30_000) return
    process.stderr.write(`transfer-peer recv ${mode}: nothing for 30 s, giving up\n`)
    process.exit(1)
  }, 1000).unref()
}
const finish = (c: DoraClient | null) => {
  say({ endMs: now(), cpuMs: cpuMs() })
  void (c ? c.stop() : Promise.resolve()).then(() => process.exit(0))
}

async function client(role: string): Promise<DoraClient> {
  // as a device sends and receives tensors: the device agent's default window (the hub's is config client.maxInflight)
  const c = new DoraClient({ url: `mqtt://127.0.0.1:${port}`, clientId: `${role}-${process.pid}`, maxInflight: DEVICE_MAX_INFLIGHT, publishTimeoutMs: 60_000 })
  await c.start()
  return c
}

async function mqttRecv(): Promise<void> {
  const c = await client('recv')
  const r = new Reassembler({ timeoutMs: 600_000, maxTensorBytes: 2 ** 31, maxPendingBytes: 2 ** 32, transientInput: isLent })
  let done = 0
  await c.subscribe(TOPIC, (_t, payload) => {
    heard()
    const m = decodeTensorMessage(payload)
    if (!m.ok) throw new Error(m.error)
    for (const d of m.chunks) {
      if (!d.ok) throw new Error(d.error)
      const res = r.add(d.chunk, 0)
      if (res.status !== 'complete') continue
      r.release(res.tensor) // a device releases after running its stage
      if (++done === count) finish(c)
    }
  }, { transient: true }) // as devices subscribe their tensors (device-firmware-bridge/agent.ts)
  ready()
}

async function bareRecv(): Promise<void> {
  const c = await client('recv')
  let got = 0
  await c.subscribe(TOPIC, (_t, payload) => {
    heard()
    got += payload.byteLength
    if (got === size * count) finish(c)
  })
  ready()
}

async function bareSend(): Promise<void> {
  const c = await client('send')
  const tensor = Buffer.alloc(size, 7)
  const start = now()
  cpu0 = process.cpuUsage()
  const window: Promise<void>[] = []
  for (let k = 0; k < count; k++) {
    for (let off = 0; off < size; off += chunk) {
      window.push(c.publish(TOPIC, tensor.subarray(off, Math.min(size, off + chunk)), { qos: 1 }))
      if (window.length >= 64) await window.shift()
    }
  }
  await Promise.all(window)
  say({ startMs: start, cpuMs: cpuMs() })
  await c.stop()
}

/** As a device sends: each tensor through sendTensor and the batcher; at most 16 MiB or 1024 tensors unacknowledged. */
async function mqttSend(): Promise<void> {
  const c = await client('send')
  const out = new ChunkBatcher((t, p) => c.publish(t, p, { qos: 1 }), batcherOptions(chunk))
  const tensor = new Uint8Array(size)
  for (let i = 0; i < size; i += 4096) tensor[i] = i & 0xff
  const window = Math.max(1, Math.min(1024, Math.floor((16 * 1024 * 1024) / size)))
  const start = now()
  cpu0 = process.cpuUsage()
  const pending: Promise<void>[] = []
  for (let k = 0; k < count; k++) {
    pending.push(sendTensor((t, p) => out.send(t, p), TOPIC, { name: 'x', dtype: 'uint8', shape: [size], data: tensor }, { req: `r${k}`, epoch: null }, chunk))
    if (pending.length >= window) await pending.shift()
  }
  await Promise.all(pending)
  say({ startMs: start, cpuMs: cpuMs() })
  await c.stop()
}

/** Connects to a relay on loopback, trying again for 5 s while it is not listening yet (socat listens on the sender's port only once the receiver is in). */
function connectRelay(onConnect: (s: net.Socket) => void, tries = 100): void {
  const s = net.connect(port, '127.0.0.1', () => onConnect(s))
  s.setNoDelay(true)
  s.once('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ECONNREFUSED' || tries <= 1) throw err
    s.destroy()
    setTimeout(() => connectRelay(onConnect, tries - 1), 50)
  })
}

/**
 * raw: PORT is the relay's receiver port; every byte the relay forwards is counted, nothing is
 * sent. Reads go into one reused 1 MiB buffer (net's `onread`), so that the receiver, not only
 * the relay, is as lean as a Node process can be: the bound, not a second bottleneck.
 */
function rawRecv(): void {
  const total = (size + 4) * count
  let got = 0
  const onread = {
    buffer: Buffer.allocUnsafe(1024 * 1024),
    callback: (n: number): boolean => {
      heard()
      got += n
      if (got < total) return true
      s.destroy()
      finish(null)
      return false
    },
  }
  const s = net.connect({ port, host: '127.0.0.1', onread, noDelay: true }, () => ready())
  s.once('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ECONNREFUSED') throw err
    setTimeout(rawRecv, 50) // socat not listening yet
  })
}

/** raw: PORT is the relay's sender port; each tensor as a 4-byte length and its bytes, written as fast as the socket takes them. */
function rawSend(): void {
  const tensor = Buffer.alloc(size, 7)
  connectRelay(async (s) => {
    await new Promise((r) => setTimeout(r, 50))
    const start = now()
    cpu0 = process.cpuUsage()
    for (let k = 0; k < count; k++) {
      const head = Buffer.alloc(4)
      head.writeUInt32LE(size)
      s.write(head)
      if (!s.write(tensor)) await new Promise((r) => s.once('drain', r))
    }
    s.end(() => say({ startMs: start, cpuMs: cpuMs() }))
  })
}

if (mode === 'mqtt') await (role === 'send' ? mqttSend() : mqttRecv())
else if (mode === 'bare') await (role === 'send' ? bareSend() : bareRecv())
else role === 'send' ? rawSend() : rawRecv()
