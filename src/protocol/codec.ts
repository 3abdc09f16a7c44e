/**
 * The CBOR codec of the wire protocol. Byte strings decode as views over the received buffer
 * (no copy); decoding never throws on bad input, it returns a result naming the problem.
 */
import { Encoder, Decoder } from 'cbor-x'
import { ErrorCodes, type ErrorCode } from '../errors.js'

// Plain CBOR only: no record extension (tag 105) and no typed-array tags for Uint8Array, so a
// microcontroller with a minimal CBOR library can read and write every payload.
const encoder = new Encoder({ useRecords: false, tagUint8Array: false, variableMapSize: true })
// int64AsNumber: firmware may send any integer width (a 64-bit time, say); schemas then check
// ranges, so a 64-bit integer decodes as a number rather than a BigInt no schema accepts.
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, int64AsNumber: true } as ConstructorParameters<typeof Decoder>[0])

export function encodeCbor(value: unknown): Buffer {
  return encoder.encode(value)
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; error: string }

export function decodeCbor(bytes: Uint8Array): DecodeResult<unknown> {
  if (bytes.byteLength === 0) return { ok: false, code: ErrorCodes.PAYLOAD_NOT_CBOR, error: 'empty payload' }
  try {
    // decodeMultiple would accept trailing items; a payload is exactly one CBOR item.
    const value = decoder.decode(bytes)
    return { ok: true, value }
  } catch (err) {
    return { ok: false, code: ErrorCodes.PAYLOAD_NOT_CBOR, error: `not valid CBOR: ${(err as Error).message}` }
  }
}
