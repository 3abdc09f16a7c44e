/**
 * The emulated Wi-Fi's replay of a tick on the shared air (src/emulation/wifi-proxy.ts replayAir),
 * pure. A flow with a few bits left, late in a long run (performance.now() at 400 s), once gave
 * a step of no length: its end time rounded to the present, nothing was sent, and the proxy's
 * tick looped for ever (`npm start` hung at 03:38Z: the demo's process spun in paceAir).
 */
import { describe, expect, it } from 'vitest'
import { replayAir } from '../../src/emulation/wifi-proxy.js'
import { soloEfficiency, WIFI_STANDARDS } from '../../src/planner/network/wifi.js'

const standard = WIFI_STANDARDS.wifi5!
const o = { k: 9.8, availableAirtime: 1, standard }

describe("the emulated Wi-Fi's replay of a tick", () => {
  it('ends when a flow has less left than the clock resolves, and sends it', () => {
    const at = 400_123.456
    const r = replayAir([{ rateBps: 6e8, readySinceMs: at - 5, bits: 1e-5 }, { rateBps: 4.33e8, readySinceMs: at - 5, bits: 3e-6 }], at, at + 2, o)
    expect(r.sentBits[0]).toBeCloseTo(1e-5, 12)
    expect(r.sentBits[1]).toBeCloseTo(3e-6, 12)
  })

  it('a lone flow sends at its rate times the single-sender efficiency, on the clock; one that joins later shares the rest', () => {
    const rate = 2e8
    const lone = replayAir([{ rateBps: rate, readySinceMs: 0, bits: 1e12 }], 1000, 1002, o)
    // 2 ms of wall time are 2 / 9.8 ms of air in profile time
    expect(lone.sentBits[0]).toBeCloseTo(rate * soloEfficiency(standard, rate) * (0.002 / 9.8), 0)
    expect(lone.airS).toBeCloseTo(0.002 / 9.8, 12)
    const two = replayAir([{ rateBps: rate, readySinceMs: 0, bits: 1e12 }, { rateBps: rate, readySinceMs: 1001, bits: 1e12 }], 1000, 1002, o)
    expect(two.sentBits[0]).toBeGreaterThan(two.sentBits[1]!)
    expect(two.sentBits[0]! + two.sentBits[1]!).toBeLessThan(lone.sentBits[0]! * 1.001)
  })

  it('a flow with nothing to send sends nothing, and an emptied one leaves its share at once', () => {
    const r = replayAir([{ rateBps: 2e8, readySinceMs: 0, bits: 0 }, { rateBps: 2e8, readySinceMs: 0, bits: 1e3 }, { rateBps: 2e8, readySinceMs: 0, bits: 1e12 }], 1000, 1002, o)
    expect(r.sentBits[0]).toBe(0)
    expect(r.sentBits[1]).toBeCloseTo(1e3, 6)
    expect(r.sentBits[2]).toBeGreaterThan(0)
  })
})
