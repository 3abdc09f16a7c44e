/**
 * The CBOR codec of the wire protocol. Byte strings decode as views over the received buffer
 * (no copy); decoding never throws on bad input, it returns a result naming the problem.
 *
 * Every decode has a budget (src/protocol/cbor-budgets.ts, one per topic): the message's bytes and
 * its items are counted by a scan that builds nothing (cbor-scan.ts) before cbor-x allocates an
 * object per item, so a small message of millions of tiny items, or one nested thousands deep,
 * costs a receiver microseconds and is refused instead of a second of decoding.
 */
import { Encoder, Decoder } from 'cbor-x'
import { ErrorCodes, type ErrorCode } from '../errors.js'
import { cborShapeProblem } from './cbor-scan.js'

// Plain CBOR only: no record extension (tag 105) and no typed-array tags for Uint8Array, so a
// microcontroller with a minimal CBOR library can read and write every payload.
const encoder = new Encoder({ useRecords: false, tagUint8Array: false, variableMapSize: true })
// int64AsNumber: firmware may send any integer width (a 64-bit time, say); schemas then check
// ranges, so a 64-bit integer decodes as a number rather than a BigInt no schema accepts.
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, int64AsNumber: true } as ConstructorParameters<typeof Decoder>[0])

export function encodeCbor(value: unknown): Buffer {
  return encoder.encode(value)
}

/** What one message may cost to decode: each is above the largest message its topic's schema accepts. */
export interface CborBudget {
  /** What the message is, for the error when it is over budget (`heartbeat`, `training step`). */
  readonly what: string
  /** Items: every value, map key and array element counts one (a string or byte string is one item, whatever its length). */
  readonly maxItems: number
  /** Arrays and maps nested in one another (a flat map is 1). */
  readonly maxDepth: number
  /** Bytes of the message (absent: the broker's packet limit alone). */
  readonly maxBytes?: number
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; error: string }

/**
 * Decodes one CBOR message within `budget`. Over the budget (bytes, items or depth) it is refused
 * unread with DORA_PAYLOAD_TOO_LARGE; not one well-formed item of definite lengths, with
 * DORA_PAYLOAD_NOT_CBOR.
 */
export function decodeCbor(bytes: Uint8Array, budget: CborBudget): DecodeResult<unknown> {
  if (bytes.byteLength === 0) return { ok: false, code: ErrorCodes.PAYLOAD_NOT_CBOR, error: 'empty payload' }
  if (budget.maxBytes !== undefined && bytes.byteLength > budget.maxBytes) {
    return { ok: false, code: ErrorCodes.PAYLOAD_TOO_LARGE, error: `${budget.what} of ${bytes.byteLength} bytes is over the ${budget.maxBytes} bytes it may have (refused unread)` }
  }
  const shape = cborShapeProblem(bytes, budget.maxItems, budget.maxDepth)
  if (shape) {
    const costly = shape.startsWith('more than') || shape.startsWith('nested more than')
    return costly
      ? { ok: false, code: ErrorCodes.PAYLOAD_TOO_LARGE, error: `${budget.what} over its budget: ${shape} (refused unread)` }
      : { ok: false, code: ErrorCodes.PAYLOAD_NOT_CBOR, error: `not valid CBOR: ${shape}` }
  }
  try {
    // the scan has seen exactly one item and no trailing bytes; cbor-x builds it
    const value = decoder.decode(bytes)
    return { ok: true, value }
  } catch (err) {
    return { ok: false, code: ErrorCodes.PAYLOAD_NOT_CBOR, error: `not valid CBOR: ${(err as Error).message}` }
  }
}
