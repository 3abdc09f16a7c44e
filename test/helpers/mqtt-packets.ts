/** Raw MQTT bytes for the frame guard's tests. */

/** [MQTT-2.2.3] the remaining-length varint of a body of `bodyLength` bytes. */
export function remainingLength(bodyLength: number): Buffer {
  const len: number[] = []
  let x = bodyLength
  do {
    let b = x % 128
    x = Math.floor(x / 128)
    if (x > 0) b |= 0x80
    len.push(b)
  } while (x > 0)
  return Buffer.from(len)
}

/** A PUBLISH fixed header and a body of `bodyLength` bytes (contents arbitrary: the guard reads only the frame). */
export function packet(bodyLength: number): Buffer {
  return Buffer.concat([Buffer.from([0x30]), remainingLength(bodyLength), Buffer.alloc(bodyLength, 7)])
}
