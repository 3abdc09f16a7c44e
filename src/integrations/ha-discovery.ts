/**
 * Home Assistant MQTT discovery payloads (pure). Each Dora device and each job becomes a Home
 * Assistant device with entities, following the documented conventions: a retained config per
 * entity on `<prefix>/<component>/<node_id>/<object_id>/config`, a `unique_id`, the entity id it
 * should get as `default_entity_id` (`<component>.<object id>`, Home Assistant 2025.10 and later), a `device` block
 * with `identifiers`, `origin`, availability topics, `device_class` / `state_class` / units, and
 * JSON state topics read with `value_template` (dashboards cannot read CBOR). Full key names, no
 * abbreviations.
 */
import { AVAILABILITY, ha, topics } from '../protocol/topics.js'

export const ORIGIN = { name: 'Dora', sw_version: '0.1.0' } as const
export const GOALS = ['latency', 'energy', 'throughput'] as const

export interface HaMessage {
  readonly topic: string
  /** A JSON object, or '' to clear a retained config. */
  readonly payload: string
}

/** The Home Assistant node id of a Dora device or job (ids may hold '.', which topics here may not). */
export function nodeId(kind: 'device' | 'job', id: string): string {
  return `dora_${kind === 'job' ? 'job_' : ''}${id.replace(/[^a-zA-Z0-9_-]/g, '_')}`
}

export const HUB_NODE = 'dora_hub'

/**
 * An entity id's object part as Home Assistant accepts it: lower case a-z 0-9 and single
 * underscores, none at either end (Dora ids may hold upper case, '-' and '.').
 */
export function entitySlug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '')
}

interface Entity {
  readonly component: 'sensor' | 'binary_sensor' | 'select'
  readonly objectId: string
  readonly name: string
  readonly config: Record<string, unknown>
}

const deviceEntities = (id: string): Entity[] => {
  const state = ha.deviceState(id)
  const v = (key: string) => `{{ value_json.${key} }}`
  return [
    { component: 'sensor', objectId: 'load', name: 'Load', config: { state_topic: state, value_template: v('loadPct'), unit_of_measurement: '%', state_class: 'measurement', icon: 'mdi:chip' } },
    { component: 'sensor', objectId: 'battery', name: 'Battery', config: { state_topic: state, value_template: v('batteryPct'), unit_of_measurement: '%', device_class: 'battery', state_class: 'measurement' } },
    { component: 'sensor', objectId: 'stage', name: 'Assigned stage', config: { state_topic: state, value_template: v('stage'), icon: 'mdi:layers-outline' } },
    { component: 'sensor', objectId: 'energy_today', name: 'Energy today', config: { state_topic: state, value_template: v('energyTodayWh'), unit_of_measurement: 'Wh', device_class: 'energy', state_class: 'total_increasing' } },
    { component: 'sensor', objectId: 'link_throughput', name: 'Link throughput', config: { state_topic: state, value_template: v('linkMbps'), unit_of_measurement: 'Mbit/s', device_class: 'data_rate', state_class: 'measurement' } },
  ]
}

const jobEntities = (id: string): Entity[] => {
  const state = ha.jobState(id)
  const v = (key: string) => `{{ value_json.${key} }}`
  return [
    { component: 'sensor', objectId: 'latency', name: 'Latency', config: { state_topic: state, value_template: v('latencyMs'), unit_of_measurement: 'ms', device_class: 'duration', state_class: 'measurement' } },
    { component: 'sensor', objectId: 'throughput', name: 'Throughput', config: { state_topic: state, value_template: v('throughputRps'), unit_of_measurement: 'req/s', state_class: 'measurement', icon: 'mdi:speedometer' } },
    { component: 'binary_sensor', objectId: 'qoe_met', name: 'QoE met', config: { state_topic: state, value_template: "{{ 'ON' if value_json.qoeMet else 'OFF' }}", payload_on: 'ON', payload_off: 'OFF', icon: 'mdi:check-decagram' } },
    { component: 'sensor', objectId: 'energy_per_request', name: 'Energy per request', config: { state_topic: state, value_template: v('energyJPerRequest'), unit_of_measurement: 'J', state_class: 'measurement', icon: 'mdi:lightning-bolt' } },
    { component: 'sensor', objectId: 'plan', name: 'Plan', config: { state_topic: state, value_template: v('plan'), icon: 'mdi:map-marker-path' } },
    { component: 'sensor', objectId: 'epoch', name: 'Plan epoch', config: { state_topic: state, value_template: v('epoch'), state_class: 'measurement', icon: 'mdi:counter' } },
    { component: 'select', objectId: 'goal', name: 'Optimisation goal', config: { state_topic: state, value_template: v('goal'), command_topic: ha.jobGoalSet(id), options: [...GOALS], icon: 'mdi:target' } },
  ]
}

function configs(prefix: string, node: string, entities: Entity[], device: Record<string, unknown>, availability: Array<{ topic: string }>): HaMessage[] {
  return entities.map((e) => ({
    topic: ha.config(prefix, e.component, node, e.objectId),
    payload: JSON.stringify({
      name: e.name,
      unique_id: `${node}_${e.objectId}`,
      // Home Assistant 2025.10 deprecated (and now ignores) `object_id`; the entity id is chosen this way
      default_entity_id: `${e.component}.${entitySlug(`${node}_${e.objectId}`)}`,
      ...e.config,
      availability: availability.map((a) => ({ ...a, payload_available: AVAILABILITY.online, payload_not_available: AVAILABILITY.offline })),
      availability_mode: 'all',
      device,
      origin: ORIGIN,
    }),
  }))
}

/** A Dora device's discovery configs (available while both it and the hub are). */
export function deviceConfigs(prefix: string, d: { id: string; kind: string; emulated: boolean }): HaMessage[] {
  const node = nodeId('device', d.id)
  return configs(prefix, node, deviceEntities(d.id), {
    identifiers: [node],
    name: `${d.id}${d.emulated ? ' (emulated)' : ''}`,
    model: d.kind,
    manufacturer: d.emulated ? 'Dora emulated device' : 'Dora device',
    via_device: HUB_NODE,
  }, [{ topic: topics.device(d.id, 'availability') }, { topic: topics.hubAvailability }])
}

/** A job's discovery configs (available while the hub is). */
export function jobConfigs(prefix: string, j: { id: string; model: string }): HaMessage[] {
  const node = nodeId('job', j.id)
  return configs(prefix, node, jobEntities(j.id), {
    identifiers: [node],
    name: `Dora job ${j.id}`,
    model: j.model,
    manufacturer: 'Dora',
    via_device: HUB_NODE,
  }, [{ topic: topics.hubAvailability }])
}

/** The topics of a device's or job's configs, to clear them (an empty retained payload). */
export function clearConfigs(prefix: string, kind: 'device' | 'job', id: string): HaMessage[] {
  const entities = kind === 'device' ? deviceEntities(id) : jobEntities(id)
  return entities.map((e) => ({ topic: ha.config(prefix, e.component, nodeId(kind, id), e.objectId), payload: '' }))
}

/** Whether a retained discovery config topic is one Dora publishes (node id dora_...). */
export function isDoraConfig(prefix: string, topic: string): boolean {
  const levels = topic.split('/')
  return levels.length === 5 && topic.startsWith(`${prefix}/`) && levels[2]!.startsWith('dora_') && levels[4] === 'config'
}

export interface DeviceState {
  loadPct: number | null
  batteryPct: number | null
  stage: string
  energyTodayWh: number | null
  linkMbps: number | null
  emulated: boolean
}

export interface JobState {
  latencyMs: number | null
  throughputRps: number | null
  qoeMet: boolean
  energyJPerRequest: number | null
  epoch: number | null
  goal: (typeof GOALS)[number]
  /** Whether the figures are measured by a source (else predicted by the plan). */
  measured: boolean
  /** Whether the plan meets the QoE bounds, or which bounds the closest plan it runs breaks and by how much. */
  plan: string
}
