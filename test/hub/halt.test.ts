/**
 * Issue 14 item 3, with a real broker (the hub's Aedes on a loopback port) and real mqtt clients:
 * when the device a running epoch names leaves and no plan runs on the devices still online, the
 * hub keeps no epoch that names it: its retained plan epoch is cleared (a device that connects
 * later finds none), the job's status (and Home Assistant's Plan sensor) says it is not running
 * and why, and the hub's own source fails what it held, and every request offered after, as lost;
 * when the device returns the job runs again on an epoch numbered after the last.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import { collect, connect, startHub, stopHubAndClients, until } from '../helpers/hub.js'
import { jobDevice } from '../helpers/job-device.js'
import { ha, topics } from '../../src/protocol/topics.js'
import type { Hub } from '../../src/hub/hub.js'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { DEVICE_PASSWORD, deviceUrl } from '../helpers/hub.js'
import { smallBoard } from '../helpers/devices.js'

let hub: Hub | null = null
const clients: MqttClient[] = []
const agents: DeviceAgent[] = []
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop()
  await stopHubAndClients(hub, clients)
  hub = null
})

describe('a job whose device left and that no plan can run on the devices online', () => {
  it('clears its retained epoch, says it is not running, and counts its requests as lost', async () => {
    hub = await startHub({ homeassistant: { enabled: true, stateIntervalMs: 500 }, jobs: [{ id: 'j', model: 'mlp', rateRps: 1, goal: 'latency', qoe: { latencyMs: 5000 }, recostCron: '0 0 * * * *' }] })
    const url = `mqtt://127.0.0.1:${hub.boundPorts!.port}`
    const a = await jobDevice(hub, 'dev-a', 'j')
    // dev-b cannot hold any stage of the model (1 kB of memory): alone, no plan runs
    const b = await jobDevice(hub, 'dev-b', 'j', { memory: { totalBytes: 1000, availableBytes: 1000 } })
    clients.push(a.client, b.client)
    const plans = await collect(b.client, topics.job('j', 'plan'))
    const dash = await connect(url, { username: 'dash', password: 'dash-secret', clientId: 'dash' })
    clients.push(dash)
    const states = await collect(dash, ha.jobState('j'))
    await until(() => a.epochs.find((e) => e.parts.some((p) => p.stages.some((s) => s.devices.includes('dev-a')))), 20_000, 'an epoch on dev-a')
    const job = hub.jobs[0]!
    expect(Object.keys(job.epoch!.assignments)).toEqual(['dev-a'])
    expect(job.notRunning).toBeNull()

    // the hub's own source sends a request on that epoch (dev-a runs no stage: it stays outstanding)
    const source = await hub.source('j', { timeoutMs: 60_000 })
    await until(() => source.requester.current(), 5000, 'the source to follow the epoch')
    expect(await source.requester.send()).not.toBeNull()
    expect(source.requester.outstandingCount).toBe(1)

    // dev-a leaves (its last will): nothing runs on dev-b alone
    a.client.stream.destroy()
    await until(() => job.notRunning, 20_000, 'the job to stop')
    expect(job.epoch).toBeNull()
    expect(job.notRunning).toMatch(/no plan runs on the online devices/)
    expect(job.lastDecision!.action).toBe('halt')
    // the retained epoch is cleared: the live subscriber gets the empty message ...
    await until(() => plans.some((m) => m.payload.length === 0), 5000, 'the cleared plan')
    // ... and a device connecting now finds no epoch at all (a retained one would come at once)
    const late = await connect(url, { username: 'dev-a', password: 'device-secret-1', clientId: 'late-dev-a' })
    clients.push(late)
    const retained = await collect(late, topics.job('j', 'plan'))
    await new Promise((r) => setTimeout(r, 500))
    expect(retained).toEqual([])
    // Home Assistant's Plan sensor says so, and the QoE is not met
    const state = await until(() => states.map((m) => JSON.parse(m.payload.toString()) as Record<string, unknown>).find((s) => String(s.plan).startsWith('not running')), 5000, 'the state saying not running')
    expect(state).toMatchObject({ qoeMet: false, epoch: null })
    expect(state.plan).toMatch(/^not running: .*no plan runs on the online devices/)
    // the request it held is lost, and so is one offered while nothing runs
    await until(() => source.requester.stats.failed >= 1, 5000, 'the held request to fail')
    expect(source.requester.outstandingCount).toBe(0)
    expect(source.requester.stats.failures[0]!.reason).toMatch(/^lost: /)
    expect(await source.requester.send()).toBeNull()
    expect(source.requester.stats.failed).toBe(2)
    expect(source.requester.stats.failures[1]!.reason).toMatch(/^not served: /)
    // dev-a comes back: the job runs again, on an epoch numbered after the one it stopped (devices
    // ignore older ones), and the source follows it
    const stopped = a.epochs.at(-1)!.epoch
    const back = await jobDevice(hub, 'dev-a', 'j')
    clients.push(back.client)
    const next = await until(() => back.epochs.find((e) => e.epoch > stopped), 20_000, 'a new epoch')
    expect(next.parts.some((p) => p.stages.some((s) => s.devices.includes('dev-a')))).toBe(true)
    await until(() => job.notRunning === null, 5000, 'the job running again')
    await until(() => source.requester.current()?.epoch === next.epoch, 5000, 'the source on the new epoch')
    expect(await source.requester.send()).not.toBeNull()
    await source.stop(0)
  }, 60_000)

  it('a device agent that is a source fails its requests of the stopped job as lost', async () => {
    hub = await startHub({ jobs: [{ id: 'j', model: 'mlp', rateRps: 1, source: 'dev-b', goal: 'latency', qoe: { latencyMs: 5000 }, recostCron: '0 0 * * * *' }] })
    const a = await jobDevice(hub, 'dev-a', 'j')
    clients.push(a.client)
    // dev-b, a real agent that holds no stage (1 kB of memory), sends the job's requests
    const errors: string[] = []
    const b = new DeviceAgent({ url: deviceUrl(hub), id: 'dev-b', password: DEVICE_PASSWORD, profile: smallBoard('dev-b', { memoryBytes: 1000 }), heartbeatMs: 200, cacheDir: mkdtempSync(join(tmpdir(), 'dora-models-')), onError: (m) => errors.push(m) })
    agents.push(b)
    await b.start()
    const r = await b.startSource('j', 5)
    await until(() => r.stats.sent >= 2, 20_000, 'requests sent on the epoch on dev-a')
    a.client.stream.destroy()
    await until(() => hub!.jobs[0]!.notRunning, 20_000, 'the job to stop')
    await until(() => r.stats.failures.some((f) => f.reason.startsWith('not served: ')), 5000, 'a request not served')
    await b.stopSource(0)
    expect(r.outstandingCount).toBe(0)
    expect(r.stats.failures.some((f) => f.reason.startsWith('lost: '))).toBe(true)
    expect(r.stats.completed).toBe(0)
    // every request it held or was offered is lost, none unaccounted
    expect(r.stats.failed).toBeGreaterThanOrEqual(r.stats.sent)
    expect(errors.filter((m) => m.startsWith('plan of'))).toEqual([])
  }, 60_000)
})
