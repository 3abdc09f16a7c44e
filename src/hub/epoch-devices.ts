/**
 * Which devices a job's data plane is open to (the broker's ACL reads it): the devices of the
 * current epoch and of the few before it (devices keep their last 4 epochs, so old requests
 * finish on old stages), and the job's source devices.
 */

/** Epochs whose devices keep their data-plane topics open (devices keep their last 4 epochs). */
export const EPOCHS_OPEN = 4

export class EpochDevices {
  private current = new Set<string>()
  /** The devices of the epochs before the current one (the last EPOCHS_OPEN - 1). */
  private previous: Array<Set<string>> = []

  /** The devices of the current epoch. */
  get assigned(): ReadonlySet<string> {
    return this.current
  }

  /** The devices of the epoch before the current one. */
  get before(): ReadonlySet<string> {
    return this.previous[this.previous.length - 1] ?? new Set()
  }

  /** A new epoch with stages on `devices`; returns the devices of the epoch before. */
  advance(devices: Iterable<string>): ReadonlySet<string> {
    const before = this.current
    this.previous = [...this.previous, before].slice(-(EPOCHS_OPEN - 1))
    this.current = new Set(devices)
    return before
  }

  /** The devices open now: the recent epochs' and `sources`. */
  open(sources: readonly string[]): ReadonlySet<string> {
    return new Set([...this.current, ...this.previous.flatMap((p) => [...p]), ...sources])
  }
}
