/**
 * The hub's state folder (hub.stateDir) read back as outside input (issue 16): stored specs are
 * checked anew like an operator's, a refused one is forgotten, FIFOs, odd names and garbage are
 * skipped without blocking or failing the start, and a job's epochs continue after the stored one.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import type { Hub } from '../../src/hub/hub.js'
import { EPOCH_MARGIN, JobStore } from '../../src/hub/job-store.js'
import type { Config } from '../../src/config/schema.js'
import { ErrorCodes } from '../../src/errors.js'
import { silentLogger } from '../../src/log.js'
import { decodeCbor } from '../../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../../src/protocol/cbor-budgets.js'
import { topics } from '../../src/protocol/topics.js'
import { caps, cbor, collect, connect, deviceUrl, DEVICE_PASSWORD, heartbeat, startHub, tempStateDir, until, stopHubAndClients } from '../helpers/hub.js'

let hub: Hub | null = null
const clients: MqttClient[] = []

afterEach(async () => {
  await stopHubAndClients(hub, clients)
  hub = null
})

const spec = (id: string) => JSON.stringify({ id, model: 'mlp', rateRps: 1, goal: 'latency', qoe: { latencyMs: 5000 } })

describe('hub state folder', () => {
  it('a state folder that cannot be read stops the start with its own code', async () => {
    const dir = tempStateDir()
    mkdirSync(dir, { recursive: true })
    const file = join(dir, 'a-file')
    writeFileSync(file, 'not a folder')
    const config = { hub: { id: 'h', stateDir: file } } as unknown as Config
    await expect(JobStore.open(config, silentLogger)).rejects.toMatchObject({ code: ErrorCodes.STATE_DIR, message: expect.stringMatching(/cannot use hub\.stateDir .*a-file/) })
  })

  it('restores stored specs checked anew, skips what is not a spec file, and continues after the stored epochs (with a margin)', async () => {
    const dir = tempStateDir()
    mkdirSync(join(dir, 'specs'))
    writeFileSync(join(dir, 'specs', 'ok.json'), spec('ok'))
    writeFileSync(join(dir, 'specs', 'bad.json'), 'this is not JSON')
    writeFileSync(join(dir, 'specs', 'not an id.json'), spec('x'))
    execFileSync('mkfifo', [join(dir, 'specs', 'fifo.json')])
    writeFileSync(join(dir, 'epochs.json'), JSON.stringify({ v: 1, epochs: { ok: 7 } }))
    const t0 = Date.now()
    hub = await startHub({ hub: { stateDir: dir } })
    // a FIFO among the specs does not hold the start
    expect(Date.now() - t0).toBeLessThan(15_000)
    const dev = await connect(deviceUrl(hub), { clientId: 'dora-device-dev-a', username: 'dev-a', password: DEVICE_PASSWORD })
    clients.push(dev)
    await dev.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a')), { qos: 1, retain: true })
    await dev.publishAsync(topics.device('dev-a', 'heartbeat'), cbor(heartbeat(0)), { qos: 0 })
    const watcher = await connect(deviceUrl(hub), { clientId: 'watch', username: 'dash', password: 'dash-secret' })
    clients.push(watcher)
    const plans = await collect(watcher, topics.job('ok', 'plan'))
    const statuses = await collect(watcher, topics.job('bad', 'status'))
    await until(() => hub!.jobs.some((j) => j.id === 'ok'), 20_000, 'the stored job running')
    const plan = await until(() => plans.find((m) => m.payload.length), 20_000, 'a plan of the stored job')
    const d = decodeCbor(plan.payload, CBOR_BUDGETS.plan)
    expect(d.ok && (d.value as { epoch: number }).epoch).toBe(7 + EPOCH_MARGIN + 1)
    await until(() => statuses.length, 10_000, 'the stored bad spec refused')
    expect(JSON.parse(statuses[0]!.payload.toString())).toMatchObject({ state: 'rejected', error: expect.stringMatching(/not JSON/) })
    await until(() => !existsSync(join(dir, 'specs', 'bad.json')), 5000, 'the refused spec forgotten')
    expect(hub.jobs.map((j) => j.id)).toEqual(['ok'])
  }, 60_000)

  it('starts with garbage in place of the stored epochs (epochs start anew)', async () => {
    const dir = tempStateDir()
    writeFileSync(join(dir, 'epochs.json'), '{"v": 1, "epochs": {"ok": -5}}')
    hub = await startHub({ hub: { stateDir: dir } })
    expect(hub.jobs).toEqual([])
  })
})
