/**
 * The mean wait of a queue whose arrivals are smoother than Poisson (squared coefficient of
 * variation ca2 < 1), exactly for renewal arrivals of that variability. Pure.
 *
 * Kingman's G/G/1 figure with Kraemer and Langenbach-Belz's correction is far too low for smooth
 * arrivals and nearly fixed service at light and moderate load: measured against the reference
 * queue (Lindley's recursion, Erlang-k arrivals, service with 5% jitter), it gives 39% of the
 * E4/D/1 wait at 40% busy, 57% at 50%, 4% at 20%; 65-90% for E3 at 40-70%. Those are the
 * streams a replica sees (a round robin's share of a stream: 1 / 3 of Poisson is nearly E3) and a
 * micro-batch stream (b Poisson requests: Erlang-b).
 *
 * Here the arrivals are a mixture of Erlang k - 1 and Erlang k gaps of one phase rate alpha,
 * k = ceil(1 / ca2) and the mixing share p fitted to ca2 (pure Erlang-k where 1 / ca2 is whole,
 * Poisson at ca2 = 1), the service gamma of mean S and SCV cs2. Lindley's equation for such a
 * queue (arrivals with a rational transform) solves in closed form by the usual factorisation:
 * a request that finds the server idle left the arrival process in one of its phases, so with
 * D(s) = (alpha - s)^k - alpha^(k-1) (alpha - p s) B(s), B the service's transform, the wait's
 * transform is a polynomial of degree k over D; the polynomial vanishes at 0 and at the k - 1
 * zeros s_i of D with positive real part, whence
 *   E[W] = sum 1 / s_i + D''(0) / (2 D'(0)),   P(W = 0) = alpha^(k-1) (k - p) (1 - rho) / prod s_i
 * (k = 1: Pollaczek-Khinchine). Against the reference queue (pure Erlang k = 1-8 and mixtures,
 * 10-80% busy, 5% service jitter, 300,000 arrivals): within 3% of the mean and 0.003 of P(wait)
 * wherever the wait is not negligible (test/planner/smooth-queue.test.ts). Beyond k = 4 the
 * mixture is interpolated between the pure Erlangs (within 2-6% of its small waits), and results
 * are memoised: the planner's time is unchanged within noise (BENCHMARKS.md, "Smooth arrivals").
 */

/** Largest k used (a smoother stream waits as Erlang-24: nearly nothing below heavy load). */
const MAX_PHASES = 24

/** Up to this k the Erlang mixture is solved exactly; beyond, interpolated between pure Erlangs. */
const EXACT_MIX_PHASES = 4

/** Mean wait (in units of the mean service) and the probability of waiting at all. */
export interface SmoothWait {
  readonly meanOverS: number
  readonly pWait: number
}

/** Mixture share p of Erlang k - 1 gaps (the rest Erlang k, one phase rate) with SCV ca2; k = ceil(1 / ca2). */
export function erlangMix(ca2: number): { k: number; p: number } {
  if (!(ca2 < 1)) return { k: 1, p: 0 }
  const k = Math.min(MAX_PHASES, Math.ceil(1 / Math.max(ca2, 1 / MAX_PHASES) - 1e-12))
  const c = Math.max(ca2, 1 / k)
  const p = (k * c - Math.sqrt(Math.max(0, k * (1 + c - c * k)))) / (1 + c)
  return { k, p: Math.min(1, Math.max(0, p)) }
}

/** Results by (rho, ca2, cs2): the planner costs the same queues many times (a pure function's memo, bounded). */
const memo = new Map<string, SmoothWait>()
const MEMO_SIZE = 8192

/** Mean wait / S and P(wait) of the queue above at utilisation rho, arrivals' SCV ca2 (< 1), service SCV cs2. */
export function smoothWait(rho: number, ca2: number, cs2: number): SmoothWait {
  if (!(rho > 0)) return { meanOverS: 0, pWait: 0 }
  if (rho >= 1) return { meanOverS: Infinity, pWait: 1 }
  const key = `${rho} ${ca2} ${cs2}`
  let r = memo.get(key)
  if (!r) {
    if (memo.size >= MEMO_SIZE) memo.clear()
    memo.set(key, (r = solve(rho, ca2, cs2)))
  }
  return r
}

function solve(rho: number, ca2: number, cs2: number): SmoothWait {
  const { k, p } = erlangMix(ca2)
  if (k > EXACT_MIX_PHASES && p > 0) {
    // smoother streams: between the pure Erlang k - 1 and k, linear in ca2 (within 2-6% of the
    // mixture's small waits there, at a fraction of the cost)
    const lo = mixWait(k - 1, 0, rho, cs2)
    const hi = mixWait(k, 0, rho, cs2)
    const t = (1 / (k - 1) - ca2) / (1 / (k - 1) - 1 / k)
    return { meanOverS: lo.meanOverS + t * (hi.meanOverS - lo.meanOverS), pWait: lo.pWait + t * (hi.pWait - lo.pWait) }
  }
  return mixWait(k, p, rho, cs2)
}

/** The wait of the Erlang k - 1 / k mixture (share p of k - 1), from the zeros of D (see the file's comment). */
function mixWait(k: number, p: number, rho: number, cs2: number): SmoothWait {
  // work in x = s / alpha; c = alpha S = (k - p) rho
  const roots = zeros(k, p, rho, cs2)
  const c = (k - p) * rho
  let inv = 0
  let prRe = 1
  let prIm = 0
  for (const [re, im] of roots) {
    inv += re / (re * re + im * im)
    const t = prRe * re - prIm * im
    prIm = prRe * im + prIm * re
    prRe = t
  }
  const meanOverS = (inv + (c * c * (1 + cs2) + 2 * p * c - k * (k - 1)) / (2 * (k - p) * (1 - rho))) / c
  const p0 = ((k - p) * (1 - rho)) / prRe
  return { meanOverS: Math.max(0, meanOverS), pWait: Math.min(rho, Math.max(0, 1 - p0)) }
}

type C = [number, number]

/** The service's transform at alpha x, B = (1 + x c cs2)^(-1 / cs2) (gamma), and d log B / dx. */
function service(x: C, c: number, cs2: number): { b: C; dlog: C } {
  if (cs2 <= 0) {
    const m = Math.exp(-x[0] * c)
    return { b: [m * Math.cos(-x[1] * c), m * Math.sin(-x[1] * c)], dlog: [-c, 0] }
  }
  const ar = x[0] * c * cs2
  const zr = 1 + ar
  const zi = x[1] * c * cs2
  const e = -1 / cs2
  // log |z| as log1p: for small cs2 (or light load) z is near 1 and log(hypot(zr, zi)) would
  // lose the digits that -1 / cs2 then multiplies up
  const mag = Math.exp(e * 0.5 * Math.log1p(ar * (2 + ar) + zi * zi))
  const th = e * Math.atan2(zi, zr)
  const n2 = zr * zr + zi * zi
  // d/dx log B = -c / (1 + x c cs2)
  return { b: [mag * Math.cos(th), mag * Math.sin(th)], dlog: [(-c * zr) / n2, (c * zi) / n2] }
}

const mul = (a: C, b: C): C => [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]]
const div = (a: C, b: C): C => {
  const n = b[0] * b[0] + b[1] * b[1]
  return [(a[0] * b[0] + a[1] * b[1]) / n, (a[1] * b[0] - a[0] * b[1]) / n]
}
const powInt = (a: C, n: number): C => {
  let r: C = [1, 0]
  for (let i = 0; i < n; i++) r = mul(r, a)
  return r
}

/**
 * The k - 1 zeros of f(x) = D(alpha x) / alpha^k = (1 - x)^k - (1 - p x) B(alpha x) with Re x > 0:
 * for p = 0 the fixed points x = 1 - w B^(1 / k) over the k-th roots of unity w != 1 (a
 * contraction there), then followed as p rises to its value by Newton's method on f deflated by
 * the zero at 0 and the zeros already found at that step (two zeros meeting on the real axis and
 * parting along it stay two).
 */
function zeros(k: number, p: number, rho: number, cs2: number): C[] {
  let xs: C[] = []
  // the zeros for m and k - m are complex conjugates: solve m <= k / 2 only
  for (let m = 1; 2 * m <= k; m++) {
    const w: C = [Math.cos((2 * Math.PI * m) / k), Math.sin((2 * Math.PI * m) / k)]
    // Newton on h(x) = 1 - x - w B^(1/k)(x), from the light-load root 1 - w; B^(1/k) is the gamma
    // transform with c / k and cs2 k, (1 + x c cs2)^(-1 / (k cs2)), c = k rho
    let x: C = [1 - w[0], -w[1]]
    for (let it = 0; it < 50; it++) {
      const { b, dlog } = service(x, rho, cs2 * k)
      const wb = mul(w, b)
      const h: C = [1 - x[0] - wb[0], -x[1] - wb[1]]
      const t = mul(wb, dlog)
      const step = div(h, [-1 - t[0], -t[1]])
      if (!Number.isFinite(step[0]) || !Number.isFinite(step[1])) break
      x = [x[0] - step[0], x[1] - step[1]]
      if (Math.abs(step[0]) + Math.abs(step[1]) < 1e-14) break
    }
    xs.push(x)
    if (2 * m < k) xs.push([x[0], -x[1]])
  }
  const steps = p > 0 ? 4 : 0
  for (let j = 1; j <= steps; j++) {
    const q = (p * j) / steps
    const c = (k - q) * rho
    const found: C[] = []
    for (let x of xs) {
      for (let it = 0; it < 60; it++) {
        const { b, dlog } = service(x, c, cs2)
        const one: C = [1 - x[0], -x[1]]
        const a = powInt(one, k - 1)
        const bl = mul([1 - q * x[0], -q * x[1]], b)
        const f = mul(a, one)
        const fx: C = [f[0] - bl[0], f[1] - bl[1]]
        // f' = -k (1 - x)^(k-1) + q B - (1 - q x) B dlog
        const t = mul(bl, dlog)
        const dfx: C = [-k * a[0] + q * b[0] - t[0], -k * a[1] + q * b[1] - t[1]]
        // Newton on f / (x prod (x - y)): step = 1 / (f'/f - 1/x - sum 1/(x - y))
        let r = div(dfx, fx)
        const ix = div([1, 0], x)
        r = [r[0] - ix[0], r[1] - ix[1]]
        for (const y of found) {
          const iy = div([1, 0], [x[0] - y[0], x[1] - y[1]])
          r = [r[0] - iy[0], r[1] - iy[1]]
        }
        const step = div([1, 0], r)
        if (!Number.isFinite(step[0]) || !Number.isFinite(step[1])) break
        x = [x[0] - step[0], x[1] - step[1]]
        if (Math.abs(step[0]) + Math.abs(step[1]) < 1e-14) break
      }
      found.push(x)
    }
    xs = found
  }
  return xs
}
