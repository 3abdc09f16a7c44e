/**
 * Frame clocks in the simulator (Job.frameClocks): device sources capture at their rates on
 * clocks of their own, at random phases re-drawn over a run; the hub's source stays Poisson.
 */
import { describe, expect, it } from 'vitest'
import { simulate } from '../../src/sim/simulate.js'
import type { Fleet, Job, ModelProfile, Plan } from '../../src/planner/types.js'
import { scheduledWifi5, testDevice } from '../helpers/planner.js'

const model: ModelProfile = {
  name: 'm',
  layers: [{ flops: { conv: 1.6e9, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e5 }],
  boundaryBytes: [1e3, 1e3],
}
// a wired camera and a wired box: no air, the box's queue alone
const fleet: Fleet = { devices: new Map([['cam', testDevice('cam', 20, { linkRateBps: null })], ['box', testDevice('box', 20, { linkRateBps: null })]]) }
const plan: Plan = { id: 'p', stages: [{ layers: [0, 1], devices: ['box'] }], microBatch: 1, planner: 't' }
const opts = { durationS: 600, warmupS: 10, seed: 3, computeJitter: 0 }

describe('frame clocks (emulation)', () => {
  it('a camera on its own clock never queues at a box busy 80% of the time; the same camera as Poisson does', () => {
    const serviceMs = simulate(plan, { id: 'j', model, rateRps: 0.01, qoe: {}, goal: 'latency', sourceDevice: 'cam' }, fleet, scheduledWifi5, opts).latencyMs
    // one frame every 1.25 services: the box 80% busy
    const rateRps = 0.8 / (serviceMs / 1000)
    const job: Job = { id: 'j', model, rateRps, qoe: {}, goal: 'latency', sourceDevice: 'cam' }
    const clocked = simulate(plan, { ...job, frameClocks: true }, fleet, scheduledWifi5, opts)
    const poisson = simulate(plan, job, fleet, scheduledWifi5, opts)
    // the rate is the camera's (phase draws keep it)
    expect(clocked.requests / ((opts.durationS - opts.warmupS) * rateRps)).toBeGreaterThan(0.99)
    expect(clocked.requests / ((opts.durationS - opts.warmupS) * rateRps)).toBeLessThan(1.01)
    // a frame waits only where a new phase draw brings it closer than a service to the one before (one gap in 10 s)
    expect(clocked.p95LatencyMs / serviceMs).toBeLessThan(1.001)
    expect(clocked.latencyMs / serviceMs).toBeLessThan(1.01)
    // M/D/1 at 80%: mean wait 2 services
    expect(poisson.latencyMs / serviceMs).toBeGreaterThan(2.5)
  })

  it('the hub source stays Poisson whatever the flag', () => {
    const job: Job = { id: 'j', model, rateRps: 50, qoe: {}, goal: 'latency', sourceDevice: null }
    expect(simulate(plan, { ...job, frameClocks: true }, fleet, scheduledWifi5, opts)).toEqual(simulate(plan, job, fleet, scheduledWifi5, opts))
  })

  it('several cameras at random phases collide: some frames wait, fewer than Poisson frames', () => {
    const fleet4: Fleet = { devices: new Map([...['c1', 'c2', 'c3', 'c4'].map((id) => [id, testDevice(id, 20, { linkRateBps: null })] as const), ['box', testDevice('box', 20, { linkRateBps: null })]]) }
    const serviceMs = simulate(plan, { id: 'j', model, rateRps: 0.01, qoe: {}, goal: 'latency', sourceDevice: 'c1' }, fleet4, scheduledWifi5, opts).latencyMs
    const rateRps = 0.6 / (serviceMs / 1000)
    const job: Job = { id: 'j', model, rateRps, qoe: {}, goal: 'latency', sourceDevice: null, sources: ['c1', 'c2', 'c3', 'c4'].map((device) => ({ device, share: 0.25 })) }
    const clocked = simulate(plan, { ...job, frameClocks: true }, fleet4, scheduledWifi5, opts)
    const poisson = simulate(plan, job, fleet4, scheduledWifi5, opts)
    expect(clocked.p95LatencyMs / serviceMs).toBeGreaterThan(1.3)
    expect(clocked.latencyMs).toBeLessThan(0.8 * poisson.latencyMs)
  })
})
