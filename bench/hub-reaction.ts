/**
 * The hub's reaction time, end to end on loopback: a hub with a configured job (ResNet-18,
 * latency goal) on the embedded broker, two emulated devices (real mqtt.js clients publishing
 * caps); one device's connection drops (the broker sends its last will), and the time until the
 * other device receives the new plan epoch is measured. Includes the hub's 100 ms debounce of
 * fleet changes. Real broker, real clients; the devices' profiles are emulation.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { loadConfig, mergeTrees } from '../src/config/load.js'
import { Hub } from '../src/hub/hub.js'
import { silentLogger } from '../src/log.js'
import { decodeCbor, encodeCbor } from '../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../src/protocol/cbor-budgets.js'
import { topics } from '../src/protocol/topics.js'
import { planEpochSchema, type Caps } from '../src/protocol/payloads.js'

const PASSWORD = 'bench-device-secret'

function caps(id: string, flops: number): Caps {
  return {
    v: 1, deviceId: id, kind: 'bench', emulated: true,
    compute: { cores: 4, flopsPerSec: { conv: flops, matmul: flops, elementwise: flops / 5 }, accelerators: [] },
    memory: { totalBytes: 8e9, availableBytes: 6e9 }, power: { idleW: 3, activeW: 10, battery: null },
    network: { linkRateBps: 4e8, interface: 'wifi', standard: 'wifi5' }, runtime: { dora: '0.1.0', onnxruntime: null },
  }
}

export async function hubReactionBench(rounds: number, log: (s: string) => void): Promise<number[]> {
  const config = await loadConfig(undefined, mergeTrees({
    broker: { embedded: { host: '127.0.0.1', port: 0, wsPort: null } },
    auth: { devices: [{ id: 'dev-a', password: PASSWORD }, { id: 'dev-b', password: PASSWORD }], observers: [] },
    log: { level: 'silent' },
  }, { jobs: [{ id: 'vision', model: 'resnet18', rateRps: 2, goal: 'latency', qoe: { latencyMs: 2000 }, recostCron: '0 0 * * * *' }] }))
  const hub = new Hub(config, silentLogger)
  await hub.start()
  const url = `mqtt://127.0.0.1:${hub.boundPorts!.port}`
  const connect = (id: string) => new Promise<MqttClient>((resolve, reject) => {
    const c = mqtt.connect(url, { username: id, password: PASSWORD, clientId: id, reconnectPeriod: 0, will: { topic: topics.device(id, 'availability'), payload: Buffer.from('offline'), qos: 1, retain: true } })
    c.once('connect', () => resolve(c))
    c.once('error', reject)
  })
  const times: number[] = []
  const a = await connect('dev-a')
  let latest = 0
  let onEpoch: (() => void) | null = null
  a.on('message', (_t, payload) => {
    const d = decodeCbor(payload, CBOR_BUDGETS.plan)
    if (d.ok) {
      latest = planEpochSchema.parse(d.value).epoch
      onEpoch?.()
    }
  })
  await a.subscribeAsync(topics.job('vision', 'plan'), { qos: 1 })
  await a.publishAsync(topics.device('dev-a', 'caps'), encodeCbor(caps('dev-a', 3e10)), { qos: 1, retain: true })
  const nextEpoch = (after: number) => new Promise<void>((resolve) => {
    onEpoch = () => latest > after && resolve()
    onEpoch()
  })
  for (let r = 0; r < rounds; r++) {
    const b = await connect('dev-b')
    const before = latest
    await b.publishAsync(topics.device('dev-b', 'caps'), encodeCbor(caps('dev-b', 5e11)), { qos: 1, retain: true })
    await nextEpoch(before) // the plan moves to the faster dev-b
    const seen = latest
    const t0 = performance.now()
    b.stream.destroy() // dev-b drops off: last will
    await nextEpoch(seen)
    times.push(performance.now() - t0)
    log(`  hub reaction round ${r + 1}: ${times[times.length - 1]!.toFixed(1)} ms`)
    b.end(true)
  }
  a.end(true)
  await hub.stop()
  return times
}
