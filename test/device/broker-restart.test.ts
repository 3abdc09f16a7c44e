/**
 * The broker restarts mid-run (issue 6 § faults): hub, devices and the hub's request source on a
 * real Mosquitto (Debian's, no persistence: retained messages are gone after the restart); every
 * process reconnects and resubscribes, and the source re-sends what the outage swallowed: no
 * accepted request is lost.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { collect, connect, startHub, until } from '../helpers/hub.js'
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js'
import type { Hub } from '../../src/hub/hub.js'
import type { HubSource } from '../../src/hub/hub-source.js'
import { smallBoard } from '../helpers/devices.js'

let mosq: Mosquitto | null = null
let hub: Hub | null = null
let source: HubSource | null = null
const agents: DeviceAgent[] = []

afterEach(async () => {
  await source?.stop(0)
  for (const a of agents.splice(0)) await a.stop()
  await hub?.stop()
  await mosq?.stop()
  source = hub = mosq = null
})

const small = (id: string) => smallBoard(id)

describe('broker restart', () => {
  it('loses no request when Mosquitto restarts under a running job', async () => {
    mosq = await startMosquitto()
    const port = mosq.port
    hub = await startHub({ broker: { url: mosq.url }, hub: { heartbeatTimeoutMs: 60_000 }, jobs: [{ id: 'cls', model: 'resnet18', rateRps: 1, goal: 'latency', qoe: { latencyMs: 5000 }, recostCron: '0 0 * * * *' }] })
    const errors: string[] = []
    for (const id of ['dev-a', 'dev-b']) {
      const a = new DeviceAgent({ url: mosq.url, id, profile: small(id), heartbeatMs: 300, cacheDir: mkdtempSync(join(tmpdir(), 'dora-models-')), onError: (m) => errors.push(`${id}: ${m}`) })
      agents.push(a)
      await a.start()
    }
    await until(() => agents.every((a) => (a.assignments.get('cls')?.stages.length ?? 0) > 0 && a.sessions.size > 0), 20_000, 'both devices ready')
    source = await hub.source('cls', { timeoutMs: 1500 })
    await until(() => source!.requester.current(), 5000, 'the plan at the source')
    source.drive(1)
    await until(() => source!.requester.stats.completed >= 3 || null, 20_000, 'first results')
    // the broker goes away for a second and comes back empty (no persistence)
    await mosq.stop()
    await new Promise((r) => setTimeout(r, 1000))
    mosq = await startMosquitto(port)
    const before = source.requester.stats.completed
    await until(() => source!.requester.stats.completed >= before + 4 || null, 40_000, 'results after the restart')
    // the devices announced themselves again: the restarted broker holds their caps and `online` retained
    const late = await connect(mosq.url, { clientId: 'late-reader' })
    const retained = await collect(late, 'dora/v1/devices/+/+')
    await until(() => retained.filter((m) => m.retain).length >= 4 || null, 5000, 'retained caps and availability of both devices')
    expect(retained.filter((m) => m.retain && m.topic.endsWith('/availability')).map((m) => m.payload.toString())).toEqual(['online', 'online'])
    expect(retained.filter((m) => m.retain && m.topic.endsWith('/caps')).length).toBe(2)
    await late.endAsync()
    await source.stop(30_000)
    const s = source.requester.stats
    expect(s.failures).toEqual([])
    expect(s.failed).toBe(0)
    expect(s.completed).toBe(s.sent)
    expect(s.outstanding).toBe(0)
  }, 120_000)
})
