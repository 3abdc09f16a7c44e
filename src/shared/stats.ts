/** Summary statistics of measured samples (latencies, step times), shared by every side. Pure. */

/** Mean and 95th percentile of a sample (Infinity for an empty one). */
export function meanAndP95(xs: readonly number[]): { mean: number; p95: number } {
  if (!xs.length) return { mean: Infinity, p95: Infinity }
  const sorted = [...xs].sort((a, b) => a - b)
  return { mean: sorted.reduce((a, x) => a + x, 0) / sorted.length, p95: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))]! }
}

/** One part of a mixed prediction: its share of the requests, its mean and 95th percentile. */
export interface Predicted {
  readonly weight: number
  readonly mean: number
  readonly p95: number
}

/**
 * The 95th percentile of a mixture of latency predictions (epochs of a run, parts of a mix), each
 * part known only by its mean and p95: each is taken as a shifted exponential through the two
 * (the shape of a queue's wait on a fixed time), and the mixture's quantile is found by bisection.
 * One part, or equal parts, give back their p95; the result lies between the parts' p95s.
 */
export function mixtureP95(parts: readonly Predicted[]): number {
  const live = parts.filter((p) => p.weight > 0 && Number.isFinite(p.p95) && Number.isFinite(p.mean))
  if (live.length === 0) return parts.length ? Infinity : NaN
  const total = live.reduce((a, p) => a + p.weight, 0)
  const shapes = live.map((p) => {
    const theta = Math.max(0, p.p95 - p.mean) / (Math.log(20) - 1)
    return { w: p.weight / total, shift: Math.min(p.mean, p.p95) - theta, theta }
  })
  const cdf = (x: number) => shapes.reduce((a, s) => a + s.w * (x < s.shift ? 0 : s.theta > 0 ? 1 - Math.exp(-(x - s.shift) / s.theta) : 1), 0)
  let lo = Math.min(...live.map((p) => p.p95))
  let hi = Math.max(...live.map((p) => p.p95))
  if (hi - lo <= 1e-9 * Math.max(1, hi)) return hi
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2
    if (cdf(mid) < 0.95) lo = mid
    else hi = mid
  }
  return hi
}
