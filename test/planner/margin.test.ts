/**
 * Plans that hold: headroom (utilisation cap, p95 outside its uncertainty), throughput judged as
 * sustaining the offered load, and the chosen plan of every shipped scenario meeting its bounds
 * in 600 s simulations on 5 seeds (emulation).
 */
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { compliance, predict } from '../../src/planner/cost.js'
import type { Fleet, Job, ModelProfile, Plan } from '../../src/planner/types.js'
import { partition } from '../../src/planner/partition.js'
import { simulate } from '../../src/sim/simulate.js'
import { planningInputs, readScenario } from '../../src/scenario/load.js'
import { scheduledWifi5, testDevice } from '../helpers/planner.js'

const model: ModelProfile = {
  name: 'two', layers: [
    { flops: { conv: 1e9, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 4e5 },
    { flops: { conv: 1e9, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 4e5 },
  ], boundaryBytes: [1e5, 1e5, 1e3],
}
const fleet: Fleet = { devices: new Map([testDevice('a', 20), testDevice('b', 20, { linkRateBps: null })].map((d) => [d.id, d])) }
const job = (patch: Partial<Job>): Job => ({ id: 'j', model, rateRps: 1, qoe: {}, goal: 'latency', sourceDevice: null, ...patch })
const one: Plan = { id: 'one', planner: 't', microBatch: 1, stages: [{ layers: [0, 2], devices: ['a'] }] }

describe('headroom', () => {
  it('reports every resource\'s utilisation and refuses a plan above the cap (default 75%, configurable)', () => {
    // one device, 100 ms a request: 8 req/s keep it 80% busy
    const j = job({ rateRps: 8 })
    const p = predict(one, j, fleet, scheduledWifi5)
    expect(p.utilisation.a).toBeCloseTo(0.8, 6)
    expect(p.utilisation.air).toBeGreaterThan(0)
    const c = compliance(j, fleet, p)
    expect(c.violations.map((v) => [v.bound, v.device])).toEqual([['utilisation', 'a']])
    expect(c.utilisationMargin).toBeCloseTo(-0.05, 6)
    expect(compliance({ ...j, qoe: { utilisationCap: 0.85 } }, fleet, p).compliant).toBe(true)
  })

  it('a p95 bound inside the estimate\'s uncertainty is not met; the margin is reported', () => {
    const j = job({ rateRps: 4 })
    const p = predict(one, j, fleet, scheduledWifi5)
    expect(p.p95UncertaintyMs).toBeGreaterThan(0.1 * p.p95LatencyMs)
    const tight = compliance({ ...j, qoe: { p95LatencyMs: p.p95LatencyMs + p.p95UncertaintyMs / 2 } }, fleet, p)
    expect(tight.compliant).toBe(false)
    expect(tight.p95MarginMs).toBeCloseTo(-p.p95UncertaintyMs / 2, 6)
    const roomy = compliance({ ...j, qoe: { p95LatencyMs: p.p95LatencyMs + 2 * p.p95UncertaintyMs } }, fleet, p)
    expect(roomy.compliant).toBe(true)
    expect(roomy.p95MarginMs).toBeCloseTo(p.p95UncertaintyMs, 6)
  })

  it('the planner never chooses a plan above the cap', () => {
    // two devices at 100 ms a request: 12 req/s need both (one would be 120% busy)
    const res = partition({ ...job({ rateRps: 12 }), qoe: { latencyMs: 2000 } }, fleet, { network: scheduledWifi5 })
    expect(res.ok).toBe(true)
    if (!res.ok) return
    for (const c of res.candidates) expect(Math.max(...Object.values(c.prediction.utilisation))).toBeLessThanOrEqual(0.75)
  })
})

describe('a throughput bound is "sustains the offered load"', () => {
  it('holds when the offered rate meets the bound and completions keep up, whatever the window\'s Poisson count', () => {
    const j = job({ rateRps: 5, qoe: { throughputRps: 5 } })
    const counts: number[] = []
    for (const seed of [1, 2, 3, 4, 5, 6, 7]) {
      const r = simulate(one, j, fleet, scheduledWifi5, { durationS: 120, warmupS: 10, seed, computeJitter: 0.05 })
      counts.push(r.throughputRps)
      expect(r.qoeMet).toBe(true)
    }
    // the window counts do scatter around the offered rate
    expect(Math.min(...counts)).toBeLessThan(5)
  })

  it('fails when the plan cannot keep up (a backlog that grows)', () => {
    const r = simulate(one, job({ rateRps: 10.5, qoe: { throughputRps: 10 } }), fleet, scheduledWifi5, { durationS: 300, warmupS: 10, seed: 1, computeJitter: 0.05 })
    expect(r.qoeMet).toBe(false)
  })
})

describe('shipped scenarios', () => {
  const dir = fileURLToPath(new URL('../../config/scenarios/', import.meta.url))
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    it(`${name}: the chosen plan meets its bounds in 600 s simulations on 5 seeds`, async () => {
      const inputs = await planningInputs(dir + name, await readScenario(dir + name))
      const res = partition(inputs.job, inputs.fleet, { network: inputs.network })
      expect(res.ok).toBe(true)
      if (!res.ok) return
      for (let seed = 1; seed <= 5; seed++) {
        const r = simulate(res.chosen.plan, inputs.job, inputs.fleet, inputs.network, { durationS: 600, warmupS: 30, seed, computeJitter: 0.05 })
        expect(r.qoeMet, `seed ${seed}: ${r.latencyMs.toFixed(1)} ms, p95 ${r.p95LatencyMs.toFixed(1)} ms`).toBe(true)
      }
    }, 120_000)
  }
})
