/**
 * Home Assistant MQTT discovery (issue 7): the payloads against the documented schema, and the
 * whole path on a real Mosquitto with a Home Assistant-like MQTT 5 client and mosquitto_sub:
 * configs retained, stale ones cleared at start, re-published on the birth message, cleared when
 * a device is removed, and the goal select re-plans the job.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { z } from 'zod'
import { caps, cbor, connect, DEVICE_PASSWORD, heartbeat, startHub, until } from '../helpers/hub.js'
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js'
import { clearConfigs, deviceConfigs, jobConfigs } from '../../src/integrations/ha-discovery.js'
import { ha, topics } from '../../src/protocol/topics.js'
import type { Hub } from '../../src/hub/hub.js'

let mosq: Mosquitto | null = null
let hub: Hub | null = null

afterEach(async () => {
  await hub?.stop()
  await mosq?.stop()
  hub = mosq = null
})

// The keys and value types Home Assistant documents for MQTT discovery (full names, no abbreviations).
const availability = z.array(z.object({ topic: z.string().min(1), payload_available: z.string(), payload_not_available: z.string() }).strict()).min(1)
const device = z.object({ identifiers: z.array(z.string().min(1)).min(1), name: z.string().min(1), model: z.string(), manufacturer: z.string(), via_device: z.string() }).strict()
const origin = z.object({ name: z.string().min(1), sw_version: z.string() }).strict()
const common = {
  name: z.string().min(1), unique_id: z.string().regex(/^[a-zA-Z0-9_-]+$/), object_id: z.string(), state_topic: z.string().min(1), value_template: z.string().startsWith('{{'),
  availability, availability_mode: z.enum(['all', 'any', 'latest']), device, origin, icon: z.string().startsWith('mdi:').optional(),
}
const units: Record<string, string[]> = { battery: ['%'], energy: ['Wh', 'kWh', 'J'], data_rate: ['Mbit/s', 'kbit/s', 'bit/s'], duration: ['ms', 's'] }
const sensor = z.object({ ...common, unit_of_measurement: z.string().optional(), device_class: z.enum(['battery', 'energy', 'data_rate', 'duration']).optional(), state_class: z.enum(['measurement', 'total', 'total_increasing']).optional() }).strict()
  .refine((c) => !c.device_class || units[c.device_class]!.includes(c.unit_of_measurement ?? ''), { message: 'unit not valid for the device class' })
  .refine((c) => c.device_class !== 'energy' || c.state_class === 'total_increasing' || c.state_class === 'total', { message: 'energy needs a total state class' })
const binarySensor = z.object({ ...common, payload_on: z.string(), payload_off: z.string() }).strict()
const select = z.object({ ...common, command_topic: z.string().min(1), options: z.array(z.string()).min(1) }).strict()

describe('Home Assistant discovery payloads', () => {
  it('follow the documented schema: topics, unique ids, device blocks, availability, classes and units', () => {
    const msgs = [...deviceConfigs('homeassistant', { id: 'cam.1', kind: 'pi4-camera', emulated: true }), ...jobConfigs('homeassistant', { id: 'doorbell', model: 'yolo-style' })]
    expect(msgs).toHaveLength(11)
    const ids = new Set<string>()
    for (const m of msgs) {
      const [prefix, component, node, object, last] = m.topic.split('/')
      expect([prefix, last]).toEqual(['homeassistant', 'config'])
      expect(node).toMatch(/^dora_[a-zA-Z0-9_-]+$/)
      expect(object).toMatch(/^[a-z_]+$/)
      const c = JSON.parse(m.payload) as Record<string, unknown>
      const schema = component === 'sensor' ? sensor : component === 'binary_sensor' ? binarySensor : component === 'select' ? select : null
      expect(schema, m.topic).not.toBeNull()
      const r = schema!.safeParse(c)
      expect(r.success, `${m.topic}: ${r.success ? '' : JSON.stringify(r.error.issues)}`).toBe(true)
      expect(ids.has(c.unique_id as string)).toBe(false)
      ids.add(c.unique_id as string)
    }
    // a device's entities share its device block; the emulated one says so
    const dev = JSON.parse(msgs[0]!.payload) as { device: { identifiers: string[]; name: string }; availability: Array<{ topic: string }> }
    expect(dev.device.identifiers).toEqual(['dora_cam_1'])
    expect(dev.device.name).toMatch(/emulated/)
    expect(dev.availability.map((a) => a.topic)).toEqual([topics.device('cam.1', 'availability'), topics.hubAvailability])
    expect(clearConfigs('homeassistant', 'device', 'cam.1').map((m) => m.topic)).toEqual(deviceConfigs('homeassistant', { id: 'cam.1', kind: 'x', emulated: false }).map((m) => m.topic))
  })
})

describe('Home Assistant on Mosquitto over MQTT 5', () => {
  it('publishes, clears stale configs, answers the birth message, follows removals and takes the goal select', async () => {
    mosq = await startMosquitto()
    // left over from an earlier run: a Dora device that no longer exists, and someone else's entity
    const pre = await connect(mosq.url, { clientId: 'leftovers' })
    const ghost = 'homeassistant/sensor/dora_ghost/load/config'
    const foreign = 'homeassistant/sensor/other_bridge/temp/config'
    await pre.publishAsync(ghost, '{"name":"old"}', { qos: 1, retain: true })
    await pre.publishAsync(foreign, '{"name":"theirs"}', { qos: 1, retain: true })
    // a device already known to the broker
    await pre.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a')), { qos: 1, retain: true })
    await pre.publishAsync(topics.device('dev-a', 'availability'), 'online', { qos: 1, retain: true })
    await pre.endAsync()

    hub = await startHub({ broker: { url: mosq.url }, homeassistant: { enabled: true, stateIntervalMs: 500 }, jobs: [{ id: 'doorbell', model: 'mobilenetv2', rateRps: 2, goal: 'latency', qoe: { latencyMs: 2000 }, recostCron: '0 0 * * * *' }] })
    const dev = await connect(mosq.url, { clientId: 'dev-a-hb' })
    await dev.publishAsync(topics.device('dev-a', 'heartbeat'), cbor(heartbeat(1, { load: 0.5, batteryPct: null, linkThroughputBps: 3e8, energyJ: 7200 })), { qos: 0 })

    // Home Assistant connects with MQTT 5
    const hass = await connect(mosq.url, { clientId: 'home-assistant', protocolVersion: 5 })
    const got: Array<{ topic: string; payload: string; retain: boolean }> = []
    hass.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain }))
    await hass.subscribeAsync(['homeassistant/#', 'dora/v1/ha/#'], { qos: 1 })
    await until(() => got.filter((m) => m.topic.includes('/dora_dev-a/') && m.payload).length === 5, 5000, 'five device configs')
    await until(() => got.filter((m) => m.topic.includes('/dora_job_doorbell/') && m.payload).length === 6, 5000, 'six job configs')
    // the stale Dora config was cleared; the foreign one is untouched
    expect(got.some((m) => m.topic === ghost && m.payload.length > 0)).toBe(false)
    expect(got.find((m) => m.topic === foreign)?.payload).toBe('{"name":"theirs"}')
    // state topics carry JSON
    const state = await until(() => got.filter((m) => m.topic === ha.deviceState('dev-a')).map((m) => JSON.parse(m.payload) as Record<string, unknown>).find((s) => s.loadPct === 50), 5000, 'the device state')
    expect(state).toMatchObject({ loadPct: 50, linkMbps: 300, energyTodayWh: 0, emulated: true })
    const jobState = await until(() => got.filter((m) => m.topic === ha.jobState('doorbell')).map((m) => JSON.parse(m.payload) as Record<string, unknown>).find((s) => s.epoch !== null), 8000, 'the job state with an epoch')
    expect(jobState).toMatchObject({ goal: 'latency', qoeMet: true, measured: false })

    // a real subscriber sees the retained configs (Debian's mosquitto_sub, MQTT 5)
    const sub = await promisify(execFile)('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-V', 'mqttv5', '-t', 'homeassistant/+/dora_dev-a/+/config', '-C', '5', '-W', '5', '-v'])
    const lines = sub.stdout.trim().split('\n')
    expect(lines).toHaveLength(5)
    for (const l of lines) expect(JSON.parse(l.slice(l.indexOf(' ') + 1)).unique_id).toMatch(/^dora_dev-a_/)

    // the birth message: everything again
    const before = got.filter((m) => m.topic.endsWith('/config') && !m.retain).length
    await hass.publishAsync('homeassistant/status', 'online', { qos: 1 })
    await until(() => got.filter((m) => m.topic.endsWith('/config') && !m.retain).length >= before + 11 || null, 5000, 'configs re-published')

    // the goal select: the job is planned for energy
    await hass.publishAsync(ha.jobGoalSet('doorbell'), 'energy', { qos: 1 })
    await until(() => hub!.jobs[0]!.plannerJob?.goal === 'energy' || null, 5000, 'the goal to change')
    await until(() => got.filter((m) => m.topic === ha.jobState('doorbell')).map((m) => JSON.parse(m.payload) as { goal: string }).some((s) => s.goal === 'energy') || null, 5000, 'the state to say energy')

    // the device is removed (empty retained caps): its configs are cleared
    await dev.publishAsync(topics.device('dev-a', 'caps'), Buffer.alloc(0), { qos: 1, retain: true })
    await until(() => got.filter((m) => m.topic.includes('/dora_dev-a/') && m.topic.endsWith('/config') && m.payload === '').length === 5 || null, 5000, 'cleared device configs')
    await dev.endAsync()
    await hass.endAsync()
  }, 60_000)

  it('works on the embedded broker too: the hub may use the discovery prefix, an observer reads it', async () => {
    hub = await startHub({ homeassistant: { enabled: true, stateIntervalMs: 500 } })
    const url = `mqtt://127.0.0.1:${hub.boundPorts!.port}`
    const dev = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD, clientId: 'dev-a' })
    await dev.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a')), { qos: 1, retain: true })
    const dash = await connect(url, { username: 'dash', password: 'dash-secret', clientId: 'dash' })
    const got: string[] = []
    dash.on('message', (topic, payload) => { if (payload.length) got.push(topic) })
    const granted = await dash.subscribeAsync('homeassistant/#', { qos: 1 })
    expect(granted[0]!.qos).not.toBe(128)
    await until(() => new Set(got.filter((t) => t.includes('/dora_dev-a/'))).size === 5 || null, 5000, 'the device configs')
    // a device may not write there
    await expect(dev.subscribeAsync('homeassistant/#', { qos: 1 })).rejects.toThrow(/Subscribe error/)
    await dev.endAsync()
    await dash.endAsync()
  })
})
