/**
 * The exact wait of smooth arrivals (src/planner/smooth-queue.ts) against a reference queue:
 * Lindley's recursion over 200,000 seeded arrivals, gaps Erlang-k (micro-batches of k Poisson
 * requests) or a mixture of Erlang k - 1 and k, service fixed with 5% jitter as the simulator's.
 * Kingman with Kraemer and Langenbach-Belz's correction, which the model used before, was 39% of
 * the E4/D/1 wait at 40% busy and 4% at 20%.
 */
import { describe, expect, it } from 'vitest'
import { erlangMix, smoothWait } from '../../src/planner/smooth-queue.js'
import { kingman, splitScv } from '../../src/planner/latency.js'
import { seededRandom } from '../../src/shared/random.js'

/** Mean wait (in service times) and share that waits, arrivals of k - 1 phases with probability p, else k (one phase rate), at utilisation rho. */
function reference(k: number, p: number, rho: number, seed: number): { mean: number; pWait: number } {
  const rand = seededRandom(seed)
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
  const phaseRate = (k - p) * rho
  let w = 0
  let sum = 0
  let waited = 0
  const n = 200_000
  for (let i = 0; i < n; i++) {
    const phases = rand() < p ? k - 1 : k
    let gap = 0
    for (let j = 0; j < phases; j++) gap -= Math.log(1 - rand()) / phaseRate
    w = Math.max(0, w + Math.max(0.5, 1 + 0.05 * gauss()) - gap)
    sum += w
    if (w > 0) waited++
  }
  return { mean: sum / n, pWait: waited / n }
}

describe('smooth arrivals: exact wait against the reference queue', () => {
  for (const k of [1, 2, 3, 4, 6]) {
    for (const rho of [0.2, 0.4, 0.6, 0.8]) {
      it(`Erlang-${k} arrivals at ${rho * 100}% busy: mean wait within 5% (or 0.002 service times), P(wait) within 0.01`, () => {
        const truth = reference(k, 0, rho, 31 * k + Math.round(rho * 10))
        const model = smoothWait(rho, 1 / k - 1e-12, 0.05 ** 2)
        expect(Math.abs(model.meanOverS - truth.mean)).toBeLessThan(Math.max(0.002, 0.05 * truth.mean))
        expect(Math.abs(model.pWait - truth.pWait)).toBeLessThan(0.01)
      })
    }
  }

  for (const ca2 of [0.8, 0.633, 0.45, 0.3]) {
    it(`Erlang mixture of SCV ${ca2}: mean wait within 5% at 20-80% busy`, () => {
      const { k, p } = erlangMix(ca2)
      for (const rho of [0.2, 0.5, 0.8]) {
        const truth = reference(k, p, rho, 7 + Math.round(100 * ca2 + 10 * rho))
        const model = smoothWait(rho, ca2, 0.05 ** 2)
        expect(Math.abs(model.meanOverS - truth.mean)).toBeLessThan(Math.max(0.002, 0.05 * truth.mean))
      }
    })
  }

  it('the mixture spans Poisson to Erlang-k continuously: SCV 1 is Pollaczek-Khinchine, whole 1 / SCV pure Erlang', () => {
    expect(erlangMix(1)).toEqual({ k: 1, p: 0 })
    expect(erlangMix(0.25)).toEqual({ k: 4, p: 0 })
    const pk = (0.5 / (1 - 0.5)) * ((1 + 0.05 ** 2) / 2)
    expect(smoothWait(0.5, 1 - 1e-9, 0.05 ** 2).meanOverS).toBeCloseTo(pk, 4)
    // smoother arrivals wait less, at every load
    for (const rho of [0.1, 0.5, 0.9]) {
      let last = Infinity
      for (const ca2 of [0.99, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]) {
        const w = smoothWait(rho, ca2, 0.05 ** 2).meanOverS
        expect(w).toBeLessThan(last)
        last = w
      }
    }
  })

  it('nearly fixed service (SCV 1e-6, 1e-9) waits as fixed service, at light load too: no digits lost in the gamma transform', () => {
    // log |1 + x c cs2| times -1 / cs2 lost its digits for small cs2 (or small rho): at cs2 1e-9,
    // rho 1e-6, E5 arrivals waited 0.007 S (Poisson's would be 5e-7 S)
    for (const cs2 of [1e-6, 1e-9]) {
      for (const rho of [1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 0.5, 0.9]) {
        for (const ca2 of [0.01, 0.05, 0.2, 0.26, 0.34, 0.51, 0.9]) {
          const fixed = smoothWait(rho, ca2, 0).meanOverS
          const near = smoothWait(rho, ca2, cs2).meanOverS
          const poisson = (rho / (1 - rho)) * ((1 + cs2) / 2)
          // (the service's own variance adds at most Pollaczek-Khinchine's share of it)
          expect(Math.abs(near - fixed)).toBeLessThan(1e-6 * Math.max(1, fixed) + (rho / (1 - rho)) * cs2)
          expect(near).toBeLessThanOrEqual(poisson * (1 + 1e-6) + 1e-9)
        }
      }
    }
  })

  it('a micro-batch stream of 4 (E4) at 40% busy: the replica queue now waits as the reference (Kingman with KLB had 39% of it)', () => {
    const truth = reference(4, 0, 0.4, 99)
    const model = kingman(0.4, 1, 0.25, 0.05 ** 2).meanMs
    expect(model / truth.mean).toBeGreaterThan(0.95)
    expect(model / truth.mean).toBeLessThan(1.05)
  })

  /** Mean wait (in service times) of the share w of a Poisson stream that a smooth weighted round robin sends to one queue at utilisation rho. */
  function roundRobinShare(w: number, rho: number, seed: number): number {
    const rand = seededRandom(seed)
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
    let credit = 0
    let gap = 0
    let wait = 0
    let sum = 0
    let n = 0
    while (n < 200_000) {
      gap -= Math.log(1 - rand()) / (rho / w)
      credit += w
      if (credit < 1 - 1e-12) continue
      credit -= 1
      wait = Math.max(0, wait + Math.max(0.5, 1 + 0.05 * gauss()) - gap)
      gap = 0
      sum += wait
      n++
    }
    return sum / n
  }

  for (const w of [4 / 7, 2 / 3, 0.75]) {
    it(`a round robin's share ${w.toFixed(2)} of Poisson requests: mean wait within 5% at 15-85% busy (the pattern's part of the split's SCV fading with load)`, () => {
      for (const rho of [0.15, 0.45, 0.85]) {
        const truth = roundRobinShare(w, rho, 3 + Math.round(100 * w * rho))
        const model = kingman(rho, 1, splitScv(w, 1, rho), 0.05 ** 2).meanMs
        expect(Math.abs(model / truth - 1)).toBeLessThan(0.05)
      }
    })
  }
})
