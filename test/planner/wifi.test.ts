import { describe, expect, it } from 'vitest'
import { WIFI5, contendedThroughputsBps, soloAirtimeS, soloEfficiency } from '../../src/planner/network/wifi.js'

describe('Wi-Fi airtime', () => {
  it('a lone Wi-Fi 5 sender with 64 KiB aggregates keeps most of its rate', () => {
    const e = soloEfficiency(WIFI5, 400e6)
    expect(e).toBeGreaterThan(0.8)
    expect(e).toBeLessThan(1)
    expect(soloAirtimeS(WIFI5, 1e6, 400e6)).toBeCloseTo(8e6 / (400e6 * e), 12)
    expect(soloAirtimeS(WIFI5, 0, 400e6)).toBe(0)
  })

  it('the performance anomaly: beside a slow station a fast one drops to the slow one\'s pace', () => {
    const [fast, slow] = contendedThroughputsBps(WIFI5, [600e6, 30e6])
    expect(fast).toBeCloseTo(slow!, 6)
    // each gets less than half of what the slow station alone would
    expect(fast!).toBeLessThan(30e6 * soloEfficiency(WIFI5, 30e6))
    expect(fast!).toBeGreaterThan(0.4 * 30e6 * soloEfficiency(WIFI5, 30e6))
  })

  it('two equal stations each get a bit under half the channel (collisions)', () => {
    const [a, b] = contendedThroughputsBps(WIFI5, [400e6, 400e6])
    const alone = 400e6 * soloEfficiency(WIFI5, 400e6)
    expect(a).toBe(b)
    expect(a! + b!).toBeLessThan(alone * 1.02)
    expect(a! + b!).toBeGreaterThan(alone * 0.9)
  })
})
