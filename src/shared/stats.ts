/** Summary statistics of measured samples (latencies, step times), shared by every side. Pure. */

/** Mean and 95th percentile of a sample (Infinity for an empty one). */
export function meanAndP95(xs: readonly number[]): { mean: number; p95: number } {
  if (!xs.length) return { mean: Infinity, p95: Infinity }
  const sorted = [...xs].sort((a, b) => a - b)
  return { mean: sorted.reduce((a, x) => a + x, 0) / sorted.length, p95: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))]! }
}
