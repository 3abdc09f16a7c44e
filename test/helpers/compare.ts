/** Largest |a - b| over the largest |a|: relative to the values' scale, so near-zero elements do not inflate it (1 when a is all zeros and b is not). */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`comparing ${a.length} values with ${b.length}`)
  let diff = 0
  let scale = 0
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!))
    scale = Math.max(scale, Math.abs(a[i]!))
  }
  return diff / (scale || (diff ? diff : 1))
}
