/** Raw MQTT bytes for the frame guard's tests (the remaining-length varint is the publisher's own, src/mqtt/no-copy-publish.ts). */
import { remainingLength } from '../../src/mqtt/no-copy-publish.js'

export { remainingLength }

/** A PUBLISH fixed header and a body of `bodyLength` bytes (contents arbitrary: the guard reads only the frame). */
export function packet(bodyLength: number): Buffer {
  return Buffer.concat([Buffer.from([0x30]), remainingLength(bodyLength), Buffer.alloc(bodyLength, 7)])
}
