/**
 * p95Ms picks its percentile by selection instead of sorting its 2048 points (latency.ts
 * kthSmallest): the value must be the sorted array's, bit for bit, on ties, infinities, zeros of
 * both signs and NaN.
 */
import { describe, expect, it } from 'vitest'
import { kthSmallest } from '../../src/planner/latency.js'
import { seededRandom } from '../../src/shared/random.js'

const kinds: Array<(r: () => number) => number> = [
  (r) => r() * 100,
  (r) => Math.floor(r() * 5),
  (r) => (r() < 0.1 ? Infinity : r() * 10),
  (r) => (r() < 0.5 ? -0 : r() < 0.5 ? 0 : r() - 0.5),
  (r) => (r() < 0.02 ? NaN : r() * 10),
  () => 7,
]

describe('kthSmallest', () => {
  it('equals a.sort()[k] on 600 seeded arrays', () => {
    const r = seededRandom(18)
    let checked = 0
    for (let n = 0; n < 600; n++) {
      const len = 1 + Math.floor(r() * (n % 3 === 0 ? 2048 : 40))
      const draw = kinds[n % kinds.length]!
      const a = Float64Array.from({ length: len }, () => draw(r))
      const sorted = a.slice().sort()
      for (const k of [0, len - 1, Math.floor(0.95 * len), Math.floor(r() * len)]) {
        expect(Object.is(kthSmallest(a.slice(), k), sorted[k]), `array ${n}, k ${k}`).toBe(true)
        checked++
      }
    }
    expect(checked).toBe(2400)
  })
})
