/**
 * `dora mosquitto-config` (README § Home Assistant): Mosquitto's own password hash, and Debian's
 * Mosquitto started with the generated files passing the ACL checks the embedded broker passes
 * (topics.md § Who may publish and subscribe), with the hub on that broker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { connect as mqttConnect, type MqttClient } from 'mqtt'
import { mosquittoFiles, mosquittoPasswordHash } from '../../src/broker/mosquitto-config.js'
import { loadConfig } from '../../src/config/load.js'
import { Hub } from '../../src/hub/hub.js'
import { silentLogger } from '../../src/log.js'
import { filters, ha, topics } from '../../src/protocol/topics.js'
import { caps, cbor, collect, connect, heartbeat, until } from '../helpers/hub.js'
import { freePort, waitForServer } from '../helpers/mosquitto.js'

const run = promisify(execFile)
const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const MOSQUITTO = '/usr/sbin/mosquitto'

describe("Mosquitto's password hash", () => {
  it('equals what mosquitto_passwd writes for the same salt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dora-pw-'))
    try {
      const file = join(dir, 'pw')
      writeFileSync(file, '')
      await run('mosquitto_passwd', ['-b', file, 'kitchen-pi', 'a-long-random-secret'])
      const line = readFileSync(file, 'utf8').trim()
      const [, hash] = line.split(/:(.*)/s) as [string, string]
      const salt = Buffer.from(hash.split('$')[3]!, 'base64')
      expect(hash).toMatch(/^\$7\$101\$/)
      expect(mosquittoPasswordHash('a-long-random-secret', salt)).toBe(hash)
      expect(mosquittoPasswordHash('another-secret', salt)).not.toBe(hash)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses configs it cannot express: no hub account, a username Mosquitto cannot hold', async () => {
    const base = { auth: { devices: [{ id: 'dev-a', password: 'device-secret-1' }], observers: [] } }
    await expect(loadConfig(undefined, base).then((c) => mosquittoFiles(c, { dir: '/x', port: 1883, host: null }))).rejects.toThrow(/broker\.username and broker\.password/)
    const bad = await loadConfig(undefined, { ...base, broker: { username: 'hub', password: 'hub-secret-1' }, auth: { ...base.auth, observers: [{ username: 'my dash', password: 'dash-secret' }] } })
    expect(() => mosquittoFiles(bad, { dir: '/x', port: 1883, host: null })).toThrow(/my dash/)
  })

  it('dora mosquitto-config names the refusal with its own code (the config itself is valid)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dora-mosq-bad-'))
    try {
      writeFileSync(join(dir, 'hub.yaml'), 'auth:\n  devices: [{ id: dev-a, password: device-secret-1 }]\n  observers: []\n')
      const r = await run(process.execPath, [bin, 'mosquitto-config', '--config', join(dir, 'hub.yaml'), '--out', join(dir, 'out')]).then(() => null, (err: { code: number; stderr: string }) => err)
      expect(r?.code).toBe(1)
      expect(r?.stderr).toMatch(/broker\.username and broker\.password.*\[DORA_MOSQUITTO_CONFIG\]/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('Dora on Mosquitto with the generated files', () => {
  const hubYaml = (port: number) => [
    'broker:',
    `  url: mqtt://127.0.0.1:${port}`,
    '  username: dora-hub',
    '  password: hub-secret-123',
    'hub: { heartbeatTimeoutMs: 60000, stateMinIntervalMs: 0 }',
    'homeassistant: { enabled: true, stateIntervalMs: 500 }',
    'auth:',
    '  devices:',
    '    - { id: dev-a, password: device-secret-a }',
    '    - { id: dev-b, password: device-secret-b }',
    '  observers:',
    '    - { username: dash, password: dash-secret }',
    '  operators:',
    '    - { username: ops, password: ops-secret-1 }',
    '',
  ].join('\n')
  let dir: string
  let url: string
  let port: number
  let mosq: ChildProcess
  let hub: Hub
  const clients: MqttClient[] = []
  const client = async (o: Parameters<typeof connect>[1]) => {
    const c = await connect(url, o)
    clients.push(c)
    return c
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dora-mosq-cfg-'))
    port = await freePort()
    url = `mqtt://127.0.0.1:${port}`
    writeFileSync(join(dir, 'hub.yaml'), hubYaml(port))
    const out = await run(process.execPath, [bin, 'mosquitto-config', '--config', join(dir, 'hub.yaml'), '--out', join(dir, 'mosquitto'), '--port', String(port), '--host', '127.0.0.1'])
    expect(out.stdout).toMatch(/mosquitto -c .*mosquitto\.conf/)
    if (process.getuid?.() === 0) {
      // started as root, Mosquitto drops to its own user before it reads the files: hand them over,
      // as the README says to (chown -R mosquitto: DIR)
      const uid = Number((await run('id', ['-u', 'mosquitto'])).stdout.trim())
      chmodSync(dir, 0o711)
      for (const f of ['', 'mosquitto.conf', 'passwd', 'acl']) chownSync(join(dir, 'mosquitto', f), uid, uid)
    }
    mosq = spawn(MOSQUITTO, ['-c', join(dir, 'mosquitto', 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] })
    await waitForServer(mosq, port, 'mosquitto')
    hub = new Hub(await loadConfig(join(dir, 'hub.yaml')), silentLogger)
    await hub.start()
  }, 30_000)

  afterAll(async () => {
    for (const c of clients) c.end(true)
    await hub?.stop()
    if (mosq && mosq.exitCode === null) await new Promise<void>((r) => { mosq.once('exit', () => r()); mosq.kill('SIGTERM') })
    rmSync(dir, { recursive: true, force: true })
  })

  it('turns Nagle off for the PUBACKs (set_tcp_nodelay; the Mosquitto these tests run has started with it)', () => {
    const conf = readFileSync(join(dir, 'mosquitto', 'mosquitto.conf'), 'utf8').split('\n')
    expect(conf).toContain('set_tcp_nodelay true')
  })

  it('writes a password file only its owner reads, holding no plain password', () => {
    const passwd = readFileSync(join(dir, 'mosquitto', 'passwd'), 'utf8')
    expect(passwd.trim().split('\n').map((l) => l.split(':')[0])).toEqual(['dora-hub', 'dev-a', 'dev-b', 'dash', 'ops'])
    expect(passwd).not.toMatch(/secret/)
    expect(statSync(join(dir, 'mosquitto', 'passwd')).mode & 0o077).toBe(0)
  })

  it('refuses anonymous clients and wrong passwords', async () => {
    await expect(connect(url, { clientId: 'anon' })).rejects.toThrow(/Not authorized|Bad username|closed/i)
    await expect(connect(url, { username: 'dev-a', password: 'device-secret-b' })).rejects.toThrow(/Not authorized|Bad username|closed/i)
    await expect(connect(url, { username: 'dora-hub', password: 'wrong-password', protocolVersion: 5 })).rejects.toThrow(/Not authorized|Bad username|closed/i)
  })

  it('lets a device join the hub, but not publish as another device, nor read another device, nor take over its session', async () => {
    const watcher = await client({ username: 'dash', password: 'dash-secret', clientId: 'dash' })
    const seen = await collect(watcher, 'dora/v1/devices/#')
    const a = await client({ username: 'dev-a', password: 'device-secret-a', clientId: 'dora-device-dev-a' })
    let aClosed = false
    a.on('close', () => (aClosed = true))
    await a.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a')), { qos: 1, retain: true })
    await until(() => hub.registry.get('dev-a'), 5000, 'dev-a registered by the hub on Mosquitto')

    // dev-b claims dev-a's heartbeat and a made-up device, then publishes its own caps (allowed)
    const b = await client({ username: 'dev-b', password: 'device-secret-b', clientId: 'dora-device-dev-a' })
    await b.publishAsync(topics.device('dev-a', 'heartbeat'), cbor(heartbeat(1, { load: 0.99 })), { qos: 1 })
    await b.publishAsync(topics.device('ghost', 'caps'), cbor(caps('ghost')), { qos: 1, retain: true })
    await b.publishAsync(topics.device('dev-b', 'caps'), cbor(caps('dev-b')), { qos: 1, retain: true })
    await until(() => hub.registry.get('dev-b'), 5000, 'dev-b registered')
    await until(() => seen.some((m) => m.topic === topics.device('dev-b', 'caps')), 5000, 'the watcher to see dev-b')
    expect(hub.registry.get('ghost')).toBeUndefined()
    expect(hub.registry.get('dev-a')?.lastHeartbeat?.load ?? null).not.toBe(0.99)
    expect(seen.filter((m) => m.topic === topics.device('ghost', 'caps') || m.topic === topics.device('dev-a', 'heartbeat'))).toEqual([])
    // the same client id did not disconnect dev-a (Mosquitto uses the username as client id)
    expect(aClosed).toBe(false)
    expect(a.connected).toBe(true)
    // a device reads its own topics and the hub's, not another device's
    const bGot: string[] = []
    b.on('message', (t) => bGot.push(t))
    const granted = await b.subscribeAsync([topics.device('dev-a', 'assignment'), filtersHub], { qos: 1 })
    await until(() => bGot.includes(topics.hubState), 5000, "dev-b to read the hub's state")
    await a.publishAsync(topics.device('dev-a', 'availability'), 'online', { qos: 1, retain: true })
    await new Promise((r) => setTimeout(r, 300))
    expect(bGot.filter((t) => t.startsWith('dora/v1/devices/dev-a/'))).toEqual([])
    expect(granted.length).toBe(2)
    // results and receipts: a device reads those addressed to it, never the hub's or another device's
    await b.subscribeAsync([filters.resultsTo('dev-b'), filters.resultsTo('dev-b', 'receipts'), filters.resultsTo('hub'), filters.resultsTo('dev-a')], { qos: 1 })
    await a.publishAsync(topics.results('j1', 'dev-b'), Buffer.from('to b'), { qos: 1 })
    await a.publishAsync(topics.results('j1', 'dev-b', 'receipts'), Buffer.from('receipt b'), { qos: 1 })
    await a.publishAsync(topics.results('j1', 'hub'), Buffer.from('to the hub'), { qos: 1 })
    await a.publishAsync(topics.results('j1', 'dev-a'), Buffer.from('to a'), { qos: 1 })
    await until(() => bGot.includes(topics.results('j1', 'dev-b', 'receipts')), 5000, 'dev-b to read its receipt')
    await new Promise((r) => setTimeout(r, 300))
    expect(bGot.filter((t) => t.includes('/results/') || t.includes('/receipts/')).sort()).toEqual([topics.results('j1', 'dev-b', 'receipts'), topics.results('j1', 'dev-b')].sort())
  })

  it("an observer reads everything and publishes nothing but Home Assistant's birth message", async () => {
    const o = await client({ username: 'dash', password: 'dash-secret', clientId: 'dash-5', protocolVersion: 5 })
    const watcher = await client({ username: 'ops', password: 'ops-secret-1', clientId: 'ops' })
    const seen = await collect(watcher, 'dora/v1/jobs/#')
    // MQTT 5: Mosquitto answers a refused publish with reason 0x87 (not authorized)
    await expect(o.publishAsync(topics.job('sneaky', 'spec'), '{}', { qos: 1 })).rejects.toThrow(/Not authorized|135/i)
    await o.publishAsync(topics.device('dash', 'caps'), cbor(caps('dash')), { qos: 0 })
    // but Home Assistant's birth message, which it sends on connecting, goes through
    await o.publishAsync(ha.status('homeassistant'), 'online', { qos: 1 })
    await new Promise((r) => setTimeout(r, 300))
    expect(seen).toEqual([])
    expect(hub.registry.get('dash')).toBeUndefined()
  })

  it('training state (parameters, optimizer state) reaches no reader of dora/v1/# but the hub', async () => {
    const dash = await client({ username: 'dash', password: 'dash-secret', clientId: 'dash-7' })
    const ops = await client({ username: 'ops', password: 'ops-secret-1', clientId: 'ops-7' })
    const [byDash, byOps] = [await collect(dash, 'dora/v1/#'), await collect(ops, 'dora/v1/jobs/#')]
    const seen = () => [...byDash, ...byOps]
    const dev = await client({ username: 'dev-a', password: 'device-secret-a', clientId: 'dora-device-dev-a-7' })
    for (const t of [topics.trainingState('j1', 'checkpoint'), topics.trainingState('j1', 'restore'), topics.job('j1', 'steps')]) await dev.publishAsync(t, Buffer.from([0xff]), { qos: 1 })
    const both = () => seen().filter((m) => m.topic === topics.job('j1', 'steps')).length
    await until(() => both() >= 2 || null, 5000, 'both readers to get the step message (their subscriptions work)')
    await new Promise((r) => setTimeout(r, 300))
    expect(seen().filter((m) => m.topic.includes('/checkpoint') || m.topic.includes('/restore'))).toEqual([])
  })

  it('a device that falls behind keeps a burst of 3,000 queued tensors (Mosquitto drops beyond 1,000 unless told)', async () => {
    const login = { username: 'dev-b', password: 'device-secret-b', clientId: 'dora-device-dev-b', clean: false }
    const first = await client(login)
    await first.subscribeAsync(filters.tensorsToDevice('dev-b'), { qos: 1 })
    await first.endAsync()
    const a = await client({ username: 'dev-a', password: 'device-secret-a', clientId: 'dora-device-dev-a-q' })
    const N = 3000
    for (let i = 0; i < N; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, k) => a.publishAsync(topics.tensors('burst', 'dev-b'), Buffer.from(String(i + k)), { qos: 1 })))
    }
    const got = new Set<string>()
    const back = mqttConnect(url, { ...login, reconnectPeriod: 0 })
    clients.push(back)
    back.on('message', (_t, p) => got.add(p.toString()))
    await until(() => got.size >= N || null, 15_000, `all ${N} queued tensors (got ${got.size})`).catch(() => undefined)
    expect(got.size).toBe(N)
  })

  it("an MQTT 5 client (as Home Assistant connects) reads the hub's state and the discovery configs", async () => {
    const hass = await client({ username: 'ops', password: 'ops-secret-1', clientId: 'home-assistant', protocolVersion: 5 })
    const got = await collect(hass, '#')
    await until(() => got.some((m) => m.topic === topics.hubState), 5000, 'the retained hub state')
    const state = JSON.parse(got.find((m) => m.topic === topics.hubState)!.payload.toString()) as { devices: Array<{ id: string }> }
    expect(state.devices.map((d) => d.id)).toContain('dev-a')
    await until(() => got.filter((m) => m.topic.startsWith('homeassistant/sensor/dora_dev-a/')).length === 5 || null, 5000, "dev-a's discovery configs")
    // Home Assistant's birth message (an operator may send it): every config again
    const before = got.filter((m) => m.topic.endsWith('/config') && !m.retain).length
    await hass.publishAsync(ha.status('homeassistant'), 'online', { qos: 1 })
    await until(() => got.filter((m) => m.topic.endsWith('/config') && !m.retain).length > before || null, 5000, 'configs re-published')
  })
})

const filtersHub = 'dora/v1/hub/#'
