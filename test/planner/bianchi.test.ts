import { describe, expect, it } from 'vitest'
import { BIANCHI_FHSS, dcfSaturation } from '../../src/planner/network/bianchi.js'

describe("Bianchi's DCF saturation model (design brief's check values, FHSS parameters)", () => {
  it('gives about 0.84 for one station (closed form: 8184 / (8982 + 15.5 slots))', () => {
    const r = dcfSaturation(1, BIANCHI_FHSS)
    expect(r.p).toBe(0)
    expect(r.tau).toBeCloseTo(2 / 33, 10)
    expect(r.efficiency).toBeCloseTo(8184 / (8982 + 15.5 * 50), 6)
    expect(r.efficiency).toBeGreaterThan(0.83)
    expect(r.efficiency).toBeLessThan(0.85)
  })

  it('about 0.84-0.85 for 2 stations, 0.75-0.76 for 10, 0.55-0.61 for 50', () => {
    expect(dcfSaturation(2, BIANCHI_FHSS).efficiency).toBeGreaterThan(0.83)
    expect(dcfSaturation(2, BIANCHI_FHSS).efficiency).toBeLessThan(0.86)
    expect(dcfSaturation(10, BIANCHI_FHSS).efficiency).toBeGreaterThan(0.74)
    expect(dcfSaturation(10, BIANCHI_FHSS).efficiency).toBeLessThan(0.77)
    expect(dcfSaturation(50, BIANCHI_FHSS).efficiency).toBeGreaterThan(0.55)
    expect(dcfSaturation(50, BIANCHI_FHSS).efficiency).toBeLessThan(0.62)
  })

  it('solves the fixed point: p = 1 - (1 - tau)^(n-1)', () => {
    for (const n of [2, 5, 20, 100]) {
      const r = dcfSaturation(n, BIANCHI_FHSS)
      expect(1 - (1 - r.tau) ** (n - 1)).toBeCloseTo(r.p, 9)
    }
  })

  it('collisions grow with the number of stations; efficiency falls beyond a few', () => {
    const ps = [2, 5, 10, 20, 50].map((n) => dcfSaturation(n, BIANCHI_FHSS).p)
    for (let i = 1; i < ps.length; i++) expect(ps[i]!).toBeGreaterThan(ps[i - 1]!)
    expect(dcfSaturation(50, BIANCHI_FHSS).efficiency).toBeLessThan(dcfSaturation(10, BIANCHI_FHSS).efficiency)
  })

  it('refuses a non-positive station count', () => {
    expect(() => dcfSaturation(0, BIANCHI_FHSS)).toThrow(/positive integer/)
  })
})
