/** Test helpers: a real hub on loopback ports, real mqtt.js clients, fixture payloads. */
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, mergeTrees } from '../../src/config/load.js'
import { Hub } from '../../src/hub/hub.js'
import { silentLogger, type Logger } from '../../src/log.js'
import { encodeCbor } from '../../src/protocol/codec.js'
import { topicMatches } from '../../src/shared/topic-filter.js'
import type { Caps, Heartbeat } from '../../src/protocol/payloads.js'

export const DEVICE_PASSWORD = 'device-secret-1'

/** State folders of the hubs this test file started (removed when its process exits). */
const stateDirs: string[] = []
process.once('exit', () => {
  for (const d of stateDirs) rmSync(d, { recursive: true, force: true })
})

/** A fresh folder for a hub's state (hub.stateDir), removed when the test process exits. */
export function tempStateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'dora-hub-state-'))
  stateDirs.push(d)
  return d
}

export async function startHub(overrides: Record<string, unknown> = {}, log: Logger = silentLogger): Promise<Hub> {
  const base = {
    hub: { heartbeatTimeoutMs: 60_000, stateMinIntervalMs: 0, stateDir: tempStateDir() },
    broker: { embedded: { host: '127.0.0.1', port: 0, wsPort: 0 } },
    auth: { devices: [{ id: 'dev-a', password: DEVICE_PASSWORD }, { id: 'dev-b', password: DEVICE_PASSWORD }], observers: [{ username: 'dash', password: 'dash-secret' }] },
  }
  const config = await loadConfig(undefined, mergeTrees(base, overrides))
  const hub = new Hub(config, log)
  await hub.start()
  return hub
}

export function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
    c.once('connect', () => resolve(c))
    c.once('error', (err) => {
      c.end(true)
      reject(err)
    })
    c.once('close', () => reject(new Error('connection closed before CONNACK')))
  })
}

export const deviceUrl = (hub: Hub) => `mqtt://127.0.0.1:${hub.boundPorts!.port}`

export function caps(deviceId: string, patch: Partial<Caps> = {}): Caps {
  return {
    v: 1,
    deviceId,
    kind: 'raspberry-pi-5',
    emulated: true,
    compute: { cores: 4, flopsPerSec: { conv: 2.6e10, matmul: 3e10, elementwise: 5e9 }, accelerators: [] },
    memory: { totalBytes: 8e9, availableBytes: 6e9 },
    power: { idleW: 2.7, activeW: 6.5, battery: null },
    network: { linkRateBps: 4e8, interface: 'wifi', standard: 'wifi5' },
    runtime: { dora: '0.1.0', onnxruntime: '1.30.0' },
    ...patch,
  }
}

export function heartbeat(seq: number, patch: Partial<Heartbeat> = {}): Heartbeat {
  return { v: 1, seq, timeMs: Date.now(), load: 0.25, freeMemoryBytes: 5e9, batteryPct: null, linkThroughputBps: 3e8, queueDepth: 0, epoch: null, stageTimings: [], ...patch }
}

export const cbor = (v: unknown) => encodeCbor(v)

/** Waits until `check` returns a truthy value (polling), or fails after `timeoutMs`. */
export async function until<T>(check: () => T | undefined | null | false, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Collects messages on `filter` for a client. */
export async function collect(client: MqttClient, filter: string): Promise<Array<{ topic: string; payload: Buffer; retain: boolean }>> {
  const got: Array<{ topic: string; payload: Buffer; retain: boolean }> = []
  client.on('message', (topic, payload, packet) => {
    if (topicMatches(filter, topic)) got.push({ topic, payload, retain: packet.retain })
  })
  const granted = await client.subscribeAsync(filter, { qos: 1 })
  if (granted.some((g) => g.qos === 128)) throw new Error(`subscription to ${filter} refused`)
  return got
}

/** A test's teardown: closes the clients it opened (and forgets them), then stops its hub. */
export async function stopHubAndClients(hub: Hub | null, clients: MqttClient[]): Promise<void> {
  for (const c of clients.splice(0)) await c.endAsync(true)
  await hub?.stop()
}
