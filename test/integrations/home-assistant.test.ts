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

// Home Assistant's MQTT discovery schema as it stands today (home-assistant/core, 2026, probatio
// era), key for key, so that a key Home Assistant does not take (such as `object_id`, deprecated in
// 2025.10 and since removed from MQTT_ENTITY_COMMON_SCHEMA) fails:
// - mqtt/schemas.py: _MQTT_AVAILABILITY_SCHEMA, MQTT_ENTITY_DEVICE_INFO_SCHEMA, MQTT_ORIGIN_INFO_SCHEMA,
//   MQTT_ENTITY_COMMON_SCHEMA (default_entity_id, unique_id, icon, ...);
// - mqtt/config.py: SCHEMA_BASE (qos, encoding, group), MQTT_RO_SCHEMA, MQTT_RW_SCHEMA;
// - mqtt/sensor.py, binary_sensor.py, select.py: PLATFORM_SCHEMA_MODERN.
// Types follow the validators (cv.string, cv.icon, valid_subscribe_topic, ...); `default_entity_id`
// is `<component>.<object_id>` with an object id Home Assistant keeps as is (lower case, a-z 0-9 _).
const topic = z.string().min(1).refine((t) => !/[#+]/.test(t), 'a publish topic has no wildcard')
const availability = {
  availability: z.array(z.object({ topic: z.string().min(1), payload_available: z.string().optional(), payload_not_available: z.string().optional(), value_template: z.string().optional() }).strict()).min(1).optional(),
  availability_mode: z.enum(['all', 'any', 'latest']).optional(),
  availability_topic: z.string().optional(), availability_template: z.string().optional(),
  payload_available: z.string().optional(), payload_not_available: z.string().optional(),
}
const device = z.object({
  identifiers: z.array(z.string()).optional(), connections: z.array(z.tuple([z.string(), z.string()])).optional(),
  manufacturer: z.string().optional(), model: z.string().optional(), model_id: z.string().optional(), name: z.string().optional(),
  hw_version: z.string().optional(), serial_number: z.string().optional(), sw_version: z.string().optional(), via_device: z.string().optional(),
  suggested_area: z.string().optional(), configuration_url: z.string().url().optional(),
}).strict().refine((d) => (d.identifiers?.length ?? 0) + (d.connections?.length ?? 0) > 0, 'a device needs identifiers or connections')
const origin = z.object({ name: z.string().min(1), sw_version: z.string().optional(), support_url: z.string().url().optional() }).strict()
const entityCommon = {
  ...availability,
  device: device.optional(), entity_picture: z.string().url().optional(), origin: origin.optional(), enabled_by_default: z.boolean().optional(),
  entity_category: z.enum(['config', 'diagnostic']).optional(), icon: z.string().regex(/^[a-z0-9-]+:[a-z0-9-]+$/).optional(),
  json_attributes_topic: z.string().optional(), json_attributes_template: z.string().optional(),
  default_entity_id: z.string().regex(/^[a-z_]+\.[a-z0-9]+(_[a-z0-9]+)*$/).optional(),
  message_expiry_interval: z.number().int().nonnegative().optional(), unique_id: z.string().optional(), visible_by_default: z.boolean().optional(),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).optional(), encoding: z.string().optional(), group: z.array(z.string()).optional(),
}
const readOnly = { ...entityCommon, state_topic: z.string().min(1), value_template: z.string().optional() }
const sensor = z.object({
  ...readOnly, device_class: z.string().nullable().optional(), expire_after: z.number().int().positive().optional(), force_update: z.boolean().optional(),
  last_reset_value_template: z.string().optional(), name: z.string().nullable().optional(), options: z.array(z.string()).optional(),
  suggested_display_precision: z.number().int().nonnegative().optional(), state_class: z.enum(['measurement', 'measurement_angle', 'total', 'total_increasing']).nullable().optional(),
  unit_of_measurement: z.string().nullable().optional(),
}).strict()
const binarySensor = z.object({
  ...readOnly, device_class: z.string().nullable().optional(), expire_after: z.number().int().positive().optional(), force_update: z.boolean().optional(),
  name: z.string().nullable().optional(), off_delay: z.number().int().positive().optional(), payload_off: z.string().optional(), payload_on: z.string().optional(),
}).strict()
const select = z.object({
  ...entityCommon, command_topic: topic, optimistic: z.boolean().optional(), retain: z.boolean().optional(), state_topic: z.string().optional(),
  command_template: z.string().optional(), name: z.string().nullable().optional(), options: z.array(z.string()).min(1), value_template: z.string().optional(),
}).strict()
// Dora's own habits on top of the schema: what every config of ours carries, and sensible units
const units: Record<string, string[]> = { battery: ['%'], energy: ['Wh', 'kWh', 'J'], data_rate: ['Mbit/s', 'kbit/s', 'bit/s'], duration: ['ms', 's'] }
const doraHabits = (component: string, c: Record<string, unknown>): string[] => {
  const out: string[] = []
  for (const k of ['name', 'unique_id', 'default_entity_id', 'availability', 'device', 'origin']) if (!(k in c)) out.push(`missing ${k}`)
  if (typeof c.default_entity_id === 'string' && !c.default_entity_id.startsWith(`${component}.`)) out.push(`default_entity_id ${c.default_entity_id} is not a ${component}`)
  const dc = c.device_class as string | undefined
  if (dc && units[dc] && !units[dc].includes(c.unit_of_measurement as string)) out.push(`unit not valid for ${dc}`)
  if (dc === 'energy' && c.state_class !== 'total_increasing' && c.state_class !== 'total') out.push('energy needs a total state class')
  return out
}

describe('Home Assistant discovery payloads', () => {
  it('follow the documented schema: topics, unique ids, device blocks, availability, classes and units', () => {
    const msgs = [...deviceConfigs('homeassistant', { id: 'cam.1', kind: 'pi4-camera', emulated: true }), ...jobConfigs('homeassistant', { id: 'doorbell', model: 'yolo-style' })]
    expect(msgs).toHaveLength(12)
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
      expect(doraHabits(component!, c), m.topic).toEqual([])
      expect(c).not.toHaveProperty('object_id')
      expect(ids.has(c.unique_id as string)).toBe(false)
      ids.add(c.unique_id as string)
    }
    // a device's entities share its device block; the emulated one says so
    const dev = JSON.parse(msgs[0]!.payload) as { device: { identifiers: string[]; name: string }; availability: Array<{ topic: string }> }
    expect(dev.device.identifiers).toEqual(['dora_cam_1'])
    expect(dev.device.name).toMatch(/emulated/)
    expect(dev.availability.map((a) => a.topic)).toEqual([topics.device('cam.1', 'availability'), topics.hubAvailability])
    // the entity ids Dora intends: <component>.dora_<id>_<object>, in Home Assistant's alphabet
    expect(msgs.map((m) => (JSON.parse(m.payload) as { default_entity_id: string }).default_entity_id)).toEqual([
      'sensor.dora_cam_1_load', 'sensor.dora_cam_1_battery', 'sensor.dora_cam_1_stage', 'sensor.dora_cam_1_energy_today', 'sensor.dora_cam_1_link_throughput',
      'sensor.dora_job_doorbell_latency', 'sensor.dora_job_doorbell_throughput', 'binary_sensor.dora_job_doorbell_qoe_met', 'sensor.dora_job_doorbell_energy_per_request',
      'sensor.dora_job_doorbell_plan', 'sensor.dora_job_doorbell_epoch', 'select.dora_job_doorbell_goal',
    ])
    // the old key would fail the schema
    expect(sensor.safeParse({ ...(JSON.parse(msgs[0]!.payload) as object), object_id: 'dora_cam_1_load' }).success).toBe(false)
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
    await until(() => got.filter((m) => m.topic.includes('/dora_job_doorbell/') && m.payload).length === 7, 5000, 'seven job configs')
    // the stale Dora config was cleared; the foreign one is untouched
    expect(got.some((m) => m.topic === ghost && m.payload.length > 0)).toBe(false)
    expect(got.find((m) => m.topic === foreign)?.payload).toBe('{"name":"theirs"}')
    // state topics carry JSON
    const state = await until(() => got.filter((m) => m.topic === ha.deviceState('dev-a')).map((m) => JSON.parse(m.payload) as Record<string, unknown>).find((s) => s.loadPct === 50), 5000, 'the device state')
    expect(state).toMatchObject({ loadPct: 50, linkMbps: 300, energyTodayWh: 0, emulated: true })
    const jobState = await until(() => got.filter((m) => m.topic === ha.jobState('doorbell')).map((m) => JSON.parse(m.payload) as Record<string, unknown>).find((s) => s.epoch !== null), 8000, 'the job state with an epoch')
    expect(jobState).toMatchObject({ goal: 'latency', qoeMet: true, measured: false, plan: 'meets the QoE bounds' })

    // a real subscriber sees the retained configs (Debian's mosquitto_sub, MQTT 5)
    const sub = await promisify(execFile)('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-V', 'mqttv5', '-t', 'homeassistant/+/dora_dev-a/+/config', '-C', '5', '-W', '5', '-v'])
    const lines = sub.stdout.trim().split('\n')
    expect(lines).toHaveLength(5)
    for (const l of lines) expect(JSON.parse(l.slice(l.indexOf(' ') + 1)).unique_id).toMatch(/^dora_dev-a_/)

    // the birth message: everything again
    const before = got.filter((m) => m.topic.endsWith('/config') && !m.retain).length
    await hass.publishAsync('homeassistant/status', 'online', { qos: 1 })
    await until(() => got.filter((m) => m.topic.endsWith('/config') && !m.retain).length >= before + 12 || null, 5000, 'configs re-published')

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

  it('says when no plan meets the bounds: the job runs the closest plan, its state says so with the gap, QoE met is off', async () => {
    // a latency bound no device can meet: the adapter runs the closest plan and says how far off
    hub = await startHub({ homeassistant: { enabled: true, stateIntervalMs: 500 }, jobs: [{ id: 'porch', model: 'mobilenetv2', rateRps: 1, goal: 'latency', qoe: { latencyMs: 0.5 }, recostCron: '0 0 * * * *' }] })
    const url = `mqtt://127.0.0.1:${hub.boundPorts!.port}`
    const dash = await connect(url, { username: 'dash', password: 'dash-secret', clientId: 'dash' })
    const states: Array<Record<string, unknown>> = []
    const configsSeen: string[] = []
    dash.on('message', (topic, payload) => {
      if (topic === ha.jobState('porch') && payload.length) states.push(JSON.parse(payload.toString()) as Record<string, unknown>)
      if (topic.includes('/dora_job_porch/plan/config') && payload.length) configsSeen.push(payload.toString())
    })
    await dash.subscribeAsync([ha.jobState('porch'), 'homeassistant/#'], { qos: 1 })
    const dev = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD, clientId: 'dev-a' })
    await dev.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a')), { qos: 1, retain: true })
    const state = await until(() => states.find((x) => x.epoch !== null), 8000, 'a job state with an epoch')
    // the status: not met, the closest plan runs, and the bound it breaks with its gap
    expect(state.qoeMet).toBe(false)
    expect(state.plan).toMatch(/^no plan meets the QoE bounds; running the closest plan \(.*latencyMs \d+% off/)
    // the epoch the hub runs says the same
    const epoch = hub.jobs[0]!.epoch!
    expect(epoch.closest!.some((g) => g.bound === 'latencyMs' && g.offPct! > 100)).toBe(true)
    expect(epoch.reason).toMatch(/running the closest plan/)
    // Home Assistant gets a sensor for it
    expect(JSON.parse(configsSeen[0]!)).toMatchObject({ name: 'Plan', state_topic: ha.jobState('porch'), value_template: '{{ value_json.plan }}' })
    await dev.endAsync()
    await dash.endAsync()
  }, 30_000)

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
