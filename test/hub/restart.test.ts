/**
 * Hub restarts lose nothing (issue 16 § Hub restart orphans the fleet): a real `dora hub`
 * process, SIGTERMed or SIGKILLed and started again, on its embedded Aedes and on a real
 * Mosquitto; two real device agents (EMULATION profiles) and a job submitted at run time. The
 * devices rejoin by themselves (caps and `online` re-published on every connect), the hub lists
 * them again at once, the submitted job is running again (its spec kept in hub.stateDir on the
 * embedded broker) and its next epoch is numbered after the last one (devices ignore older ones).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { MqttClient } from 'mqtt'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { topics } from '../../src/protocol/topics.js'
import { collect, connect, until } from '../helpers/hub.js'
import { freePort, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js'
import { smallBoard } from '../helpers/devices.js'

const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const PASSWORD = 'device-secret-1'

let hubProc: ChildProcess | null = null
let mosq: Mosquitto | null = null
const agents: DeviceAgent[] = []
const clients: MqttClient[] = []
const dirs: string[] = []

afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true)
  for (const a of agents.splice(0)) await a.stop()
  if (hubProc && hubProc.exitCode === null && hubProc.signalCode === null) {
    const exited = new Promise((r) => hubProc!.once('exit', r))
    hubProc.kill('SIGTERM')
    await exited
  }
  hubProc = null
  await mosq?.stop()
  mosq = null
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** Starts `dora hub` and resolves once it announces itself. */
async function startHubProcess(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [bin, 'hub', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()))
  await until(() => /Dora hub .* running/.test(out) || child.exitCode !== null, 60_000, 'the hub banner')
  if (child.exitCode !== null) throw new Error(`dora hub exited ${child.exitCode}: ${err}`)
  return child
}

async function stopHubProcess(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  const exited = new Promise((r) => hubProc!.once('exit', r))
  hubProc!.kill(signal)
  await exited
}

interface HubStateMsg { status: string; startedAt: string; devices: Array<{ id: string; status: string }> }

for (const broker of ['aedes', 'mosquitto'] as const) {
  describe(`hub restart on ${broker === 'aedes' ? 'its embedded Aedes' : 'an external Mosquitto'}`, () => {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      it(`${signal}: devices rejoin at once, the submitted job runs again with a newer epoch`, async () => {
        const dir = mkdtempSync(join(tmpdir(), 'dora-restart-'))
        dirs.push(dir)
        const port = await freePort()
        if (broker === 'mosquitto') mosq = await startMosquitto()
        const url = mosq ? mosq.url : `mqtt://127.0.0.1:${port}`
        writeFileSync(join(dir, 'hub.yaml'), [
          'hub:',
          `  stateDir: ${join(dir, 'state')}`,
          '  heartbeatTimeoutMs: 60000',
          '  stateMinIntervalMs: 0',
          'auth:',
          `  devices: [{ id: dev-a, password: ${PASSWORD} }, { id: dev-b, password: ${PASSWORD} }]`,
          '  operators: [{ username: ops, password: ops-secret-1 }]',
          '',
        ].join('\n'))
        const args = ['--config', join(dir, 'hub.yaml'), '--log-level', 'warn', ...(mosq ? ['--broker', mosq.url] : ['--host', '127.0.0.1', '--port', String(port), '--ws-port', '0'])]
        hubProc = await startHubProcess(args)
        for (const id of ['dev-a', 'dev-b']) {
          const a = new DeviceAgent({ url, id, password: PASSWORD, profile: smallBoard(id, { memoryBytes: 4e9 }), heartbeatMs: 300, cacheDir: join(dir, `models-${id}`) })
          agents.push(a)
          await a.start()
        }
        const ops = await connect(url, { clientId: 'ops-1', username: 'ops', password: 'ops-secret-1' })
        clients.push(ops)
        const spec = { id: 'j1', model: 'mlp', rateRps: 1, goal: 'latency', qoe: { latencyMs: 5000 } }
        await ops.publishAsync(topics.job('j1', 'spec'), JSON.stringify(spec), { qos: 1, retain: true })
        const assigned = () => agents.every((a) => a.assignments.get('j1')) && Math.max(...agents.map((a) => a.assignments.get('j1')!.epoch))
        const before = await until(assigned, 60_000, 'the job assigned on both devices')

        await stopHubProcess(signal)
        const restartedMs = Date.now()
        hubProc = await startHubProcess(args)
        const bannerMs = Date.now()
        // the hub's state lists both devices online again
        const watcher = await connect(url, { clientId: 'watch-1', username: 'ops', password: 'ops-secret-1' })
        clients.push(watcher)
        const states = await collect(watcher, topics.hubState)
        const listed = await until(() => states.map((m) => JSON.parse(m.payload.toString()) as HubStateMsg)
          .find((s) => s.status === 'online' && Date.parse(s.startedAt) >= restartedMs && ['dev-a', 'dev-b'].every((id) => s.devices.some((d) => d.id === id && d.status === 'online'))), 15_000, 'both devices listed online by the restarted hub')
        const rejoinMs = Date.now() - bannerMs
        console.info(`${broker} ${signal}: both devices listed online ${rejoinMs} ms after the restarted hub's banner`)
        expect(listed.devices.length).toBe(2)
        // the job runs again: a new epoch, numbered after the last one, accepted by both devices
        const after = await until(() => {
          const e = assigned()
          return e !== false && e > before ? e : null
        }, 60_000, 'a newer epoch of the job on both devices')
        expect(after).toBeGreaterThan(before)
        // retained state is right: a newcomer reads both devices online and the job accepted
        const late = await connect(url, { clientId: 'late-1', username: 'ops', password: 'ops-secret-1' })
        clients.push(late)
        const avail = await collect(late, topics.allDevices('availability'))
        const status = await collect(late, topics.job('j1', 'status'))
        await until(() => avail.length >= 2 && status.length >= 1, 5000, 'retained availability and job status')
        expect(avail.filter((m) => m.retain).map((m) => `${m.topic}=${m.payload.toString()}`).sort()).toEqual([
          `${topics.device('dev-a', 'availability')}=online`, `${topics.device('dev-b', 'availability')}=online`,
        ])
        expect(JSON.parse(status[0]!.payload.toString())).toMatchObject({ jobId: 'j1', state: 'accepted', source: 'submitted' })
      }, 180_000)
    }
  })
}
