/**
 * Every error code Dora emits, in one place (never reuse a code for another meaning).
 * Codes appear in logs, in error payloads published to devices, and in CLI output.
 */

export const ErrorCodes = {
  CONFIG_INVALID: 'DORA_CONFIG_INVALID',
  CONFIG_UNREADABLE: 'DORA_CONFIG_UNREADABLE',
  PAYLOAD_NOT_CBOR: 'DORA_PAYLOAD_NOT_CBOR',
  PAYLOAD_INVALID: 'DORA_PAYLOAD_INVALID',
  PAYLOAD_VERSION: 'DORA_PAYLOAD_VERSION',
  PAYLOAD_TOO_LARGE: 'DORA_PAYLOAD_TOO_LARGE',
  DEVICE_ID_MISMATCH: 'DORA_DEVICE_ID_MISMATCH',
  CHUNK_INVALID: 'DORA_CHUNK_INVALID',
  CHUNK_CHECKSUM: 'DORA_CHUNK_CHECKSUM',
  CHUNK_CONFLICT: 'DORA_CHUNK_CONFLICT',
  REASSEMBLY_TIMEOUT: 'DORA_REASSEMBLY_TIMEOUT',
  PUBLISH_TIMEOUT: 'DORA_PUBLISH_TIMEOUT',
  PUBLISH_DROPPED: 'DORA_PUBLISH_DROPPED',
  HANDLER_FAILED: 'DORA_HANDLER_FAILED',
  SPEC_REJECTED: 'DORA_SPEC_REJECTED',
  REPORT_IMPLAUSIBLE: 'DORA_REPORT_IMPLAUSIBLE',
  BROKER_START: 'DORA_BROKER_START',
  BROKER_CONNECT: 'DORA_BROKER_CONNECT',
  MODEL_INVALID: 'DORA_MODEL_INVALID',
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
