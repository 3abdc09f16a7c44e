/**
 * The slots-emulated bench's phase draws (bench/slots-emulated.ts): each draw's phases lie in
 * [0, 1) and the draws cover the phase space evenly (every cell of a grid over two sources'
 * phases gets its share), and a block lasts one hyperperiod of the sources' periods.
 */
import { describe, expect, it } from 'vitest'
import { hyperperiodMs, phaseDraw } from '../../bench/slots-emulated.js'

describe('phase draws', () => {
  it('cover every pair of phases evenly: 400 draws put 16 +- 8 in each of 25 cells of a 5 x 5 grid', () => {
    const shift = [0.31, 0.77, 0.05, 0.52]
    const cells = new Map<string, number>()
    for (let d = 0; d < 400; d++) {
      const p = phaseDraw(d, shift)
      expect(p).toHaveLength(4)
      for (const x of p) expect(x >= 0 && x < 1).toBe(true)
      // the relative phase of sources 0 and 1 (what decides their collisions) and source 2's
      const rel = (p[1]! - p[0]! + 1) % 1
      const key = `${Math.floor(rel * 5)},${Math.floor(p[2]! * 5)}`
      cells.set(key, (cells.get(key) ?? 0) + 1)
    }
    expect(cells.size).toBe(25)
    for (const n of cells.values()) expect(Math.abs(n - 16)).toBeLessThanOrEqual(8)
  })

  it('a block is the least common multiple of the periods', () => {
    expect(hyperperiodMs([1000 / 1.5, 1000 / 1.5, 1000, 1000])).toBeCloseTo(2000, 6)
    expect(hyperperiodMs([250, 250, 500])).toBeCloseTo(500, 6)
    expect(hyperperiodMs([300])).toBeCloseTo(300, 6)
    // no common multiple within 8 periods: 4 of the longest
    expect(hyperperiodMs([1000, 1000 / 0.13])).toBeCloseTo(4000 / 0.13, 6)
  })
})
