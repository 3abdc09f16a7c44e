import { afterEach, describe, expect, it } from 'vitest'
import type { Hub } from '../../src/hub/hub.js'
import type { RegistryEvent } from '../../src/registry/registry.js'
import { topics } from '../../src/protocol/topics.js'
import { DEVICE_PASSWORD, caps, cbor, collect, connect, deviceUrl, heartbeat, startHub, until } from '../helpers/hub.js'

let hub: Hub | undefined
afterEach(async () => {
  await hub?.stop()
  hub = undefined
})

async function device(h: Hub, id: string) {
  return connect(deviceUrl(h), {
    clientId: id,
    username: id,
    password: DEVICE_PASSWORD,
    will: { topic: topics.device(id, 'availability'), payload: Buffer.from('offline'), qos: 1, retain: true },
  })
}

function events(h: Hub): RegistryEvent[] {
  const got: RegistryEvent[] = []
  h.registry.on('event', (e) => got.push(e))
  return got
}

describe('registry over a real broker (topics.md § Devices)', () => {
  it('a device joins from its caps, heartbeats update measurements, hub state lists it', async () => {
    hub = await startHub()
    const seen = events(hub)
    const d = await device(hub, 'dev-a')
    await d.publishAsync(topics.device('dev-a', 'availability'), 'online', { qos: 1, retain: true })
    await d.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a')), { qos: 1, retain: true })
    await d.publishAsync(topics.device('dev-a', 'heartbeat'), cbor(heartbeat(0, { load: 0.5 })), { qos: 1 })
    await d.publishAsync(topics.device('dev-a', 'heartbeat'), cbor(heartbeat(3, { load: 0.5, batteryPct: 80 })), { qos: 1 })
    const rec = await until(() => (hub!.registry.get('dev-a')?.measurements.heartbeats === 2 ? hub!.registry.get('dev-a') : undefined), 3000, 'two heartbeats')
    expect(rec.status).toBe('online')
    expect(rec.caps?.kind).toBe('raspberry-pi-5')
    expect(rec.measurements.missedHeartbeats).toBe(2)
    expect(rec.measurements.loadEwma).toBeCloseTo(0.5)
    expect(seen.map((e) => e.type)).toEqual(['joined', 'changed', 'changed'])
    expect(seen[2]).toMatchObject({ what: 'battery' })

    const obs = await connect(deviceUrl(hub), { username: 'dash', password: 'dash-secret' })
    const state = await collect(obs, topics.hubState)
    const s = await until(() => state.map((m) => JSON.parse(m.payload.toString())).find((x) => x.devices.length === 1), 3000, 'hub state with the device')
    expect(s).toMatchObject({ v: 1, status: 'online', counts: { total: 1, online: 1, emulated: 1 }, devices: [{ id: 'dev-a', status: 'online', emulated: true }] })
    await obs.endAsync()
    await d.endAsync()
  })

  it('a malformed caps payload is rejected with an error to the device and leaves the registry as it was', async () => {
    hub = await startHub()
    const d = await device(hub, 'dev-a')
    const errors = await collect(d, topics.device('dev-a', 'error'))
    await d.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a')), { qos: 1, retain: true })
    await until(() => hub!.registry.get('dev-a'), 3000, 'device')
    const bad = [
      Buffer.from('not cbor at all {'),
      cbor({ ...caps('dev-a'), memory: { totalBytes: -1, availableBytes: 0 } }),
      cbor({ ...caps('dev-a'), v: 9 }),
      cbor(caps('dev-b')),
      cbor([1, 2, 3]),
    ]
    for (const p of bad) await d.publishAsync(topics.device('dev-a', 'caps'), p, { qos: 1 })
    await d.publishAsync(topics.device('dev-a', 'heartbeat'), cbor({ ...heartbeat(1), load: 7 }), { qos: 1 })
    await until(() => errors.length === 6, 3000, 'six error replies')
    const msgs = errors.map((e) => JSON.parse(e.payload.toString()))
    expect(msgs.map((m) => m.code)).toEqual([
      'DORA_PAYLOAD_NOT_CBOR', 'DORA_PAYLOAD_INVALID', 'DORA_PAYLOAD_VERSION', 'DORA_DEVICE_ID_MISMATCH', 'DORA_PAYLOAD_INVALID', 'DORA_PAYLOAD_INVALID',
    ])
    expect(msgs[1].message).toMatch(/memory\.totalBytes/)
    expect(msgs[5].message).toMatch(/heartbeat: load/)
    const rec = hub.registry.get('dev-a')!
    expect(rec.caps?.memory.totalBytes).toBe(8e9)
    expect(rec.lastHeartbeat).toBeNull()
    expect(rec.status).toBe('online')
    await d.endAsync()
  })

  it('an abrupt disconnect fires the last will and the device leaves', async () => {
    hub = await startHub()
    const seen = events(hub)
    const d = await device(hub, 'dev-b')
    await d.publishAsync(topics.device('dev-b', 'caps'), cbor(caps('dev-b')), { qos: 1, retain: true })
    await until(() => hub!.registry.get('dev-b')?.status === 'online', 3000, 'join')
    d.stream.destroy() // power loss: no DISCONNECT packet
    const left = await until(() => seen.find((e) => e.type === 'left'), 5000, 'left event')
    expect(left).toMatchObject({ reason: 'last-will', device: { id: 'dev-b', status: 'offline' } })
    d.end(true)
  })

  it('a device silent past the heartbeat timeout is marked offline by the sweep, and rejoins on its next heartbeat', async () => {
    hub = await startHub({ hub: { heartbeatTimeoutMs: 1000, sweepCron: '* * * * * *' } })
    const seen = events(hub)
    const d = await device(hub, 'dev-a')
    await d.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a')), { qos: 1, retain: true })
    const left = await until(() => seen.find((e) => e.type === 'left'), 5000, 'heartbeat timeout')
    expect(left).toMatchObject({ reason: 'heartbeat-timeout' })
    await d.publishAsync(topics.device('dev-a', 'heartbeat'), cbor(heartbeat(1)), { qos: 1 })
    await until(() => hub!.registry.get('dev-a')?.status === 'online', 3000, 'rejoin')
    expect(seen.filter((e) => e.type === 'joined')).toHaveLength(2)
    await d.endAsync()
  })

  it('an empty retained caps removes the device', async () => {
    hub = await startHub()
    const d = await device(hub, 'dev-a')
    await d.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a')), { qos: 1, retain: true })
    await until(() => hub!.registry.get('dev-a'), 3000, 'join')
    await d.publishAsync(topics.device('dev-a', 'caps'), Buffer.alloc(0), { qos: 1, retain: true })
    await until(() => hub!.registry.get('dev-a') === undefined, 3000, 'removal')
    await d.endAsync()
  })
})

describe('registry sweep across the hub\'s own outage', () => {
  it('times a device\'s silence only from when the hub could listen again', async () => {
    const { Registry } = await import('../../src/registry/registry.js')
    const r = new Registry({ heartbeatTimeoutMs: 1000 })
    expect(r.handleCaps('dev-a', cbor(caps('dev-a')), 0)).toEqual({ ok: true })
    // the hub was disconnected from 500 to 5000 ms: silent since 0, but heard from only since 5000
    expect(r.sweep(5500, 5000)).toEqual([])
    expect(r.get('dev-a')?.status).toBe('online')
    // still silent a timeout after the reconnection: offline
    expect(r.sweep(6001, 5000).map((e) => e.type === 'left' && e.reason)).toEqual(['heartbeat-timeout'])
  })
})
