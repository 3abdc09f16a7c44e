/**
 * Cyclic interval reservations for the network scheduler: a resource (the air, or a device's
 * processor) used periodically with cycle length C holds intervals of [0, C); a request for d
 * time units from `ready` on gets the earliest start t >= ready whose interval [t, t + d) mod C
 * overlaps nothing held. Pure.
 *
 * Complexity: earliest() is O(n) per probe and probes at most n + 2 times for n held intervals.
 */
export class CyclicTimeline {
  /** Held intervals, sorted by start, within [0, cycle), never wrapping (wrapped ones are split). */
  private readonly held: Array<[number, number]> = []
  private busy = 0

  constructor(readonly cycle: number) {
    if (!(cycle > 0)) throw new RangeError(`cycle must be positive, not ${cycle}`)
  }

  /** Time held per cycle. */
  get load(): number {
    return this.busy
  }

  /** The earliest start >= ready for a hold of `d`, or null if no gap of `d` exists. */
  earliest(ready: number, d: number): number | null {
    if (d > this.cycle - this.busy + 1e-9) return null
    if (d <= 0) return ready
    let t = ready
    for (let probe = 0; probe <= this.held.length + 2; probe++) {
      const clash = this.clash(t, d)
      if (clash === null) return t
      // move to the end of the clashing interval (in the cycle that t's window touches)
      const base = Math.floor(t / this.cycle) * this.cycle
      let end = base + clash[1]
      if (end <= t) end += this.cycle
      t = end
    }
    return null
  }

  hold(start: number, d: number): void {
    if (d <= 0) return
    const a = ((start % this.cycle) + this.cycle) % this.cycle
    const pieces: Array<[number, number]> = a + d <= this.cycle ? [[a, a + d]] : [[a, this.cycle], [0, a + d - this.cycle]]
    for (const p of pieces) {
      const i = this.held.findIndex((h) => h[0] > p[0])
      this.held.splice(i < 0 ? this.held.length : i, 0, p)
    }
    this.busy += d
  }

  /** The first held interval that [t, t + d) mod cycle overlaps (touching ends do not). */
  private clash(t: number, d: number): [number, number] | null {
    const a = ((t % this.cycle) + this.cycle) % this.cycle
    const windows: Array<[number, number]> = a + d <= this.cycle ? [[a, a + d]] : [[a, this.cycle], [0, a + d - this.cycle]]
    const eps = 1e-9
    for (const [s, e] of windows) {
      for (const h of this.held) if (h[0] < e - eps && s < h[1] - eps) return h
    }
    return null
  }
}
