/** A binary min-heap keyed by time, with insertion order breaking ties (deterministic). */
export class EventHeap<T> {
  private readonly items: Array<{ t: number; seq: number; v: T }> = []
  private seq = 0

  get size(): number {
    return this.items.length
  }

  push(t: number, v: T): void {
    const a = this.items
    a.push({ t, seq: this.seq++, v })
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(a[i]!, a[p]!)) break
      ;[a[i], a[p]] = [a[p]!, a[i]!]
      i = p
    }
  }

  pop(): { t: number; v: T } | undefined {
    const a = this.items
    if (!a.length) return undefined
    const top = a[0]!
    const last = a.pop()!
    if (a.length) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r
        if (m === i) break
        ;[a[i], a[m]] = [a[m]!, a[i]!]
        i = m
      }
    }
    return { t: top.t, v: top.v }
  }

  private less(a: { t: number; seq: number }, b: { t: number; seq: number }): boolean {
    return a.t < b.t || (a.t === b.t && a.seq < b.seq)
  }
}

/**
 * Runs a heap's events in time order up to `horizonS`, telling `setNow` each event's time first;
 * refuses to run away past 50 million events.
 */
export function runEvents(heap: EventHeap<() => void>, horizonS: number, setNow: (t: number) => void): void {
  let events = 0
  for (let e = heap.pop(); e && e.t <= horizonS; e = heap.pop()) {
    setNow(e.t)
    e.v()
    if (++events > 50_000_000) throw new RangeError('simulation exceeded 50 million events: shorten --duration or lower the rate')
  }
}
