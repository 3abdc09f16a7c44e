/**
 * Hub grants in the model (network/grants.ts): every air hop a device sends pays its grant's
 * round trip, the air held meanwhile; the cost model, the simulator's medium and the training
 * replay count it alike; the hub grants the shortest waiting transfer first; and a plan runs the
 * transfer mode predicted fastest of slots, grants and at once.
 */
import { describe, expect, it } from 'vitest'
import { predict, hopsBetween } from '../../src/planner/cost.js'
import { simulate } from '../../src/sim/simulate.js'
import { checkpointEvery, simulateTraining } from '../../src/planner/replay/training.js'
import { grantHoldS, grantRoundTripS } from '../../src/planner/network/grants.js'
import { MAX_OVERTAKEN } from '../../src/protocol/air-order.js'
import { Medium } from '../../src/planner/replay/medium.js'
import { EventHeap, runEvents } from '../../src/planner/replay/event-heap.js'
import { chooseTransferMode, predictionOf } from '../../src/planner/adapt/transfer-mode.js'
import { randomCase, randomPlan } from '../helpers/random-fleets.js'
import { busiest } from '../../bench/accuracy.js'
import { scheduledWifi5, testDevice, twoStages } from '../helpers/planner.js'
import type { DeviceProfile, Fleet, Job, Network } from '../../src/planner/types.js'

const granted: Network = { ...scheduledWifi5, grants: true }

describe('hub grants in the model', () => {
  it('a grant costs a round trip of two short frames and two relays on a Wi-Fi device, nothing on a wired one or without grants', () => {
    const rtt = grantRoundTripS(400e6, granted)
    expect(rtt).toBeGreaterThan(1e-3) // two broker relays of 0.5 ms and the hub's 0.2 ms at least
    expect(rtt).toBeLessThan(3e-3)
    // a slow station's short frames take longer
    expect(grantRoundTripS(20e6, granted)).toBeGreaterThan(rtt)
    expect(grantRoundTripS(Infinity, granted)).toBe(0)
    const a = testDevice('a', 10)
    const [up, down] = hopsBetween(a, testDevice('b', 10), 1e5)
    expect(grantHoldS(up!, granted)).toBeCloseTo(rtt, 12)
    // the access point's forwarding asks for nothing; without grants nothing is held
    expect(grantHoldS(down!, granted)).toBe(0)
    expect(grantHoldS(up!, scheduledWifi5)).toBe(0)
    expect(grantHoldS(up!, { ...granted, coordination: 'contended' })).toBe(0)
  })

  it('cost model and simulator agree with grants on 100 random inference plans at a light load (within 2%)', () => {
    const off: string[] = []
    let paid = 0
    for (let seed = 1; seed <= 100; seed++) {
      const c = randomCase(seed)
      const network = { ...c.network, grants: true }
      const plan = { ...randomPlan(c, seed), microBatch: 1 }
      const unit = predict(plan, { ...c.job, rateRps: 1 }, c.fleet, network)
      const rateRps = 0.001 / busiest(unit).u
      const job = { ...c.job, rateRps }
      const p = predict(plan, job, c.fleet, network)
      const free = predict(plan, job, c.fleet, c.network)
      if (p.latencyMs > free.latencyMs + 0.5) paid++
      const r = simulate(plan, job, c.fleet, network, { durationS: 1000 / rateRps, warmupS: 0, seed, computeJitter: 0 })
      const simMs = (c.job.sources ?? [{ share: 1 }]).reduce((a, s, k) => a + s.share * r.latencyMsBySource[k]!, 0)
      if (Math.abs(p.latencyMs / simMs - 1) > 0.02) off.push(`seed ${seed}: predicted ${p.latencyMs.toFixed(2)} ms, simulated ${simMs.toFixed(2)} ms`)
    }
    expect(off).toEqual([])
    // most random plans send over Wi-Fi from a device, and pay for their grants
    expect(paid).toBeGreaterThan(50)
  })

  it('training steps take grants in the replay, as the prediction does', () => {
    let differ = 0
    for (let seed = 1; seed <= 10; seed++) {
      const c = randomCase(seed, { training: true })
      const plan = randomPlan(c, seed)
      const network = { ...c.network, grants: true }
      const p = predict(plan, c.job, c.fleet, network)
      const free = predict(plan, c.job, c.fleet, c.network)
      // round trips cost, and the shortest-first order can reorder a step's transfers either way
      if (Math.abs(p.latencyMs - free.latencyMs) > 0.1) differ++
      // ten whole checkpoint periods (steps 1 to 10 x every: each period's checkpoint step in; the predicted step is their mean)
      const r = simulateTraining(plan, c.job, c.fleet, network, { durationS: 1e9, warmupS: 1e-9, seed, computeJitter: 0, maxSteps: 1 + 10 * Math.max(1, checkpointEvery(c.job)) })
      expect(Math.abs(p.latencyMs / r.latencyMs - 1)).toBeLessThan(0.02)
    }
    expect(differ).toBeGreaterThan(5)
  })

  it('the medium grants the shortest waiting transfer first (the hub desk\'s order)', () => {
    const a = testDevice('a', 10)
    const fleet: Fleet = { devices: new Map([['a', a], ['b', testDevice('b', 10)], ['c', testDevice('c', 10)]]) }
    const order = (network: Network) => {
      const heap = new EventHeap<() => void>()
      let now = 0
      const m = new Medium(heap, () => now, fleet, network)
      // the order in which the transfers get the air (the broker's relay of their last chunks
      // follows the air, so a short transfer may finish before a long one that had the air first)
      const aired: string[] = []
      m.trace = (x) => aired.push(x.label)
      m.transfer(a, null, 4e6, () => {}, undefined, 'first')
      heap.push(0.02, () => m.transfer(fleet.devices.get('b')!, null, 4e6, () => {}, undefined, 'big'))
      heap.push(0.04, () => m.transfer(fleet.devices.get('c')!, null, 4e3, () => {}, undefined, 'small'))
      runEvents(heap, 100, (t) => (now = t))
      return aired
    }
    expect(order(granted)).toEqual(['first', 'small', 'big'])
    // without grants (the ideal medium) first come, first served
    expect(order(scheduledWifi5)).toEqual(['first', 'big', 'small'])
  })

  it('the medium serves the air in the grant desk\'s order: air time estimates, a bound on overtakes, the access point unheld', () => {
    const dev = (id: string, linkRateBps: number) => testDevice(id, 10, { linkRateBps })
    const fleet: Fleet = { devices: new Map([['a', dev('a', 20e6)], ['b', dev('b', 20e6)], ['c', dev('c', 400e6)]]) }
    const d = (id: string) => fleet.devices.get(id)!
    const order = (sends: ReadonlyArray<readonly [number, DeviceProfile | null, DeviceProfile | null, number, string]>) => {
      const heap = new EventHeap<() => void>()
      let now = 0
      const m = new Medium(heap, () => now, fleet, granted)
      const aired: string[] = []
      m.trace = (x) => aired.push(x.label)
      for (const [t, from, to, bytes, label] of sends) heap.push(t, () => m.transfer(from, to, bytes, () => {}, undefined, label))
      runEvents(heap, 100, (t) => (now = t))
      return aired
    }
    // the desk ranks asks by the device's air time estimate, not by bytes: 1 MB at 400 Mbit/s
    // (20 ms) before 100 kB at 20 Mbit/s (40 ms)
    expect(order([[0, d('a'), null, 1e6, 'first'], [0.01, d('b'), null, 1e5, 'slow 100 kB'], [0.02, d('c'), null, 1e6, 'fast 1 MB']])).toEqual(['first', 'fast 1 MB', 'slow 100 kB'])
    // an ask overtaken MAX_OVERTAKEN times goes before shorter ones: b's big transfer waits for
    // that many of c's small ones (all asked while a held the air), not for all of them
    const smalls = Array.from({ length: MAX_OVERTAKEN + 2 }, (_, i) => [0.02 + i * 0.01, d('c'), null, 4e3, `c small ${i}`] as const)
    expect(order([[0, d('a'), null, 4e6, 'first'], [0.01, d('b'), null, 1e6, 'b big'], ...smalls]))
      .toEqual(['first', ...smalls.slice(0, MAX_OVERTAKEN).map((x) => x[4]), 'b big', ...smalls.slice(MAX_OVERTAKEN).map((x) => x[4])])
    // the access point's forwarding asks for nothing: the desk holds it behind no ask
    expect(order([[0, d('a'), null, 1e6, 'first'], [0.01, d('b'), null, 4e3, 'b small'], [0.02, null, d('c'), 1e6, 'to c']])).toEqual(['first', 'to c', 'b small'])
  })
})

describe('transfer mode of three', () => {
  const { model, fleet, plan } = twoStages

  it('a job that forces a mode runs it, and its prediction is that mode\'s', () => {
    const job: Job = { id: 'j', model, rateRps: 5, qoe: {}, goal: 'latency', sourceDevice: null }
    for (const transfers of ['slots', 'grants', 'at-once'] as const) {
      const j = { ...job, transfers }
      const m = chooseTransferMode(plan, j, fleet, scheduledWifi5, predict(plan, j, fleet, scheduledWifi5), 0)
      expect(m.mode).toBe(transfers)
      expect(predictionOf(m)).toEqual(transfers === 'slots' ? m.slots : transfers === 'grants' ? m.grants : m.atOnce)
    }
  })

  it('prices grants with the measured round trip when there is one; the simulator, given the same figure, agrees', () => {
    const job: Job = { id: 'j', model, rateRps: 5, qoe: {}, goal: 'latency', sourceDevice: null }
    const measured: Network = { ...scheduledWifi5, grantRoundTripMs: 8 }
    expect(grantRoundTripS(400e6, { ...granted, grantRoundTripMs: 8 })).toBe(0.008)
    expect(grantRoundTripS(Infinity, { ...granted, grantRoundTripMs: 8 })).toBe(0)
    const modelled = chooseTransferMode(plan, job, fleet, scheduledWifi5, predict(plan, job, fleet, scheduledWifi5), 0)
    const m = chooseTransferMode(plan, job, fleet, measured, predict(plan, job, fleet, measured), 0)
    // a request's device hops (a's activation up to the access point, b's result up; the hub's input asks for nothing) each pay 8 ms, not the modelled ~2 ms
    const deviceHops = 2
    const modelledRtt = grantRoundTripS(fleet.devices.get(plan.stages[0]!.devices[0]!)!.linkRateBps!, granted) * 1000
    expect(m.grants.latencyMs - modelled.grants.latencyMs).toBeGreaterThan(deviceHops * (8 - modelledRtt) * 0.95)
    // at once and slots do not pay grants: unchanged
    expect(m.atOnce.latencyMs).toBe(modelled.atOnce.latencyMs)
    expect(m.slots?.latencyMs).toBe(modelled.slots?.latencyMs)
    // the simulator's granted medium charges the same measured figure
    const g = predict(plan, job, fleet, { ...measured, grants: true })
    expect(m.grants.latencyMs).toBeCloseTo(g.latencyMs, 9)
    const r = simulate(plan, { ...job, rateRps: 0.5 }, fleet, { ...measured, grants: true }, { durationS: 2000, warmupS: 0, seed: 3, computeJitter: 0 })
    const light = predict(plan, { ...job, rateRps: 0.5 }, fleet, { ...measured, grants: true })
    expect(Math.abs(light.latencyMs / r.latencyMs - 1)).toBeLessThan(0.02)
    const modelledSim = simulate(plan, { ...job, rateRps: 0.5 }, fleet, granted, { durationS: 2000, warmupS: 0, seed: 3, computeJitter: 0 })
    expect(r.latencyMs - modelledSim.latencyMs).toBeGreaterThan(deviceHops * (8 - modelledRtt) * 0.95)
  })

  it('predicts each mode, runs the fastest, and predicts the one it runs', () => {
    for (const rateRps of [1, 5, 10]) {
      const job: Job = { id: 'j', model, rateRps, qoe: {}, goal: 'latency', sourceDevice: null }
      const m = chooseTransferMode(plan, job, fleet, scheduledWifi5, predict(plan, job, fleet, scheduledWifi5), 0)
      const g = predict(plan, job, fleet, granted)
      expect(m.grants.latencyMs).toBeCloseTo(g.latencyMs, 9)
      const all = [['at-once', m.atOnce.latencyMs], ['grants', m.grants.latencyMs], ['slots', m.slots?.latencyMs ?? Infinity]] as const
      const fastest = Math.min(...all.map((x) => x[1]))
      expect(predictionOf(m).latencyMs).toBe(fastest)
      expect(all.find((x) => x[0] === m.mode)![1]).toBe(fastest)
      // a grant costs a round trip per device hop: never free
      expect(m.grants.latencyMs).toBeGreaterThan(m.atOnce.latencyMs)
    }
  })
})
