/**
 * Every error code Dora emits, in one place (never reuse a code for another meaning).
 * Codes appear in logs, in error payloads published to devices, and in CLI output.
 */

export const ErrorCodes = {
  CONFIG_INVALID: 'DORA_CONFIG_INVALID',
  CONFIG_UNREADABLE: 'DORA_CONFIG_UNREADABLE',
  /** A scenario file (dora plan, simulate, demo, device --scenario) does not hold together. */
  SCENARIO_INVALID: 'DORA_SCENARIO_INVALID',
  /** The hub's state folder (hub.stateDir) cannot be created or read. */
  STATE_DIR: 'DORA_STATE_DIR',
  /** `dora mosquitto-config`: the hub config's accounts cannot be written as Mosquitto's password and ACL files. */
  MOSQUITTO_CONFIG: 'DORA_MOSQUITTO_CONFIG',
  PAYLOAD_NOT_CBOR: 'DORA_PAYLOAD_NOT_CBOR',
  PAYLOAD_INVALID: 'DORA_PAYLOAD_INVALID',
  PAYLOAD_VERSION: 'DORA_PAYLOAD_VERSION',
  PAYLOAD_TOO_LARGE: 'DORA_PAYLOAD_TOO_LARGE',
  DEVICE_ID_MISMATCH: 'DORA_DEVICE_ID_MISMATCH',
  CHUNK_INVALID: 'DORA_CHUNK_INVALID',
  CHUNK_CHECKSUM: 'DORA_CHUNK_CHECKSUM',
  CHUNK_CONFLICT: 'DORA_CHUNK_CONFLICT',
  PUBLISH_TIMEOUT: 'DORA_PUBLISH_TIMEOUT',
  PUBLISH_DROPPED: 'DORA_PUBLISH_DROPPED',
  HANDLER_FAILED: 'DORA_HANDLER_FAILED',
  SPEC_REJECTED: 'DORA_SPEC_REJECTED',
  REPORT_IMPLAUSIBLE: 'DORA_REPORT_IMPLAUSIBLE',
  BROKER_START: 'DORA_BROKER_START',
  BROKER_CONNECT: 'DORA_BROKER_CONNECT',
  MODEL_INVALID: 'DORA_MODEL_INVALID',
  /** A configured job could not start (its model does not load or profile). */
  JOB_START: 'DORA_JOB_START',
  /** The metrics and status endpoint could not listen on its host and port. */
  METRICS_LISTEN: 'DORA_METRICS_LISTEN',
  /** Home Assistant discovery could not be published at start. */
  HA_DISCOVERY: 'DORA_HA_DISCOVERY',
  /** Device side: a publish or fetch while the device is not connected to its broker. */
  NOT_CONNECTED: 'DORA_NOT_CONNECTED',
  /** Device side: an assignment that does not hold together (a training stage without its models). */
  ASSIGNMENT_INVALID: 'DORA_ASSIGNMENT_INVALID',
  /** Device side: a stage model fetched and verified, but onnxruntime does not load it. */
  STAGE_MODEL_LOAD: 'DORA_STAGE_MODEL_LOAD',
  /** Device side: a stage model's chunks stalled, did not decode, or do not add up to its sha256. */
  MODEL_FETCH: 'DORA_MODEL_FETCH',
  /** Device side: a stage model reads a tensor the plan does not send it. */
  STAGE_INPUT_MISSING: 'DORA_STAGE_INPUT_MISSING',
  /** Device side: a gradient all-reduce among a stage's replicas failed (a missing or wrong-sized segment). */
  ALLREDUCE: 'DORA_ALLREDUCE',
  /** Device side: a training-state checkpoint that does not fit its stage (no such parameter, another shape or size, a value not finite); refused, nothing changed. */
  CHECKPOINT_INVALID: 'DORA_CHECKPOINT_INVALID',
  /** Device side: a training stage asked for a parameter it does not have (or with another number of values). */
  PARAM_UNKNOWN: 'DORA_PARAM_UNKNOWN',
  /** A request (a ping, a query) got no answer in time. */
  NO_ANSWER: 'DORA_NO_ANSWER',
  USAGE: 'DORA_USAGE',
  DEMO_NOT_READY: 'DORA_DEMO_NOT_READY',
  DEMO_STOPPED: 'DORA_DEMO_STOPPED',
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

/** An error that carries a stable code and, where known, the offending detail. */
export class DoraError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message)
    this.name = 'DoraError'
  }
}
