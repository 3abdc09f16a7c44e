/** A binary min-heap keyed by time, with insertion order breaking ties (deterministic). */
export class EventHeap<T> {
  // parallel arrays (times, insertion numbers, values): no record per event
  private readonly ts: number[] = []
  private readonly seqs: number[] = []
  private readonly vs: T[] = []
  private seq = 0
  /** The time of the event pop() returned last. */
  lastT = 0

  get size(): number {
    return this.ts.length
  }

  push(t: number, v: T): void {
    const { ts, seqs, vs } = this
    const s = this.seq++
    // sift up with a hole: the same comparisons and final places as swapping
    let i = ts.length
    ts.push(t)
    seqs.push(s)
    vs.push(v)
    while (i > 0) {
      const p = (i - 1) >> 1
      const pt = ts[p]!
      if (!(t < pt || (t === pt && s < seqs[p]!))) break
      ts[i] = pt
      seqs[i] = seqs[p]!
      vs[i] = vs[p]!
      i = p
    }
    ts[i] = t
    seqs[i] = s
    vs[i] = v
  }

  /** Drops every event. */
  clear(): void {
    this.ts.length = 0
    this.seqs.length = 0
    this.vs.length = 0
  }

  pop(): { t: number; v: T } | undefined {
    if (!this.ts.length) return undefined
    const v = this.popValue() as T
    return { t: this.lastT, v }
  }

  /** The earliest event's value (its time in lastT), or undefined when there is none. */
  popValue(): T | undefined {
    const { ts, seqs, vs } = this
    const n = ts.length
    if (!n) return undefined
    this.lastT = ts[0]!
    const top = vs[0]!
    const t = ts.pop()!
    const s = seqs.pop()!
    const v = vs.pop()!
    const len = n - 1
    if (len) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        // the least of the hole's two children and the moved last item
        let m = -1
        let mt = t
        let ms = s
        if (l < len && (ts[l]! < mt || (ts[l] === mt && seqs[l]! < ms))) {
          m = l
          mt = ts[l]!
          ms = seqs[l]!
        }
        if (r < len && (ts[r]! < mt || (ts[r] === mt && seqs[r]! < ms))) {
          m = r
          mt = ts[r]!
          ms = seqs[r]!
        }
        if (m < 0) break
        ts[i] = mt
        seqs[i] = ms
        vs[i] = vs[m]!
        i = m
      }
      ts[i] = t
      seqs[i] = s
      vs[i] = v
    }
    return top
  }
}

/**
 * Runs a heap's events in time order up to `horizonS`, telling `setNow` each event's time first;
 * refuses to run away past 50 million events.
 */
export function runEvents(heap: EventHeap<() => void>, horizonS: number, setNow: (t: number) => void): void {
  let events = 0
  for (;;) {
    if (heap.size === 0) return
    const v = heap.popValue() as () => void
    if (!(heap.lastT <= horizonS)) return
    setNow(heap.lastT)
    v()
    if (++events > 50_000_000) throw new RangeError('simulation exceeded 50 million events: shorten --duration or lower the rate')
  }
}
