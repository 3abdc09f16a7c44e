/**
 * Topic builders and parsers for Dora's wire contract (topics.md is the human face).
 * Every topic string in Dora is built or parsed here; nothing else concatenates topics.
 */

export const PROTOCOL_VERSION = 1
export const ROOT = 'dora/v1'

/** Ids name devices and jobs inside topic levels: no wildcards, separators or control bytes. */
const ID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/

export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id)
}

export function assertId(kind: string, id: string): string {
  if (!isValidId(id)) {
    throw new TypeError(
      `invalid ${kind} id ${JSON.stringify(id)}: use 1-64 characters of A-Z a-z 0-9 _ - . (not starting with .)`,
    )
  }
  return id
}

/**
 * Per-device topics: topics.md § Devices. `air` carries the device's asks for the air and its
 * returns (device to hub), `grant` the hub's grants (hub to device): topics.md § Air grants.
 */
export type DeviceTopicKind = 'caps' | 'heartbeat' | 'availability' | 'assignment' | 'error' | 'air' | 'grant'
export const DEVICE_TOPIC_KINDS: readonly DeviceTopicKind[] = ['caps', 'heartbeat', 'availability', 'assignment', 'error', 'air', 'grant']

/**
 * Per-job topics: topics.md § Jobs. `tensors` carries the receiving device id as a further level,
 * `results` and `receipts` the consumer's (a device id, or `hub`).
 */
export type JobTopicKind = 'plan' | 'requests' | 'tensors' | 'spec' | 'status' | 'steps'
/** Per-job topics addressed to one consumer: a request's results, and a source's receipts for results that went elsewhere. */
export type ResultTopicKind = 'results' | 'receipts'

export const topics = {
  device(deviceId: string, kind: DeviceTopicKind): string {
    return `${ROOT}/devices/${assertId('device', deviceId)}/${kind}`
  },
  /** Wildcard subscription for one kind of device topic across the fleet. */
  allDevices(kind: DeviceTopicKind): string {
    return `${ROOT}/devices/+/${kind}`
  },
  job(jobId: string, kind: Exclude<JobTopicKind, 'tensors'>): string {
    return `${ROOT}/jobs/${assertId('job', jobId)}/${kind}`
  },
  /** A job's results (or receipts) for one consumer: a device id, or `hub` (HUB_SOURCE). */
  results(jobId: string, toId: string, kind: ResultTopicKind = 'results'): string {
    return `${ROOT}/jobs/${assertId('job', jobId)}/${kind}/${assertId('consumer', toId)}`
  },
  tensors(jobId: string, toDeviceId: string): string {
    return `${ROOT}/jobs/${assertId('job', jobId)}/tensors/${assertId('device', toDeviceId)}`
  },
  /** One chunk of a stage model, addressed by the model's sha256 (retained). */
  modelChunk(sha256: string, index: number): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new RangeError(`model sha256 must be 64 lowercase hex digits, got ${JSON.stringify(sha256)}`)
    if (!Number.isInteger(index) || index < 0) throw new RangeError(`chunk index must be a whole number, got ${index}`)
    return `${ROOT}/models/${sha256}/${index}`
  },
  /** One chunk of an ONNX model an operator uploads with a job spec (retained, by sha256). */
  upload(sha256: string, index: number): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new RangeError(`upload sha256 must be 64 lowercase hex digits, got ${JSON.stringify(sha256)}`)
    if (!Number.isInteger(index) || index < 0) throw new RangeError(`chunk index must be a whole number, got ${index}`)
    return `${ROOT}/uploads/${sha256}/${index}`
  },
  /**
   * Training state (topics.md § Training checkpoints): devices send their stages' checkpoints
   * (`checkpoint`) and ask for a stage's state (`restore`) to the hub; the hub answers one device
   * on `{kind}/{device}`.
   */
  trainingState(jobId: string, kind: TrainingStateKind, toDeviceId?: string): string {
    return `${ROOT}/jobs/${assertId('job', jobId)}/${kind}${toDeviceId === undefined ? '' : `/${assertId('device', toDeviceId)}`}`
  },
  hubAvailability: `${ROOT}/hub/availability`,
  hubState: `${ROOT}/hub/state`,
  /** Daily energy summary of the configured jobs (JSON, retained). */
  hubEnergy: `${ROOT}/hub/energy`,
} as const

/** Training-state topics: checkpoint tensors, and restore requests and answers. */
export type TrainingStateKind = 'checkpoint' | 'restore'

export type ParsedTopic =
  | { scope: 'device'; deviceId: string; kind: DeviceTopicKind }
  | { scope: 'job'; jobId: string; kind: Exclude<JobTopicKind, 'tensors'> }
  | { scope: 'tensors'; jobId: string; toDeviceId: string }
  | { scope: 'results'; jobId: string; kind: ResultTopicKind; toId: string }
  /** `toDeviceId` null: to the hub. */
  | { scope: 'state'; jobId: string; kind: TrainingStateKind; toDeviceId: string | null }
  | { scope: 'hub'; kind: 'availability' | 'state' }

/**
 * Home Assistant (MQTT discovery): Dora's JSON state topics for dashboards, and the discovery
 * topics under Home Assistant's prefix (`homeassistant` unless configured otherwise).
 */
export const ha = {
  deviceState(deviceId: string): string {
    return `${ROOT}/ha/devices/${assertId('device', deviceId)}/state`
  },
  jobState(jobId: string): string {
    return `${ROOT}/ha/jobs/${assertId('job', jobId)}/state`
  },
  /** Home Assistant's select entity sets a job's optimisation goal here. */
  jobGoalSet(jobId: string): string {
    return `${ROOT}/ha/jobs/${assertId('job', jobId)}/goal/set`
  },
  allJobGoalSets: `${ROOT}/ha/jobs/+/goal/set`,
  /** `<prefix>/<component>/<node_id>/<object_id>/config` (retained). */
  config(prefix: string, component: string, nodeId: string, objectId: string): string {
    for (const [k, v] of [['component', component], ['node id', nodeId], ['object id', objectId]] as const) {
      if (!/^[a-zA-Z0-9_-]+$/.test(v)) throw new TypeError(`Home Assistant ${k} ${JSON.stringify(v)} must be letters, digits, _ or -`)
    }
    return `${prefix}/${component}/${nodeId}/${objectId}/config`
  },
  /** Every discovery config under the prefix (to find stale ones). */
  allConfigs(prefix: string): string {
    return `${prefix}/+/+/+/config`
  },
  /** Home Assistant's birth and last-will topic. */
  status(prefix: string): string {
    return `${prefix}/status`
  },
} as const

/** Parses a concrete (wildcard-free) topic of the Dora tree; returns null for anything else. */
export function parseTopic(topic: string): ParsedTopic | null {
  const levels = topic.split('/')
  if (levels[0] !== 'dora' || levels[1] !== 'v1') return null
  const [, , scope, a, b, c] = levels
  if (scope === 'devices' && levels.length === 5 && a && isValidId(a)) {
    if ((DEVICE_TOPIC_KINDS as readonly string[]).includes(b ?? '')) {
      return { scope: 'device', deviceId: a, kind: b as DeviceTopicKind }
    }
    return null
  }
  if (scope === 'jobs' && a && isValidId(a)) {
    if (levels.length === 5 && (b === 'plan' || b === 'requests' || b === 'spec' || b === 'status' || b === 'steps')) {
      return { scope: 'job', jobId: a, kind: b }
    }
    if (levels.length === 6 && b === 'tensors' && c && isValidId(c)) {
      return { scope: 'tensors', jobId: a, toDeviceId: c }
    }
    if (levels.length === 6 && (b === 'results' || b === 'receipts') && c && isValidId(c)) {
      return { scope: 'results', jobId: a, kind: b, toId: c }
    }
    if ((b === 'checkpoint' || b === 'restore') && (levels.length === 5 || (levels.length === 6 && c && isValidId(c)))) {
      return { scope: 'state', jobId: a, kind: b, toDeviceId: levels.length === 6 ? c! : null }
    }
    return null
  }
  if (scope === 'hub' && levels.length === 4 && (a === 'availability' || a === 'state')) {
    return { scope: 'hub', kind: a }
  }
  return null
}

/** The source name of requests the hub (or a process beside it) sends: not a device id. */
export const HUB_SOURCE = 'hub'

/** Availability payloads (plain text, retained; the device's MQTT last will is `offline`). */
export const AVAILABILITY = { online: 'online', offline: 'offline' } as const

/** Subscription filters of the Dora tree (ACLs and subscribers use these, never literals). */
export const filters = {
  everything: `${ROOT}/#`,
  hub: `${ROOT}/hub/#`,
  deviceOwn(deviceId: string): string {
    return `${ROOT}/devices/${assertId('device', deviceId)}/#`
  },
  /** Every chunk of one stage model. */
  modelChunks(sha256: string): string {
    return `${ROOT}/models/${sha256}/+`
  },
  /** Every stage model's chunks: readable by every device. */
  allModels: `${ROOT}/models/+/+`,
  /** Every chunk of one uploaded model. */
  uploadChunks(sha256: string): string {
    return `${ROOT}/uploads/${sha256}/+`
  },
  /** Every uploaded model's chunks: operators publish them. */
  allUploads: `${ROOT}/uploads/+/+`,
  /** Every job's spec (operators submit, the hub subscribes). */
  allJobSpecs: `${ROOT}/jobs/+/spec`,
  /** Every job's status (the hub publishes). */
  allJobStatus: `${ROOT}/jobs/+/status`,
  /** Every job's plan epoch: readable by every device (plans are no secret; data is). */
  allJobPlans: `${ROOT}/jobs/+/plan`,
  /** Every tensor addressed to one device, of any job (a device subscribes from the start). */
  tensorsToDevice(deviceId: string): string {
    return `${ROOT}/jobs/+/tensors/${assertId('device', deviceId)}`
  },
  jobTensorsAnyDevice(jobId: string): string {
    return `${ROOT}/jobs/${assertId('job', jobId)}/tensors/+`
  },
  /**
   * Every job's data plane (a static ACL such as Mosquitto's, which cannot follow which jobs a
   * device is assigned to, grants these to every device).
   */
  allJobRequests: `${ROOT}/jobs/+/requests`,
  allJobTensors: `${ROOT}/jobs/+/tensors/+`,
  allJobResults: `${ROOT}/jobs/+/results/+`,
  allJobReceipts: `${ROOT}/jobs/+/receipts/+`,
  /** One job's results (or receipts) for any consumer. */
  jobResultsAny(jobId: string, kind: ResultTopicKind = 'results'): string {
    return `${ROOT}/jobs/${assertId('job', jobId)}/${kind}/+`
  },
  /** Every job's results (or receipts) for one consumer (a device id, or `hub`). */
  resultsTo(toId: string, kind: ResultTopicKind = 'results'): string {
    return `${ROOT}/jobs/+/${kind}/${assertId('consumer', toId)}`
  },
  allJobSteps: `${ROOT}/jobs/+/steps`,
  /** Training state to the hub (devices write, only the hub reads). */
  allJobCheckpoints: `${ROOT}/jobs/+/checkpoint`,
  allJobRestores: `${ROOT}/jobs/+/restore`,
  /** Training state from the hub to one device (only that device reads). */
  checkpointsToDevice(deviceId: string): string {
    return `${ROOT}/jobs/+/checkpoint/${assertId('device', deviceId)}`
  },
  restoresToDevice(deviceId: string): string {
    return `${ROOT}/jobs/+/restore/${assertId('device', deviceId)}`
  },
  /** Every training-state topic (to the hub and to any device): denied to readers of dora/v1/# other than the hub. */
  allTrainingState: [`${ROOT}/jobs/+/checkpoint`, `${ROOT}/jobs/+/restore`, `${ROOT}/jobs/+/checkpoint/+`, `${ROOT}/jobs/+/restore/+`] as readonly string[],
} as const
