/**
 * A device's bound on whole tensors it holds for later: inputs waiting for a request's other
 * inputs, or for the plan and assignment of their epoch. Senders choose epochs and request ids
 * freely, so without a bound a stream of tensors for an epoch that never comes grows the device
 * for ever. The holder admits a tensor only while it holds fewer than `maxTensors` tensors and
 * `maxBytes` bytes, and releases what it drops or runs; the age bound is the holder's own sweep.
 */
export class HoldLimit {
  private tensorsHeld = 0
  private bytesHeld = 0

  constructor(
    readonly maxTensors: number,
    readonly maxBytes: number,
  ) {}

  get tensors(): number {
    return this.tensorsHeld
  }

  get bytes(): number {
    return this.bytesHeld
  }

  /** Takes room for one tensor of `bytes`; returns why not when there is none. */
  admit(bytes: number): string | null {
    if (this.tensorsHeld + 1 > this.maxTensors) return `${this.tensorsHeld} tensors already held (the limit)`
    if (this.bytesHeld + bytes > this.maxBytes) return `${this.bytesHeld} bytes already held, ${bytes} more would pass the limit of ${this.maxBytes}`
    this.tensorsHeld++
    this.bytesHeld += bytes
    return null
  }

  release(bytes: number): void {
    this.tensorsHeld--
    this.bytesHeld -= bytes
  }
}
