/**
 * The earliest time strictly after `ms` that a clock reading can tell apart from it: 1e-6 ms
 * later, or more where that is below the spacing of doubles (clock readings are ms since the Unix
 * epoch, ~1.8e12, where doubles lie 2.4e-4 ms apart and `ms + 1e-6 === ms`). -Infinity stays.
 */
export function justAfter(ms: number): number {
  if (!Number.isFinite(ms)) return ms
  return ms + Math.max(1e-6, 2 * Number.EPSILON * Math.abs(ms))
}
