import { describe, expect, it } from 'vitest'
import { mixtureP95 } from '../../src/shared/stats.js'

/** A seeded sample of shifted exponentials through each part's mean and p95, pooled by weight. */
function sampledP95(parts: Array<{ weight: number; mean: number; p95: number }>, n = 200_000): number {
  let s = 12345
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296)
  const total = parts.reduce((a, p) => a + p.weight, 0)
  const xs = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    let u = rand() * total
    let k = 0
    while (k < parts.length - 1 && u >= parts[k]!.weight) u -= parts[k++]!.weight
    const p = parts[k]!
    const theta = (p.p95 - p.mean) / (Math.log(20) - 1)
    xs[i] = p.mean - theta - theta * Math.log(1 - rand())
  }
  xs.sort()
  return xs[Math.floor(0.95 * n)]!
}

describe('mixtureP95', () => {
  it('gives back the p95 of one part, and of equal parts', () => {
    expect(mixtureP95([{ weight: 1, mean: 100, p95: 180 }])).toBeCloseTo(180, 6)
    expect(mixtureP95([{ weight: 2, mean: 100, p95: 180 }, { weight: 1, mean: 100, p95: 180 }])).toBeCloseTo(180, 6)
  })

  it('pools the requests: a short slow epoch moves the p95 less than an average of p95s says', () => {
    const parts = [{ weight: 0.8, mean: 100, p95: 150 }, { weight: 0.2, mean: 300, p95: 500 }]
    const got = mixtureP95(parts)
    expect(got).toBeGreaterThan(150)
    expect(got).toBeLessThan(500)
    expect(Math.abs(got / sampledP95(parts) - 1)).toBeLessThan(0.01)
    // the average of the p95s (the summary's old figure) is far from the pooled one
    expect(Math.abs((0.8 * 150 + 0.2 * 500) / got - 1)).toBeGreaterThan(0.1)
  })

  it('agrees with a pooled sample on random mixtures', () => {
    let s = 7
    const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296)
    for (let t = 0; t < 20; t++) {
      const parts = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => {
        const mean = 20 + rand() * 500
        return { weight: 0.05 + rand(), mean, p95: mean * (1 + rand() * 2) }
      })
      const got = mixtureP95(parts)
      expect(got).toBeGreaterThanOrEqual(Math.min(...parts.map((p) => p.p95)) - 1e-9)
      expect(got).toBeLessThanOrEqual(Math.max(...parts.map((p) => p.p95)) + 1e-9)
      expect(Math.abs(got / sampledP95(parts, 100_000) - 1)).toBeLessThan(0.02)
    }
  })

  it('says nothing finite of no finite part', () => {
    expect(mixtureP95([{ weight: 1, mean: Infinity, p95: Infinity }])).toBe(Infinity)
  })
})
