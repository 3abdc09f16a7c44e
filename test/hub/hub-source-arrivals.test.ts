/**
 * The hub source's Poisson arrivals (hub/hub-source.ts poissonGapsMs), what the demo drives the
 * hub's requests with: the cost model and the simulator predict the hub's requests as Poisson
 * arrivals, and evenly spaced ones queue far less (on the smart home's phone + nas plan, a request
 * every 500 ms never waits behind another), so a run at a fixed interval does not test the
 * prediction it is compared with. Not timed: the gaps themselves.
 */
import { describe, expect, it } from 'vitest'
import { poissonGapsMs } from '../../src/hub/hub-source.js'

describe("the hub source's Poisson arrivals", () => {
  it('draws exponential gaps: mean 1 / rate, coefficient of variation 1, seeded', () => {
    const gap = poissonGapsMs(2, 7)
    const xs = Array.from({ length: 20_000 }, gap)
    const mean = xs.reduce((a, x) => a + x, 0) / xs.length
    const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length)
    expect(mean).toBeGreaterThan(490)
    expect(mean).toBeLessThan(510)
    expect(sd / mean).toBeGreaterThan(0.97)
    expect(sd / mean).toBeLessThan(1.03)
    // a third of the gaps are shorter than 40% of the mean (1 - e^-0.4), where even spacing has none
    const short = xs.filter((x) => x < 200).length / xs.length
    expect(short).toBeGreaterThan(0.31)
    expect(short).toBeLessThan(0.35)
    const again = poissonGapsMs(2, 7)
    expect(Array.from({ length: 5 }, again)).toEqual(xs.slice(0, 5))
  })
})
