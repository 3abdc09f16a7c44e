/**
 * A message written as two parts, one after the other, never joined: a small head and a large
 * body that is a view of data the sender already holds (a tensor chunk: its CBOR header, then
 * the tensor's bytes). Joining them would allocate a fresh buffer and copy every byte sent, the
 * largest cost of a sending process (BENCHMARKS.md, issue 18). The bytes on the wire are the same.
 * The body must not change until the message is acknowledged.
 */
export class SplitPayload {
  constructor(readonly head: Buffer, readonly body: Uint8Array) {}

  get byteLength(): number {
    return this.head.byteLength + this.body.byteLength
  }

  /** The whole message in one buffer (one copy), for paths that need one. */
  join(): Buffer {
    const out = Buffer.allocUnsafe(this.byteLength)
    out.set(this.head, 0)
    out.set(this.body, this.head.byteLength)
    return out
  }
}

/** A payload as one buffer: a split one joined. */
export function joined(payload: Buffer | SplitPayload): Buffer {
  return payload instanceof SplitPayload ? payload.join() : payload
}
