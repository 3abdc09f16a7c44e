/**
 * Queueing and latency of an inference plan: mean and p95 per request. Pure.
 *
 * Every replica of every stage is a queue of its own (the run routes each micro-batch to one
 * replica by weighted round robin, routing.ts); the air is one more, visited once per air hop.
 * - Replica queues: Kingman's G/G/1 approximation, W = rho / (1 - rho) x (ca^2 + cs^2) / 2 x S
 *   (exact for Poisson arrivals); where ca^2 < 1 the exact wait of renewal arrivals of that
 *   variability (Erlang mixtures, smooth-queue.ts),
 *   with the arrivals' squared coefficient of variation ca^2 carried along the pipeline as in
 *   Whitt's Queueing Network Analyzer (Bell Labs Tech. J. 1983): micro-batches of b Poisson
 *   arrivals have ca^2 = 1/b; a round-robin split of weight w keeps w ca^2 (plus its pattern's
 *   unevenness, splitScv); a queue's departures
 *   have rho^2 cs^2 + (1 - rho^2) ca^2; merged streams mix by Whitt's superposition rule (its
 *   load weight measured for micro-batch streams, MERGE_LOAD_WEIGHT).
 *   A replicated stage's departures merge again at the next stage, which undoes the round
 *   robin's split: each replica passes on the unsplit stream's variability.
 *   A run of single-device stages waits, in all, about what its slowest stage alone would (a
 *   tandem of fixed-time servers, Friedman 1965): a later stage adds only its excess.
 * - The air: one first-come-first-served server visited by every air hop (air-queue.ts): a
 *   micro-batch's first visit sees the time-average work (Brumelle), a later one the work that
 *   queued behind its previous hop; Kingman's factor where the arrivals are smoother than Poisson.
 * - A replica's wait (waitShape): a request that waits meets at least the rest of the service in
 *   progress, mean E[S^2] / (2 E[S]); where arrivals are smooth (a round robin's share, few
 *   waits) that residual is most of the wait, so fewer requests wait than rho (P(wait) = W / the
 *   residual, at most rho) and each waits about the residual: nearly uniform on (0, S) for the
 *   nearly fixed compute, a heavier tail for its mean than an exponential. That flat part fades
 *   as the load rises (a share 1 - rho of it; Kingman's heavy-traffic wait is exponential); the
 *   rest of the wait is exponential. The mean W is Kingman's. On the killed-device plan (phone +
 *   NAS) this lifts the predicted p95 from 15.6% under the simulator's to 5.6% under, and more
 *   random plans hold (BENCHMARKS.md, "Replica waits"). The air's summed waits: 0 with the
 *   probability that none of a micro-batch's visits waits, else exponential (inference.ts
 *   airWaitShape). The p95 of
 *   a request's latency (its route's compute, transfers and waits, its source's batching) is
 *   taken over a fixed Latin-hypercube set of points of these distributions: numerical
 *   integration of the model, deterministic, not a simulation of the system.
 */
import { smoothWait } from './smooth-queue.js'

/**
 * A queue as one request meets it: 0 with probability 1 - p, else of mean thetaMs: a uniform part
 * of mean flatMs (on (0, 2 flatMs)) plus, rising with it (comonotone), an exponential part of
 * mean thetaMs - flatMs. flatMs absent: exponential.
 */
export interface Wait {
  readonly p: number
  readonly thetaMs: number
  readonly flatMs?: number
}

export const NO_WAIT: Wait = { p: 0, thetaMs: 0 }

/**
 * Mean wait of a G/G/1 queue and its distribution as a Wait: Kingman's (Pollaczek-Khinchine for
 * Poisson arrivals) where ca2 >= 1; where the arrivals are smoother, the exact wait of Erlang-mixture
 * arrivals of that SCV (smooth-queue.ts), since Kingman with Kraemer and Langenbach-Belz's
 * correction was 40-96% low for them at light and moderate load.
 */
export function kingman(rho: number, serviceMs: number, ca2: number, cs2: number): { meanMs: number; wait: Wait } {
  if (rho <= 0) return { meanMs: 0, wait: NO_WAIT }
  if (rho >= 1) return { meanMs: Infinity, wait: { p: 1, thetaMs: Infinity } }
  if (ca2 < 1) {
    const meanMs = smoothWait(rho, ca2, cs2).meanOverS * serviceMs
    return { meanMs, wait: waitShape(meanMs, rho, serviceMs, cs2) }
  }
  const meanMs = (rho / (1 - rho)) * ((ca2 + cs2) / 2) * serviceMs
  return { meanMs, wait: waitShape(meanMs, rho, serviceMs, cs2) }
}

/**
 * The Wait of a replica's queue of mean wait meanMs (see the file's comment): P(wait) the mean
 * over the service's mean residual (S (1 + cs^2) / 2), at most rho; given a wait, a flat part
 * (the residual's, 1 - cs^2 of it as uniform, scaled by 1 - rho) and an exponential rest.
 */
export function waitShape(meanMs: number, rho: number, serviceMs: number, cs2: number): Wait {
  if (!(meanMs > 0) || rho <= 0) return NO_WAIT
  if (rho >= 1 || !Number.isFinite(meanMs)) return { p: 1, thetaMs: Infinity }
  const residualMs = (serviceMs * (1 + cs2)) / 2
  const p = residualMs > 0 ? Math.min(rho, meanMs / residualMs) : rho
  const thetaMs = meanMs / p
  // the residual's share of the wait: all of it in light traffic, none in heavy (where the wait is
  // exponential, Kingman's heavy-traffic limit)
  const flatMs = (1 - rho) * (1 - Math.min(1, cs2)) * Math.min(thetaMs, residualMs)
  return flatMs > 0 ? { p, thetaMs, flatMs } : { p, thetaMs }
}

/**
 * SCV of the share w of a stream of SCV ca2 that a smooth weighted round robin sends one way
 * (routing.ts): each of its gaps spans n of the stream's gaps, n = floor(1 / w) or one more in a
 * fixed pattern, so w ca2 + w^2 Var(n) (QNA's w ca2 alone is exact only where 1 / w is whole).
 * E.g. Poisson split 4 : 3: 0.633 and 0.469 (QNA: 0.571 and 0.429). That is the single gap's
 * variability, what a lightly loaded queue (rho) sees; a busy one sees the stream over many gaps,
 * where the fixed pattern evens out (its count stays within one of w times the stream's: w ca2),
 * so the pattern's part fades as (1 - rho)^2. Against a reference queue (Lindley's recursion,
 * round-robin shares 0.3-0.8 of a Poisson stream, 15-85% busy, the exact smooth-arrival wait):
 * 48 of 48 within 5% (at most 4% off), where the pattern's part at every load gave 9 of 48 (up
 * to 18% over) and QNA's w ca2 21 of 48 (up to 25% under) (test/planner/smooth-queue.test.ts).
 */
export function splitScv(w: number, ca2: number, rho = 0): number {
  if (!(w > 0) || w >= 1) return ca2
  const f = 1 / w - Math.floor(1 / w)
  return w * ca2 + (1 - Math.min(1, Math.max(0, rho))) ** 2 * w * w * f * (1 - f)
}

/** Departures' squared coefficient of variation (QNA's linking equation). */
export function departureScv(rho: number, ca2: number, cs2: number): number {
  const r = Math.min(1, rho)
  return r * r * cs2 + (1 - r * r) * ca2
}

/**
 * Weight and power of the queue's load in the superposition rule below, w = 1 / (1 + weight
 * (1 - rho)^power (nu - 1)). QNA (Whitt 1983) takes 4 and 2, fitted to Albin's superpositions;
 * for the streams merged here (micro-batches of b Poisson requests from several sources, a
 * replicated stage's departures) that weights the merge too much towards Poisson. Measured
 * against a reference queue (Lindley's recursion, fixed service with 5% jitter, 2-4 equal or
 * unequal sources of b = 1-4 at 30-80% load, seeded; 144 cases), with the queue's exact wait
 * for the merged SCV (smooth-queue.ts): 0.5 and 1 put 116 of the 144 within 10% (all those of
 * b = 2); 1 and 2 (taken while the queue's wait was Kingman's with Kraemer and Langenbach-Belz's
 * correction) 88; 4 and 2, 36. Left: merged streams of b >= 3 at 30-50% load still wait 10-40%
 * more than the rule says (test/planner/merged-streams.test.ts; BENCHMARKS.md, "Merged
 * micro-batch streams" and "Smooth arrivals").
 */
export const MERGE_LOAD_WEIGHT = 0.5
export const MERGE_LOAD_POWER = 1

/** Superposition of streams of rates `rates` and SCVs `scvs` at a queue of utilisation rho (Whitt's hybrid rule). */
export function mergedScv(rates: readonly number[], scvs: readonly number[], rho: number): number {
  const total = rates.reduce((a, x) => a + x, 0)
  if (total <= 0) return 1
  let mix = 0
  let sq = 0
  rates.forEach((x, i) => {
    mix += (x / total) * scvs[i]!
    sq += (x / total) ** 2
  })
  const nu = 1 / sq
  const w = 1 / (1 + MERGE_LOAD_WEIGHT * (1 - Math.min(1, rho)) ** MERGE_LOAD_POWER * (nu - 1))
  return w * mix + 1 - w
}

const POINTS = 2048
const lattice = new Map<number, Float64Array>()

/** Dimension d of a fixed Latin-hypercube point set (deterministic, seeded by d; made when first used). */
function dimension(d: number): Float64Array {
  let dim = lattice.get(d)
  if (!dim) {
    let s = (0x9e3779b9 ^ (d * 0x85ebca6b)) >>> 0
    const rand = () => {
      s = (s + 0x6d2b79f5) >>> 0
      let t = Math.imul(s ^ (s >>> 15), 1 | s)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
    const perm = Array.from({ length: POINTS }, (_, i) => i)
    for (let i = POINTS - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1))
      ;[perm[i], perm[j]] = [perm[j]!, perm[i]!]
    }
    lattice.set(d, (dim = Float64Array.from(perm, (k) => (k + rand()) / POINTS)))
  }
  return dim
}

const normals = new Map<number, Float64Array>()

/** Dimension d of the point set as standard normal values (its quantiles through normalQuantile). */
function normalDimension(d: number): Float64Array {
  let z = normals.get(d)
  if (!z) normals.set(d, (z = dimension(d).map(normalQuantile)))
  return z
}

/** The standard normal's quantile at u in (0, 1) (Acklam's rational approximation, relative error under 1.2e-9). */
export function normalQuantile(u: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239]
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572]
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783]
  const dd = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416]
  const tailP = (q: number) => (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((dd[0]! * q + dd[1]!) * q + dd[2]!) * q + dd[3]!) * q + 1)
  if (u < 0.02425) return tailP(Math.sqrt(-2 * Math.log(u)))
  if (u > 1 - 0.02425) return -tailP(Math.sqrt(-2 * Math.log(1 - u)))
  const q = u - 0.5
  const r = q * q
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
}

/** Value of a Wait at quantile u. */
export function waitAt(w: Wait, u: number): number {
  const tail = 1 - u
  if (!(tail < w.p)) return 0
  const flat = w.flatMs ?? 0
  return flat * 2 * (1 - tail / w.p) + (w.thetaMs - flat) * Math.log(w.p / tail)
}

/**
 * One request's way, as distributions: a source picked by share, then per step one option picked
 * by weight (a replica: its fixed time and its queue's wait), plus waits shared by all steps.
 */
export interface RequestPaths {
  readonly sources: ReadonlyArray<{
    readonly share: number
    /** Fixed time of the source's requests besides the steps (transfers, results), ms. */
    readonly baseMs: number
    /** Batching: a request waits for up to this many later arrivals at this rate (per s): Poisson gaps, or fixed ones (a frame clock). */
    readonly batchWait: { readonly others: number; readonly rateRps: number; readonly periodic?: boolean }
    /** Per step, its options; `sdMs`: the standard deviation of the option's compute (normal, the simulator's jitter). */
    readonly steps: ReadonlyArray<ReadonlyArray<{ readonly weight: number; readonly ms: number; readonly wait: Wait; readonly sdMs?: number }>>
  }>
  readonly shared: readonly Wait[]
}

/** The 95th percentile of a request's latency over the paths (see the file's comment). */
export function p95Ms(paths: RequestPaths): number {
  const samples = new Float64Array(POINTS)
  const uSource = dimension(0)
  const uBatch = dimension(1)
  const steps = Math.max(0, ...paths.sources.map((s) => s.steps.length))
  const pickDims = Array.from({ length: steps }, (_, j) => dimension(2 + 2 * j))
  const waitDims = Array.from({ length: steps }, (_, j) => dimension(3 + 2 * j))
  const sharedDims = paths.shared.map((_, i) => dimension(100 + i))
  const maxBatch = Math.max(0, ...paths.sources.map((s) => s.batchWait.others))
  const batchDims = Array.from({ length: maxBatch }, (_, g) => dimension(60 + g))
  const jitter = normalDimension(200)
  for (let n = 0; n < POINTS; n++) {
    let u = uSource[n]!
    let k = 0
    while (k < paths.sources.length - 1 && u >= paths.sources[k]!.share) u -= paths.sources[k++]!.share
    const src = paths.sources[k]!
    let t = src.baseMs
    // the request waits for the later arrivals of its micro-batch: a sum of exponential gaps
    const later = Math.floor(uBatch[n]! * (src.batchWait.others + 1))
    for (let g = 0; g < later; g++) t += ((src.batchWait.periodic ? 1 : -Math.log(1 - batchDims[g]![n]!)) / src.batchWait.rateRps) * 1000
    // the compute times along the route jitter independently (normal): their sum's spread
    let variance = 0
    for (let j = 0; j < src.steps.length; j++) {
      const options = src.steps[j]!
      let v = pickDims[j]![n]!
      let r = 0
      while (r < options.length - 1 && v >= options[r]!.weight) v -= options[r++]!.weight
      const o = options[r]!
      t += o.ms
      variance += (o.sdMs ?? 0) ** 2
      if (o.wait.p > 0) t += waitAt(o.wait, waitDims[j]![n]!)
    }
    if (variance > 0) t += Math.sqrt(variance) * jitter[n]!
    for (let i = 0; i < sharedDims.length; i++) if (paths.shared[i]!.p > 0) t += waitAt(paths.shared[i]!, sharedDims[i]![n]!)
    samples[n] = t
  }
  return kthSmallest(samples, Math.floor(0.95 * POINTS))
}

/**
 * The k-th smallest of `a` (0-based), as `a.sort()[k]` gives it, by selection (Hoare's partition,
 * median of three; it reorders `a`): the sort of 2048 points was most of p95Ms's time
 * (BENCHMARKS.md, "Planner time, sixth pass"). Where a value is NaN (sorted last) it sorts.
 */
export function kthSmallest(a: Float64Array, k: number): number {
  for (let n = 0; n < a.length; n++) if (a[n] !== a[n]) return a.sort()[k]!
  let lo = 0
  let hi = a.length - 1
  while (hi > lo) {
    const x = a[lo]!
    const y = a[(lo + hi) >> 1]!
    const z = a[hi]!
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y
    let i = lo
    let j = hi
    while (i <= j) {
      while (a[i]! < pivot) i++
      while (a[j]! > pivot) j--
      if (i <= j) {
        const t = a[i]!
        a[i++] = a[j]!
        a[j--] = t
      }
    }
    if (k <= j) hi = j
    else if (k >= i) lo = i
    else break
  }
  // -0 and +0 compare equal: the sort puts -0 first
  const v = a[k]!
  return v === 0 ? zeroAt(a, k) : v
}

/** a.sort()[k] where a[k] is a zero after selection: -0 when at least k + 1 values are below +0. */
function zeroAt(a: Float64Array, k: number): number {
  let below = 0
  for (let n = 0; n < a.length; n++) if (a[n]! < 0 || Object.is(a[n], -0)) below++
  return below > k ? -0 : 0
}
