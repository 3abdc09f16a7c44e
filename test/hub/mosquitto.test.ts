/** Interoperability with a real Mosquitto (README § Using an existing broker / MQTT 5). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Hub } from '../../src/hub/hub.js'
import { topics } from '../../src/protocol/topics.js'
import { caps, cbor, collect, connect, heartbeat, startHub, until } from '../helpers/hub.js'
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js'

const run = promisify(execFile)
let mosq: Mosquitto
beforeAll(async () => {
  mosq = await startMosquitto()
})
afterAll(async () => mosq.stop())

describe('hub on an external Mosquitto', () => {
  let hub: Hub
  beforeAll(async () => {
    hub = await startHub({ broker: { url: mosq.url } })
  })
  afterAll(async () => hub.stop())

  it('registers a device whose CBOR caps were published with mosquitto_pub', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dora-'))
    const file = join(dir, 'caps.cbor')
    writeFileSync(file, cbor(caps('cam-7', { kind: 'camera-node' })))
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-q', '1', '-r', '-t', topics.device('cam-7', 'caps'), '-f', file])
    writeFileSync(file, cbor(heartbeat(0, { load: 0.9 })))
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-q', '1', '-t', topics.device('cam-7', 'heartbeat'), '-f', file])
    const rec = await until(() => (hub.registry.get('cam-7')?.lastHeartbeat ? hub.registry.get('cam-7') : undefined), 5000, 'cam-7 with a heartbeat')
    expect(rec.caps?.kind).toBe('camera-node')
    expect(rec.lastHeartbeat?.load).toBe(0.9)
  })

  it('publishes JSON hub state that mosquitto_sub reads', async () => {
    await until(() => hub.registry.get('cam-7'), 5000, 'cam-7')
    await new Promise((r) => setTimeout(r, 200))
    const { stdout } = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-t', topics.hubState, '-C', '1', '-W', '5'])
    const state = JSON.parse(stdout)
    expect(state.broker.embedded).toBe(false)
    expect(state.devices.map((d: { id: string }) => d.id)).toContain('cam-7')
  })

  it('answers an MQTT 5 client (as Home Assistant 2026.6+ connects) through Mosquitto', async () => {
    const ha = await connect(mosq.url, { protocolVersion: 5, clientId: 'homeassistant-test' })
    const got = await collect(ha, 'dora/v1/hub/#')
    await until(() => got.some((m) => m.topic === topics.hubAvailability) && got.some((m) => m.topic === topics.hubState), 5000, 'retained hub topics over MQTT 5')
    expect(got.find((m) => m.topic === topics.hubAvailability)!.payload.toString()).toBe('online')
    expect(JSON.parse(got.find((m) => m.topic === topics.hubState)!.payload.toString()).v).toBe(1)
    await ha.endAsync()
  })

  it('an MQTT 3.1.1 device and the MQTT 5 side share the broker: a device last will reaches the hub', async () => {
    const d = await connect(mosq.url, { clientId: 'cam-8', protocolVersion: 4, will: { topic: topics.device('cam-8', 'availability'), payload: Buffer.from('offline'), qos: 1, retain: true } })
    await d.publishAsync(topics.device('cam-8', 'caps'), cbor(caps('cam-8')), { qos: 1, retain: true })
    await until(() => hub.registry.get('cam-8')?.status === 'online', 5000, 'cam-8 online')
    d.stream.destroy()
    await until(() => hub.registry.get('cam-8')?.status === 'offline', 5000, 'cam-8 offline by last will')
    d.end(true)
  })
})

describe('dora hub command on Mosquitto', () => {
  it('runs, then on SIGTERM leaves offline availability retained and exits 0', async () => {
    const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
    const child = spawn(process.execPath, [bin, 'hub', '--broker', mosq.url, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (b: Buffer) => (out += b.toString()))
    await until(() => out.includes('running on external broker'), 15000, 'hub banner')
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    const { stdout } = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-t', topics.hubAvailability, '-C', '1', '-W', '5'])
    expect(stdout.trim()).toBe('offline')
  })

  it('exits non-zero with a clear message when the broker is unreachable', async () => {
    const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
    const r = await run(process.execPath, [bin, 'hub', '--broker', 'mqtt://127.0.0.1:1', '--log-level', 'silent']).catch((e: { code: number; stderr: string }) => e)
    expect((r as { code: number }).code).toBe(1)
    expect((r as { stderr: string }).stderr).toMatch(/cannot connect to mqtt:\/\/127\.0\.0\.1:1/)
  })
})
