/**
 * The load test's fleet (EMULATION, no model): N lightweight devices in this one process, each its
 * own MQTT connection with its own credentials, last will, retained caps, and a heartbeat every
 * second (staggered over the second). Run by bench/load.ts as a separate process so the hub's
 * CPU figure is the hub's alone.
 *   load-fleet.ts URL COUNT PASSWORD SECONDS
 * Prints "ready" when every device is connected and has published its caps, then "done".
 */
import mqtt, { type MqttClient } from 'mqtt'
import { encodeCbor } from '../src/protocol/codec.js'
import { AVAILABILITY, PROTOCOL_VERSION, topics } from '../src/protocol/topics.js'
import type { Caps, Heartbeat } from '../src/protocol/payloads.js'

const [url, countS, password, secondsS] = process.argv.slice(3)
const count = Number(countS)
const seconds = Number(secondsS)
const id = (i: number) => `load-${String(i).padStart(4, '0')}`

const caps = (deviceId: string): Caps => ({
  v: PROTOCOL_VERSION, deviceId, kind: 'load-test-node', emulated: true,
  compute: { cores: 1, flopsPerSec: { conv: 1e9, matmul: 1e9, elementwise: 1e8 }, accelerators: [] },
  memory: { totalBytes: 5e8, availableBytes: 4e8 },
  power: { idleW: 1, activeW: 3, battery: null },
  network: { linkRateBps: 5e7, interface: 'wifi', standard: 'wifi5' },
  runtime: { dora: '0.1.0', onnxruntime: null },
})

async function main(): Promise<void> {
  const clients: MqttClient[] = []
  for (let start = 0; start < count; start += 50) {
    await Promise.all(Array.from({ length: Math.min(50, count - start) }, async (_, k) => {
      const deviceId = id(start + k)
      const c = await mqtt.connectAsync(url!, {
        clientId: deviceId, username: deviceId, password, reconnectPeriod: 1000,
        will: { topic: topics.device(deviceId, 'availability'), payload: Buffer.from(AVAILABILITY.offline), qos: 1, retain: true },
      })
      await c.publishAsync(topics.device(deviceId, 'caps'), encodeCbor(caps(deviceId)), { qos: 1, retain: true })
      await c.publishAsync(topics.device(deviceId, 'availability'), AVAILABILITY.online, { qos: 1, retain: true })
      clients[start + k] = c
    }))
  }
  process.stdout.write('ready\n')
  const seq = new Array<number>(count).fill(0)
  const timers = clients.map((c, i) => {
    const beat = () => {
      const hb: Heartbeat = { v: PROTOCOL_VERSION, seq: seq[i]!++, timeMs: performance.timeOrigin + performance.now(), load: 0.1, freeMemoryBytes: 4e8, batteryPct: null, linkThroughputBps: null, queueDepth: 0, epoch: null, stageTimings: [] }
      c.publish(topics.device(id(i), 'heartbeat'), encodeCbor(hb), { qos: 0 })
    }
    // staggered over the second
    return setTimeout(() => {
      beat()
      timers[i] = setInterval(beat, 1000)
    }, (i * 1000) / count)
  }) as Array<NodeJS.Timeout>
  await new Promise((r) => setTimeout(r, seconds * 1000))
  for (const t of timers) clearInterval(t)
  await Promise.all(clients.map((c) => c.endAsync()))
  process.stdout.write('done\n')
}

main().catch((err: Error) => {
  process.stderr.write(`load fleet: ${err.message}\n`)
  process.exit(1)
})
