/**
 * Partial plans of the partitioner's search (partition-dp.ts) as labels over four objectives
 * (period, latency, energy, air time per request), and the Pareto sets and beam that thin them.
 * Labels are rows of a pool of typed arrays (LabelPool), a set of them an array of row numbers:
 * a search makes hundreds of thousands, most of them never expanded, and as objects (each figure
 * a boxed double) they were most of the garbage its scavenges copied. Pure.
 */

/**
 * Partial plans, one row each: the figures so far and the last stage, linked to the partial plan
 * before it (parent row, -1: none). Training also carries what its step estimates need
 * (StepEstimate; 0 for inference): the checkpoints' air time per step spread over the steps
 * between them (ckptMs), the energy per sample of compute over idle, transfers, all-reduce and
 * checkpoints (busyJ), and the idle power of the plan's devices so far (idleW). Rows are written
 * at the top (`size`) and kept only by `insert` (a label a set rejects costs nothing).
 */
export class LabelPool<S> {
  periodMs: Float64Array
  latencyMs: Float64Array
  energyJ: Float64Array
  airMs: Float64Array
  ckptMs: Float64Array
  busyJ: Float64Array
  idleW: Float64Array
  parent: Int32Array
  depth: Int32Array
  readonly stage: Array<S | null> = []
  size = 0

  constructor(capacity = 4096) {
    this.periodMs = new Float64Array(capacity)
    this.latencyMs = new Float64Array(capacity)
    this.energyJ = new Float64Array(capacity)
    this.airMs = new Float64Array(capacity)
    this.ckptMs = new Float64Array(capacity)
    this.busyJ = new Float64Array(capacity)
    this.idleW = new Float64Array(capacity)
    this.parent = new Int32Array(capacity)
    this.depth = new Int32Array(capacity)
  }

  /** Writes a label into the row at the top (not yet kept) and returns its number. */
  put(periodMs: number, latencyMs: number, energyJ: number, airMs: number, ckptMs: number, busyJ: number, idleW: number, stage: S | null, parent: number, depth: number): number {
    const k = this.size
    if (k === this.periodMs.length) this.grow()
    this.periodMs[k] = periodMs
    this.latencyMs[k] = latencyMs
    this.energyJ[k] = energyJ
    this.airMs[k] = airMs
    this.ckptMs[k] = ckptMs
    this.busyJ[k] = busyJ
    this.idleW[k] = idleW
    this.stage[k] = stage
    this.parent[k] = parent
    this.depth[k] = depth
    return k
  }

  private grow(): void {
    const n = 2 * this.periodMs.length
    const f = (a: Float64Array) => { const b = new Float64Array(n); b.set(a); return b }
    const i = (a: Int32Array) => { const b = new Int32Array(n); b.set(a); return b }
    this.periodMs = f(this.periodMs)
    this.latencyMs = f(this.latencyMs)
    this.energyJ = f(this.energyJ)
    this.airMs = f(this.airMs)
    this.ckptMs = f(this.ckptMs)
    this.busyJ = f(this.busyJ)
    this.idleW = f(this.idleW)
    this.parent = i(this.parent)
    this.depth = i(this.depth)
  }
}

/**
 * Training's fast thinning (partition-dp.ts): what turns a label into estimates of a whole step
 * of M micro-batches of b samples, on the job's goal, which neither objective's extreme nor the
 * latency spread holds. w = (M - 1) x b: the period is per sample, the latency per micro-batch.
 */
export interface StepEstimate {
  readonly w: number
  /** Samples per step, M x b. */
  readonly samples: number
  /** The longest step that meets the job's throughput bound (samples x 1000 / bound; Infinity: none), ms. */
  readonly maxStepMs: number
  /** The job's goal is energy (else a step's time: throughput or latency). */
  readonly energyGoal: boolean
}

/**
 * A step's estimate, ms: one pass (the latency), then M - 1 more micro-batches at the slowest
 * pace (w x period), and the checkpoints' air that a step waits behind, spread over the steps.
 */
export function stepMsOf<S>(p: LabelPool<S>, l: number, e: StepEstimate): number {
  return p.latencyMs[l]! + e.w * p.periodMs[l]! + p.ckptMs[l]!
}

/**
 * A label's rank on the job's goal, least first: its estimated step time (throughput, latency);
 * for an energy goal its estimated energy per sample (the idle power over the estimated step,
 * the rest as counted) while its estimated step meets the throughput bound (a plan that does
 * not is never chosen), else Infinity, those then by their step time.
 */
export function goalKeyOf<S>(p: LabelPool<S>, l: number, e: StepEstimate): number {
  const ms = stepMsOf(p, l, e)
  if (!e.energyGoal) return ms
  return ms <= e.maxStepMs ? p.busyJ[l]! + (p.idleW[l]! * ms) / 1000 / e.samples : Infinity
}

export function dominates<S>(p: LabelPool<S>, a: number, b: number): boolean {
  const { periodMs: P, latencyMs: L, energyJ: E, airMs: A } = p
  return P[a]! <= P[b]! && L[a]! <= L[b]! && E[a]! <= E[b]! && A[a]! <= A[b]! &&
    (P[a]! < P[b]! || L[a]! < L[b]! || E[a]! < E[b]! || A[a]! < A[b]!)
}

/** True when a label of the set is at least as good on every objective (the new one adds nothing). */
export function covered<S>(p: LabelPool<S>, set: readonly number[], periodMs: number, latencyMs: number, energyJ: number, airMs: number): boolean {
  const { periodMs: P, latencyMs: L, energyJ: E, airMs: A } = p
  for (let k = 0; k < set.length; k++) {
    const x = set[k]!
    if (P[x]! <= periodMs && L[x]! <= latencyMs && E[x]! <= energyJ && A[x]! <= airMs) return true
  }
  return false
}

/**
 * Inserts the label at the pool's top row into a Pareto set (the row is kept when it enters);
 * thins to `size` keeping each objective's best and an even spread by latency.
 */
export function insert<S>(p: LabelPool<S>, set: number[], size: number, estimate?: StepEstimate): void {
  const label = p.size
  const { periodMs: P, latencyMs: L, energyJ: E, airMs: A } = p
  for (const x of set) if (dominates(p, x, label) || (P[x] === P[label] && L[x] === L[label] && E[x] === E[label] && A[x] === A[label])) return
  for (let i = set.length - 1; i >= 0; i--) if (dominates(p, label, set[i]!)) set.splice(i, 1)
  p.size++
  set.push(label)
  if (set.length > size) thin(p, set, size, estimate)
}

/** Scratch for thin (a set holds a handful of labels): kept flags and indices in latency order. */
let KEEP = new Uint8Array(16)
let ORDER = new Int32Array(16)

/**
 * Keeps `size` labels of `set`, in place and in their order: the first best of each objective
 * (period, latency, energy, air time), then labels evenly spread in (stable) latency order.
 */
function thin<S>(pool: LabelPool<S>, set: number[], size: number, estimate?: StepEstimate): void {
  const n = set.length
  if (KEEP.length < n) {
    KEEP = new Uint8Array(2 * n)
    ORDER = new Int32Array(2 * n)
  }
  const { periodMs: P, latencyMs: L, energyJ: E, airMs: A } = pool
  KEEP.fill(0, 0, n)
  let kept = 0
  const mark = (k: number) => {
    if (!KEEP[k]) {
      KEEP[k] = 1
      kept++
    }
  }
  let p = 0
  let l = 0
  let e = 0
  let a = 0
  for (let k = 1; k < n; k++) {
    const x = set[k]!
    if (P[x]! < P[set[p]!]!) p = k
    if (L[x]! < L[set[l]!]!) l = k
    if (E[x]! < E[set[e]!]!) e = k
    if (A[x]! < A[set[a]!]!) a = k
  }
  mark(p)
  mark(l)
  mark(e)
  mark(a)
  if (estimate) mark(firstRanked(pool, set, estimate))
  // stable insertion sort of the indices by latency
  for (let k = 0; k < n; k++) {
    let m = k
    while (m > 0 && L[set[ORDER[m - 1]!]!]! > L[set[k]!]!) {
      ORDER[m] = ORDER[m - 1]!
      m--
    }
    ORDER[m] = k
  }
  // an index past the end counts once as kept, keeping nothing (as a Set holding undefined did)
  let past = false
  for (let k = 0; kept < size && k < n; k++) {
    const at = Math.round((k * (n - 1)) / Math.max(1, size - 1))
    if (at < n) mark(ORDER[at]!)
    else if (!past) {
      past = true
      kept++
    }
  }
  let w = 0
  for (let k = 0; k < n; k++) if (KEEP[k]) set[w++] = set[k]!
  set.length = w
}

/** The index in `set` of the first label that ranks first on the goal (goalKeyOf, then the step time). */
function firstRanked<S>(p: LabelPool<S>, set: readonly number[], e: StepEstimate): number {
  let k0 = 0
  let key0 = goalKeyOf(p, set[0]!, e)
  let ms0 = stepMsOf(p, set[0]!, e)
  for (let k = 1; k < set.length; k++) {
    const key = goalKeyOf(p, set[k]!, e)
    if (key > key0) continue
    const ms = stepMsOf(p, set[k]!, e)
    if (key < key0 || ms < ms0) {
      k0 = k
      key0 = key
      ms0 = ms
    }
  }
  return k0
}

/** Training: fills the beam to `width` with the pooled labels that rank first on the goal (ranksBefore; ties in pooling order). */
function fillByRank<S>(p: LabelPool<S>, keep: Set<number>, width: number, labels: readonly number[], e: StepEstimate): void {
  const n = labels.length
  const key = labels.map((l) => goalKeyOf(p, l, e))
  const ms = labels.map((l) => stepMsOf(p, l, e))
  const order = Array.from({ length: n }, (_, k) => k).sort((a, b) => (key[a] === key[b] ? 0 : key[a]! < key[b]! ? -1 : 1) || ms[a]! - ms[b]! || a - b)
  for (let k = 0; keep.size < width && k < n; k++) keep.add(order[k]!)
}

/** Scratch for beam: each pooled label's figures, by its index in pooling order. */
let LAT = new Float64Array(1024)
let PER = new Float64Array(1024)
let EN = new Float64Array(1024)
let AIR = new Float64Array(1024)

/** dominates() of pooled labels a and b, from their figures in the scratch arrays. */
function dominatesAt(a: number, b: number): boolean {
  return PER[a]! <= PER[b]! && LAT[a]! <= LAT[b]! && EN[a]! <= EN[b]! && AIR[a]! <= AIR[b]! &&
    (PER[a]! < PER[b]! || LAT[a]! < LAT[b]! || EN[a]! < EN[b]! || AIR[a]! < AIR[b]!)
}

let ORDER_A = new Int32Array(1024)
let ORDER_B = new Int32Array(1024)

/** Whether pooled label a sorts before b: by latency, period, energy, air time, then pooling order (a total order). */
function before(a: number, b: number): boolean {
  if (LAT[a] !== LAT[b]) return LAT[a]! < LAT[b]!
  if (PER[a] !== PER[b]) return PER[a]! < PER[b]!
  if (EN[a] !== EN[b]) return EN[a]! < EN[b]!
  if (AIR[a] !== AIR[b]) return AIR[a]! < AIR[b]!
  return a < b
}

/**
 * The indices 0 .. n - 1 of the pooled labels in `before` order (a merge sort without a
 * comparator call per step: the same order as a stable sort by the four figures). Figures that
 * are not all finite (where differences need not order) go through Array.prototype.sort as before.
 */
function sortedIndices(n: number): number[] {
  for (let k = 0; k < n; k++) {
    if (!(Number.isFinite(LAT[k]!) && Number.isFinite(PER[k]!) && Number.isFinite(EN[k]!) && Number.isFinite(AIR[k]!))) {
      return Array.from({ length: n }, (_, q) => q).sort((a, b) => LAT[a]! - LAT[b]! || PER[a]! - PER[b]! || EN[a]! - EN[b]! || AIR[a]! - AIR[b]!)
    }
  }
  if (ORDER_A.length < n) {
    ORDER_A = new Int32Array(2 * n)
    ORDER_B = new Int32Array(2 * n)
  }
  let from = ORDER_A
  let to = ORDER_B
  for (let k = 0; k < n; k++) from[k] = k
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n)
      const hi = Math.min(lo + 2 * width, n)
      let x = lo
      let y = mid
      let k = lo
      while (x < mid && y < hi) to[k++] = before(from[y]!, from[x]!) ? from[y++]! : from[x++]!
      while (x < mid) to[k++] = from[x++]!
      while (y < hi) to[k++] = from[y++]!
    }
    const t = from
    from = to
    to = t
  }
  return Array.from(from.subarray(0, n))
}

/**
 * The partial plans to expand at one boundary: every state's labels pooled, the non-dominated
 * ones kept (each objective's best first, then an even spread by latency), at most `width`.
 */
export function beam<S, E extends { set: number[] }>(pool: LabelPool<S>, states: ReadonlyMap<number | string, E>, width: number, estimate?: StepEstimate): E[] {
  const entries: E[] = []
  const labels: number[] = []
  for (const entry of states.values()) for (const label of entry.set) {
    entries.push(entry)
    labels.push(label)
  }
  const n = labels.length
  if (n <= width) return [...states.values()]
  if (LAT.length < n) {
    LAT = new Float64Array(2 * n)
    PER = new Float64Array(2 * n)
    EN = new Float64Array(2 * n)
    AIR = new Float64Array(2 * n)
  }
  for (let k = 0; k < n; k++) {
    const l = labels[k]!
    LAT[k] = pool.latencyMs[l]!
    PER[k] = pool.periodMs[l]!
    EN[k] = pool.energyJ[l]!
    AIR[k] = pool.airMs[l]!
  }
  // by latency, period, energy, air time; ties in pooling order (a stable sort)
  const sorted = sortedIndices(n)
  // skyline: in latency order a label can only be dominated by one before it, and then by one of
  // the front already found (domination is transitive), so each is tested against the front only
  const front: number[] = []
  for (const p of sorted) {
    let dominated = false
    for (let f = 0; f < front.length && !dominated; f++) dominated = dominatesAt(front[f]!, p)
    if (!dominated) front.push(p)
  }
  // each objective's first best in the front, then (training, fast) the front's first on the
  // goal's estimate and the pooled labels in that rank; else an even spread by latency (the
  // front, or all when it is narrower than the beam)
  const keep = new Set<number>()
  for (const key of [PER, LAT, EN, AIR]) {
    let best = front[0]!
    for (const q of front) if (key[q]! < key[best]!) best = q
    keep.add(best)
  }
  if (estimate) {
    keep.add(front[firstRanked(pool, front.map((q) => labels[q]!), estimate)]!)
    fillByRank(pool, keep, width, labels, estimate)
  }
  const rest = front.length >= width ? front : sorted
  for (let k = 0; keep.size < width && k < width; k++) keep.add(rest[Math.round((k * (rest.length - 1)) / Math.max(1, width - 1))]!)
  for (let k = 0; keep.size < width && k < rest.length; k++) keep.add(rest[k]!)
  const byEntry = new Map<E, number[]>()
  for (const q of keep) {
    const set = byEntry.get(entries[q]!)
    if (set) set.push(labels[q]!)
    else byEntry.set(entries[q]!, [labels[q]!])
  }
  return [...byEntry].map(([entry, set]) => ({ ...entry, set }))
}
