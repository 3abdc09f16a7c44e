/**
 * The air in the hub grant desk's order (air-desk.ts): what each kind of visit waits against first
 * come, first served, and the grants prediction against the simulator's granted medium (which
 * picks with the desk's own function) where the air is the busiest resource.
 */
import { describe, expect, it } from 'vitest'
import { deskWaitS, FORWARD_KEY, type DeskVisit } from '../../src/planner/air-desk.js'
import { MAX_OVERTAKEN } from '../../src/protocol/air-order.js'
import { predict } from '../../src/planner/cost.js'
import { simulate } from '../../src/sim/simulate.js'
import { accuracySetup, busiest } from '../../bench/accuracy.js'

const residual = (visits: readonly DeskVisit[], perS: number) => (perS * visits.reduce((a, v) => a + v.p * v.s * v.s, 0)) / 2
const rhoOf = (visits: readonly DeskVisit[], perS: number) => perS * visits.reduce((a, v) => a + v.p * v.s, 0)
const sumW = (visits: readonly DeskVisit[]) => visits.reduce((a, v) => a + v.p * v.w, 0)

describe('the air in the desk\'s order', () => {
  it('is first come, first served where every ask is alike and nothing is forwarded', () => {
    const visits: DeskVisit[] = [{ p: 1, s: 0.01, w: 0.03, key: 0.008 }, { p: 1, s: 0.01, w: 0.05, key: 0.008 }]
    const perS = 30
    expect(deskWaitS(visits, perS, rhoOf(visits, perS), residual(visits, perS))).toBeCloseTo(sumW(visits), 12)
  })

  it('a relayed hop waits for the forwarding that came during its device hop and the ask picked then, not for the work queued behind it', () => {
    const device: DeskVisit = { p: 1, s: 0.02, w: 0.06, key: 0.015 }
    const relay: DeskVisit = { p: 1, s: 0.02, w: 0.07, key: FORWARD_KEY, after: { sojournS: 0.08, airS: 0.02, gapS: 0.001 } }
    const result: DeskVisit = { p: 1, s: 0.002, w: 0.06, key: 0.001 }
    const visits = [device, relay, result]
    const perS = 15
    const rho = rhoOf(visits, perS)
    const r = residual(visits, perS)
    const rhoFwd = perS * relay.s
    const askMean = (device.s + result.s) / 2
    // no forwarding came while its device hop was on the air, and an ask came during that hop's wait and air
    const picked = Math.exp(-perS * 0.02) * (1 - Math.exp(-2 * perS * 0.08))
    const expected = rhoFwd * 0.02 - 0.001 + picked * (askMean - 0.001)
    // the relay's own part (the asks' waits do not depend on it)
    const relayWait = deskWaitS(visits, perS, rho, r) - deskWaitS([device, { ...relay, w: 0 }, result], perS, rho, r)
    expect(relayWait).toBeCloseTo(expected, 12)
    expect(relayWait).toBeLessThan(relay.w / 2)
    // never more than first come, first served
    const short = deskWaitS([device, { ...relay, w: 0.001 }, result], perS, rho, r) - deskWaitS([device, { ...relay, w: 0 }, result], perS, rho, r)
    expect(short).toBeCloseTo(0.001, 12)
    // the shortest ask waits less than first come, first served, the longest more
    const resultWait = deskWaitS(visits, perS, rho, r) - deskWaitS([device, relay, { ...result, w: 0 }], perS, rho, r)
    const deviceWait = deskWaitS(visits, perS, rho, r) - deskWaitS([{ ...device, w: 0 }, relay, result], perS, rho, r)
    expect(resultWait).toBeLessThan(result.w)
    expect(deviceWait).toBeGreaterThan(device.w)
  })

  it('the longest asks wait no longer than MAX_OVERTAKEN shorter ones beyond first come, first served (with the forwarding that comes meanwhile)', () => {
    // nearly saturated air: Cobham's wait for the last class runs away, the desk's bound does not
    const short: DeskVisit = { p: 1, s: 0.005, w: 0.1, key: 0.004 }
    const long: DeskVisit = { p: 1, s: 0.04, w: 0.1, key: 0.035 }
    const fwd: DeskVisit = { p: 1, s: 0.004, w: 0.1, key: FORWARD_KEY }
    const perS = 19.5
    const visits = [short, long, fwd]
    const rho = rhoOf(visits, perS)
    const r = residual(visits, perS)
    const fcfs = r / (1 - rho)
    const rhoFwd = perS * fwd.s
    const bound = (fcfs + MAX_OVERTAKEN * short.s) / (1 - rhoFwd)
    const cobhamLong = r / ((1 - rhoFwd - perS * short.s) * (1 - rho))
    expect(cobhamLong).toBeGreaterThan(bound)
    // the shortest class: Cobham's wait, behind the forwarding only
    const shortWait = r / ((1 - rhoFwd) * (1 - rhoFwd - perS * short.s))
    const total = deskWaitS([short, long, { ...fwd, w: 0 }], perS, rho, r)
    expect(total).toBeCloseTo((short.w * shortWait) / fcfs + (long.w * bound) / fcfs, 9)
  })

  it('grants on random plans with the air busiest at 50% and 65%: the mean as the simulator runs the desk\'s order (first come, first served waits were +6% and +11% in the median)', () => {
    for (const band of [0.5, 0.65]) {
      const errs: { seed: number; mean: number; p95: number }[] = []
      for (let seed = 1; seed <= 40; seed++) {
        const { c, plan, job, rateRps } = accuracySetup(seed, { targetU: band, grants: true })
        const p = predict(plan, job, c.fleet, c.network)
        if (busiest(p).name !== 'air') continue
        const durationS = Math.max(600, 20_000 / rateRps)
        const r = simulate(plan, job, c.fleet, c.network, { durationS, warmupS: 30, seed, computeJitter: 0.05 })
        errs.push({ seed, mean: p.latencyMs / r.latencyMs - 1, p95: p.p95LatencyMs / r.p95LatencyMs - 1 })
      }
      const sorted = errs.map((e) => e.mean).sort((a, b) => a - b)
      const median = (sorted[(sorted.length - 1) >> 1]! + sorted[sorted.length >> 1]!) / 2
      const within = errs.filter((e) => Math.abs(e.mean) <= 0.05).length
      const absMean = errs.reduce((a, e) => a + Math.abs(e.mean), 0) / errs.length
      expect(errs.length).toBe(12)
      // measured 2026-12-02 (17:50Z): medians +0.5% / +0.1%, within 5%: 9 / 7 of 12, mean |error| 4.0% / 5.5%
      // (first come, first served air: +5.8% / +10.8%, 4 / 4 of 12, 7.6% / 12.6%)
      expect(Math.abs(median)).toBeLessThan(0.02)
      expect(within).toBeGreaterThanOrEqual(band === 0.5 ? 9 : 7)
      expect(absMean).toBeLessThan(band === 0.5 ? 0.045 : 0.06)
      // a promise kept: the p95 under the simulated one by more than 10% on at most one plan
      expect(errs.filter((e) => e.p95 < -0.1).length).toBeLessThanOrEqual(1)
    }
  }, 300_000)
})
