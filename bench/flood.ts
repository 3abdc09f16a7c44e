/**
 * A flood of bad heartbeats and a device joining right after (issue 16, "Floods and slow
 * clients"): a hub on the embedded broker with a small configured job (MLP); one device account
 * publishes N undecodable heartbeats (QoS 0) as fast as it can, then another device connects,
 * publishes its caps and waits for its assignment. Measured: from its connect to the hub's
 * registry having it online, and to its assignment arriving (a control-plane publish); the error
 * replies the flooding client received. Real broker and clients on loopback; emulated devices.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { loadConfig, mergeTrees } from '../src/config/load.js'
import { Hub } from '../src/hub/hub.js'
import { silentLogger } from '../src/log.js'
import { encodeCbor } from '../src/protocol/codec.js'
import { topics } from '../src/protocol/topics.js'
import type { Caps } from '../src/protocol/payloads.js'

const PASSWORD = 'bench-device-secret'

/** What the flooder sends: 3 undecodable bytes, or a packet-sized heartbeat of valid CBOR (a million empty maps) that costs a decode. */
export type FloodKind = 'undecodable' | 'heavy'

const JUNK: Record<FloodKind, Buffer> = {
  undecodable: Buffer.from([0xff, 0xfe, 0x00]),
  heavy: Buffer.concat([Buffer.from([0x9a, 0x00, 0x0f, 0x42, 0x40]), Buffer.alloc(1_000_000, 0xa0)]),
}

export interface FloodRow {
  kind: FloodKind
  badHeartbeats: number
  joinMs: number
  assignmentMs: number
  errorReplies: number
}

function caps(id: string): Caps {
  return {
    v: 1, deviceId: id, kind: 'bench', emulated: true,
    compute: { cores: 4, flopsPerSec: { conv: 2e10, matmul: 2e10, elementwise: 4e9 }, accelerators: [] },
    memory: { totalBytes: 8e9, availableBytes: 6e9 }, power: { idleW: 3, activeW: 10, battery: null },
    network: { linkRateBps: 4e8, interface: 'wifi', standard: 'wifi5' }, runtime: { dora: '0.1.0', onnxruntime: null },
  }
}

async function once(bad: number, kind: FloodKind): Promise<FloodRow> {
  const config = await loadConfig(undefined, mergeTrees({
    broker: { embedded: { host: '127.0.0.1', port: 0, wsPort: null } },
    auth: { devices: [{ id: 'joiner', password: PASSWORD }, { id: 'flooder', password: PASSWORD }], observers: [] },
    log: { level: 'silent' },
  }, { jobs: [{ id: 'digits', model: 'mlp', rateRps: 2, goal: 'latency', recostCron: '0 0 * * * *' }] }))
  const hub = new Hub(config, silentLogger)
  await hub.start()
  const url = `mqtt://127.0.0.1:${hub.boundPorts!.port}`
  const connect = (id: string) => new Promise<MqttClient>((resolve, reject) => {
    const c = mqtt.connect(url, { username: id, password: PASSWORD, clientId: `dora-device-${id}`, reconnectPeriod: 0 })
    c.once('connect', () => resolve(c))
    c.once('error', reject)
  })
  try {
    const flooder = await connect('flooder')
    let errorReplies = 0
    flooder.on('message', () => errorReplies++)
    await flooder.subscribeAsync(topics.device('flooder', 'error'), { qos: 1 })
    const junk = JUNK[kind]
    for (let i = 0; i < bad; i++) flooder.publish(topics.device('flooder', 'heartbeat'), junk, { qos: 0 })
    // everything handed to the socket before the joiner starts
    await new Promise<void>((r) => flooder.publish(topics.device('flooder', 'heartbeat'), junk, { qos: 1 }, () => r()))
    const t0 = performance.now()
    const joiner = await connect('joiner')
    const assigned = new Promise<number>((resolve) => {
      joiner.on('message', (_t, p) => p.length && resolve(performance.now() - t0))
    })
    await joiner.subscribeAsync(topics.device('joiner', 'assignment'), { qos: 1 })
    await joiner.publishAsync(topics.device('joiner', 'caps'), encodeCbor(caps('joiner')), { qos: 1, retain: true })
    let joinMs = NaN
    while (Number.isNaN(joinMs)) {
      if (hub.registry.get('joiner')?.status === 'online') joinMs = performance.now() - t0
      else await new Promise((r) => setTimeout(r, 2))
    }
    const assignmentMs = await Promise.race([assigned, new Promise<number>((r) => setTimeout(() => r(NaN), 60_000))])
    await new Promise((r) => setTimeout(r, 500))
    flooder.end(true)
    joiner.end(true)
    return { kind, badHeartbeats: bad, joinMs, assignmentMs, errorReplies }
  } finally {
    await hub.stop()
  }
}

/** One run without a flood and one with `bad` bad heartbeats of `kind` just before the join, each on a fresh hub. */
export async function floodBench(bad: number, log: (s: string) => void, kind: FloodKind = 'undecodable'): Promise<FloodRow[]> {
  const rows: FloodRow[] = []
  for (const n of [0, bad]) {
    log(`flood: ${n} ${kind} heartbeats, then a device joins ...`)
    rows.push(await once(n, kind))
  }
  return rows
}
