/**
 * Calibration of the emulated Wi-Fi against the air model (EMULATION): Dora tensors published
 * over real MQTT (QoS 1, chunked as devices send them) through the proxy to a real Aedes broker
 * take the time the air model gives for the bytes that really cross the air: the tensor's data,
 * MQTT and chunk headers and TCP/IP headers as bulk at the DCF efficiency, plus one short frame
 * per acknowledgement. One station alone, three at once, and a slow station among fast ones,
 * each within 5%. And a whole transfer from a Wi-Fi station through the broker to a wired
 * subscriber takes what the cost model says (its 256 KiB chunks pipeline through the broker:
 * the air plus about one chunk's relay and wired hop), within 5%, where charging each hop the
 * whole tensor in turn (store and forward) is more than 5% slow.
 */
import { afterEach, describe, expect, it } from 'vitest'
import net from 'node:net'
import { Aedes } from 'aedes'
import mqtt from 'mqtt'
import { WifiProxy } from '../../src/emulation/wifi-proxy.js'
import { WIFI5, contendedThroughputsBps, shortFrameAirS, soloEfficiency } from '../../src/planner/network/wifi.js'
import { encodeTensorChunks } from '../../src/protocol/chunks.js'
import { hopsBetween, transferLatencyS, transferS } from '../../src/planner/cost.js'
import { relayS } from '../../src/planner/network/transport.js'
import { scheduledWifi5, testDevice } from '../helpers/planner.js'

const CHUNK_BYTES = 256 * 1024
const TENSOR_BYTES = 6 * CHUNK_BYTES
/** PUBACK (4 bytes) with its TCP/IP headers. */
const ACK_BYTES = 44
const TCP_WIRE = 1500 / 1460

let proxy: WifiProxy | null = null
let broker: { close: () => Promise<void> } | null = null

afterEach(async () => {
  await proxy?.close()
  proxy = null
  await broker?.close()
  broker = null
})

async function startBroker(): Promise<number> {
  const aedes = await Aedes.createBroker()
  const server = net.createServer(aedes.handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  broker = {
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return (server.address() as net.AddressInfo).port
}

/** A tensor's chunk messages as a device publishes them. */
function messages(req: string): Buffer[] {
  return [...encodeTensorChunks({ req, name: 'x', dtype: 'uint8', shape: [TENSOR_BYTES], epoch: 1, hop: { plan: 'p', route: ['a', 'b'], stage: 1, src: 'cam', t0: 0 } }, new Uint8Array(TENSOR_BYTES).fill(3), CHUNK_BYTES)]
}

/** Bytes of the MQTT stream a PUBLISH of `payload` on `topic` with QoS 1 takes. */
function publishBytes(topic: string, payload: number): number {
  const rest = 2 + Buffer.byteLength(topic) + 2 + payload
  return 1 + (rest < 128 ? 1 : rest < 16384 ? 2 : rest < 2097152 ? 3 : 4) + rest
}

interface Sent { readonly seconds: number; readonly wireBytes: number; readonly acks: number }

/** Connects `station` through the proxy and publishes one tensor; resolves when every chunk is acknowledged. */
async function publishTensor(p: WifiProxy, port: number, station: string, start: Promise<void>): Promise<Sent> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: station, reconnectPeriod: 0 })
  try {
    const topic = `dora/v1/jobs/cal/tensors/${station}`
    const msgs = messages(station)
    await start
    const t0 = performance.now()
    await Promise.all(msgs.map((m) => c.publishAsync(topic, m, { qos: 1 })))
    const seconds = (performance.now() - t0) / 1000
    return { seconds, wireBytes: msgs.reduce((a, m) => a + publishBytes(topic, m.length), 0) * TCP_WIRE, acks: msgs.length }
  } finally {
    await c.endAsync()
  }
}

async function sendAtOnce(rates: Record<string, number>, wired: readonly string[] = []): Promise<Record<string, Sent>> {
  proxy = new WifiProxy({ brokerHost: '127.0.0.1', brokerPort: await startBroker(), standard: WIFI5, timeScale: K })
  const ports: Record<string, number> = {}
  for (const [id, r] of Object.entries(rates)) ports[id] = await proxy.addStation(id, r, { wired: wired.includes(id) })
  let go!: () => void
  const start = new Promise<void>((r) => (go = r))
  const runs = Object.keys(rates).map((id) => publishTensor(proxy!, ports[id]!, id, start))
  await new Promise((r) => setTimeout(r, 300)) // every client connected and idle
  go()
  const done = await Promise.all(runs)
  return Object.fromEntries(Object.keys(rates).map((id, i) => [id, done[i]!]))
}

const K = 10
const acksAirS = (s: Sent, rate: number) => s.acks * shortFrameAirS(WIFI5, ACK_BYTES, rate)

describe('emulated Wi-Fi calibrated against the air model (EMULATION)', () => {
  it('one station: a tensor takes the model\'s air time within 5%', async () => {
    const rate = 200e6
    const { a } = await sendAtOnce({ a: rate })
    const modelS = K * ((a!.wireBytes * 8) / (rate * soloEfficiency(WIFI5, rate)) + acksAirS(a!, rate))
    expect(a!.seconds / modelS).toBeGreaterThan(0.95)
    expect(a!.seconds / modelS).toBeLessThan(1.05)
  }, 30_000)

  it('three stations at once share the air as the DCF model says, within 5%', async () => {
    const rate = 300e6
    const got = await sendAtOnce({ a: rate, b: rate, c: rate })
    const share = contendedThroughputsBps(WIFI5, [rate, rate, rate])[0]!
    for (const s of Object.values(got)) {
      const modelS = K * ((s.wireBytes * 8) / share + 3 * acksAirS(s, rate))
      expect(s.seconds / modelS).toBeGreaterThan(0.95)
      expect(s.seconds / modelS).toBeLessThan(1.05)
    }
  }, 30_000)

  it('a slow station among fast ones drags them to its frame rate, within 5% of the model', async () => {
    const fast = 400e6
    const slow = 60e6
    const got = await sendAtOnce({ f1: fast, f2: fast, slow })
    const shares = contendedThroughputsBps(WIFI5, [fast, fast, slow])
    const acks = acksAirS(got.f1!, fast) * 2 + acksAirS(got.slow!, slow)
    for (const [id, s] of Object.entries(got)) {
      const modelS = K * ((s.wireBytes * 8) / shares[id === 'slow' ? 2 : 0]! + acks)
      expect(s.seconds / modelS, id).toBeGreaterThan(0.95)
      expect(s.seconds / modelS, id).toBeLessThan(1.05)
    }
  }, 30_000)

  it('a wired station keeps its own link\'s rate while Wi-Fi stations send, within 5%', async () => {
    const got = await sendAtOnce({ wire: 100e6, a: 300e6 }, ['wire'])
    const modelS = (K * got.wire!.wireBytes * 8) / 100e6
    expect(got.wire!.seconds / modelS).toBeGreaterThan(0.95)
    expect(got.wire!.seconds / modelS).toBeLessThan(1.05)
  }, 30_000)

  it('a frame from a Wi-Fi station to a wired subscriber takes the pipelined transfer of the cost model, within 5%', async () => {
    const bytes = 640 * 640 * 3 // a camera frame, uint8: five chunk messages
    proxy = new WifiProxy({ brokerHost: '127.0.0.1', brokerPort: await startBroker(), standard: WIFI5, timeScale: K })
    const cam = testDevice('cam', 10, { linkRateBps: 400e6 })
    const box = testDevice('box', 10, { linkRateBps: null })
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${await proxy.addStation('box', 1e9, { wired: true })}`, { clientId: 'box', reconnectPeriod: 0 })
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${await proxy.addStation('cam', 400e6)}`, { clientId: 'cam', reconnectPeriod: 0 })
    try {
      const topic = 'dora/v1/jobs/cal/tensors/box'
      await sub.subscribeAsync(topic, { qos: 1 })
      const msgs = [...encodeTensorChunks({ req: 'r', name: 'x', dtype: 'uint8', shape: [bytes], epoch: 1, hop: { plan: 'p', route: ['cam', 'box'], stage: 0, src: 'cam', t0: 0 } }, new Uint8Array(bytes).fill(5), CHUNK_BYTES)]
      expect(msgs.length).toBe(5)
      const once = async (): Promise<number> => {
        await new Promise((r) => setTimeout(r, 200)) // the air and the links idle
        let got = 0
        const arrived = new Promise<void>((resolve) => {
          const on = () => {
            if (++got === msgs.length) {
              sub.removeListener('message', on)
              resolve()
            }
          }
          sub.on('message', on)
        })
        const t0 = performance.now()
        await Promise.all([...msgs.map((m) => pub.publishAsync(topic, m, { qos: 1 })), arrived])
        return (performance.now() - t0) / 1000 / K
      }
      const runs = [await once(), await once(), await once()].sort((a, b) => a - b)
      const measured = runs[1]!
      const hops = hopsBetween(cam, box, bytes)
      // the model counts the chunks' PUBACKs on the air (cost.ts hopAirBits)
      const model = transferLatencyS(hops, scheduledWifi5)
      expect(measured / model).toBeGreaterThan(0.95)
      expect(measured / model).toBeLessThan(1.05)
      // each hop the whole frame in turn (the old accounting) is far slower than what happens
      const storeAndForward = hops.reduce((a, h) => a + transferS(h, scheduledWifi5), 0) + relayS(bytes)
      expect(measured / storeAndForward).toBeLessThan(0.9)
    } finally {
      await pub.endAsync()
      await sub.endAsync()
    }
  }, 30_000)
})
