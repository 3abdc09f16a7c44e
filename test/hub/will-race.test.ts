/**
 * A broker that shuts down delivers the devices' last wills to the hub just before the hub's own
 * connection drops (Mosquitto's SIGTERM: every will, then every socket closed), though the devices
 * are fine and rejoin as soon as the broker is back (the race behind the broker-restart test's
 * rare failures). The order is forced here: a real Mosquitto, the hub and two real device agents
 * (ResNet-18 does not fit one of them, so both hold stages) each behind a relay (test/helpers/cut-proxy.ts); the devices' connections are cut (Mosquitto
 * sends their wills), the wills reach the hub and then its connection ends. The hub must not
 * believe them (will-gate.ts): no device leaves, the job never halts, its source loses nothing,
 * and the hub announces itself `online` again. Then a device that really goes while the hub is
 * connected leaves at once, as before.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { collect, connect, startHub, until } from '../helpers/hub.js'
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js'
import { startCutProxy, type CutProxy } from '../helpers/cut-proxy.js'
import { captureLog } from '../helpers/log-capture.js'
import { smallBoard } from '../helpers/devices.js'
import { topics } from '../../src/protocol/topics.js'
import type { Hub } from '../../src/hub/hub.js'
import type { HubSource } from '../../src/hub/hub-source.js'
import type { RegistryEvent } from '../../src/registry/registry.js'

let mosq: Mosquitto | null = null
let hub: Hub | null = null
let source: HubSource | null = null
const agents: DeviceAgent[] = []
const proxies: CutProxy[] = []

afterEach(async () => {
  await source?.stop(0)
  for (const a of agents.splice(0)) await a.stop()
  await hub?.stop()
  for (const p of proxies.splice(0)) await p.close()
  await mosq?.stop()
  source = hub = mosq = null
})

describe('last wills delivered just before the hub loses its broker', () => {
  it('are not believed: no device leaves, the job runs on, no request is lost', async () => {
    mosq = await startMosquitto()
    const hubLink = await startCutProxy(mosq.port)
    const deviceLink = await startCutProxy(mosq.port)
    proxies.push(hubLink, deviceLink)
    const captured = captureLog('info')
    hub = await startHub({ broker: { url: hubLink.url }, hub: { heartbeatTimeoutMs: 60_000 }, jobs: [{ id: 'cls', model: 'resnet18', rateRps: 1, goal: 'latency', qoe: { latencyMs: 5000 }, recostCron: '0 0 * * * *' }] }, captured.log)
    const left: string[] = []
    hub.registry.on('event', (e: RegistryEvent) => void (e.type === 'left' && left.push(`${e.device.id} (${e.reason})`)))
    for (const id of ['dev-a', 'dev-b']) {
      const a = new DeviceAgent({ url: deviceLink.url, id, profile: smallBoard(id), heartbeatMs: 300, cacheDir: mkdtempSync(join(tmpdir(), 'dora-models-')) })
      agents.push(a)
      await a.start()
    }
    await until(() => agents.every((a) => (a.assignments.get('cls')?.stages.length ?? 0) > 0 && a.sessions.size > 0), 20_000, 'both devices ready')
    source = await hub.source('cls', { timeoutMs: 2000 })
    await until(() => source!.requester.current(), 5000, 'the plan at the source')
    source.drive(1)
    await until(() => source!.requester.stats.completed >= 3 || null, 20_000, 'first results')

    // the devices' links die: Mosquitto publishes both wills; they reach the hub, then its link ends
    const cut = hubLink.cutAfterWills(['dev-a', 'dev-b'])
    deviceLink.cutAll()
    await cut
    // everyone reconnects by themselves (1 s), the devices re-announce; requests flow again
    const before = source.requester.stats.completed
    await until(() => source!.requester.stats.completed >= before + 4 || null, 30_000, 'results after the reconnection')
    await source.stop(20_000)
    const s = source.requester.stats
    expect(s.failures).toEqual([])
    expect(s.failed).toBe(0)
    expect(left).toEqual([])
    // each will judged without being believed: doubted (a retained will read again after the reconnection may be
    // doubted too), or out of date because the device spoke before the hub's probe settled it
    expect([...new Set(captured.find(/last will not trusted|last will out of date/).map((l) => l.deviceId))].sort()).toEqual(['dev-a', 'dev-b'])
    expect(s.completed).toBe(s.sent)
    expect(hub.registry.online().map((d) => d.id)).toEqual(['dev-a', 'dev-b'])
    // the hub's own will (its link died too) is replaced: it is `online` again, retained
    const late = await connect(mosq.url, { clientId: 'late-reader' })
    const hubAvailability = await collect(late, topics.hubAvailability)
    await until(() => hubAvailability.length > 0 || null, 5000, 'the hub availability')
    expect(hubAvailability.map((m) => m.payload.toString())).toEqual(['online'])
    await late.endAsync()

    // a device that really goes while the hub is connected still leaves at once
    const t0 = Date.now()
    agents[1]!.crash()
    await until(() => left.length > 0 || null, 5000, 'dev-b leaving')
    expect(left).toEqual(['dev-b (last-will)'])
    console.info(`a real will was believed ${Date.now() - t0} ms after the crash`)
  }, 120_000)
})
