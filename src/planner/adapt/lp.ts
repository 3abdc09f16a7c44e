/**
 * A small exact linear program over the probability simplex: minimise c . w subject to
 * A w <= b, w >= 0, sum w = 1. Pure.
 *
 * An optimum lies at a vertex, and a vertex of this polytope with k inequality rows has at most
 * k + 1 non-zero weights (Caratheodory; POET's observation for one constraint: two plans). So
 * the solver enumerates supports S of at most k + 1 columns and, for each, the sets T of
 * |S| - 1 rows made tight, solves the square system (sum over S = 1, rows of T = b) by Gaussian
 * elimination, and keeps the feasible solution of least cost. With n columns that is
 * O(sum over s <= k+1 of C(n, s) C(k, s - 1) s^3): instant for the handful of candidate plans
 * and 1-3 QoE rows the adapter has (n = 8, k = 3: under 2,000 small systems).
 */
export interface LpSolution {
  readonly weights: readonly number[]
  readonly value: number
}

const EPS = 1e-9

export function solveSimplexLp(c: readonly number[], A: ReadonlyArray<readonly number[]>, b: readonly number[]): LpSolution | null {
  const n = c.length
  const k = A.length
  if (n === 0) return null
  let best: LpSolution | null = null
  const feasible = (w: readonly number[]) => w.every((x) => x >= -EPS) && A.every((row, r) => row.reduce((s, a, i) => s + a * w[i]!, 0) <= b[r]! + 1e-7 * Math.max(1, Math.abs(b[r]!)))
  for (const S of subsets(n, Math.min(n, k + 1))) {
    for (const T of subsetsOfSize(k, S.length - 1)) {
      // rows: sum_{i in S} w_i = 1, and A[t] restricted to S = b[t] for t in T
      const M = [S.map(() => 1), ...T.map((t) => S.map((i) => A[t]![i]!))]
      const rhs = [1, ...T.map((t) => b[t]!)]
      const x = solveSquare(M, rhs)
      if (!x) continue
      const w = Array<number>(n).fill(0)
      S.forEach((i, j) => (w[i] = Math.max(0, x[j]!)))
      if (!feasible(w)) continue
      const value = w.reduce((s, x2, i) => s + x2 * c[i]!, 0)
      if (!best || value < best.value - EPS) best = { weights: w, value }
    }
  }
  return best
}

function* subsets(n: number, maxSize: number): Generator<number[]> {
  for (let size = 1; size <= maxSize; size++) yield* subsetsOfSize(n, size)
}

function* subsetsOfSize(n: number, size: number): Generator<number[]> {
  const idx = Array.from({ length: size }, (_, i) => i)
  if (size > n) return
  if (size === 0) {
    yield []
    return
  }
  for (;;) {
    yield [...idx]
    let i = size - 1
    while (i >= 0 && idx[i] === n - size + i) i--
    if (i < 0) return
    idx[i]!++
    for (let j = i + 1; j < size; j++) idx[j] = idx[j - 1]! + 1
  }
}

/** Gaussian elimination with partial pivoting; null when the system is singular. */
function solveSquare(M: number[][], rhs: number[]): number[] | null {
  const n = M.length
  const a = M.map((row, i) => [...row, rhs[i]!])
  for (let col = 0; col < n; col++) {
    let piv = col
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[piv]![col]!)) piv = r
    if (Math.abs(a[piv]![col]!) < 1e-12) return null
    ;[a[col], a[piv]] = [a[piv]!, a[col]!]
    for (let r = 0; r < n; r++) {
      if (r === col) continue
      const f = a[r]![col]! / a[col]![col]!
      for (let k = col; k <= n; k++) a[r]![k]! -= f * a[col]![k]!
    }
  }
  return a.map((row, i) => row[n]! / row[i]!)
}
