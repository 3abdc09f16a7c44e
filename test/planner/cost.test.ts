import { describe, expect, it } from 'vitest'
import { compliance, predict, stageComputeMs } from '../../src/planner/cost.js'
import type { Fleet, Network, Job, ModelProfile, Plan } from '../../src/planner/types.js'
import { WIFI5, shortFrameAirS, soloAirtimeS } from '../../src/planner/network/wifi.js'
import { framedBytes, relayS } from '../../src/planner/network/transport.js'
import { scheduledWifi5, testDevice } from '../helpers/planner.js'

const device = testDevice
const model: ModelProfile = {
  name: 'two-layer',
  layers: [
    { flops: { conv: 1e9, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 4e5 },
    { flops: { conv: 0, matmul: 1e9, elementwise: 0 }, paramBytes: 3e6, peakActivationBytes: 1e5 },
  ],
  boundaryBytes: [6e5, 4e5, 4e3],
}
const job = (patch: Partial<Job> = {}): Job => ({ id: 'j', model, rateRps: 2, qoe: {}, goal: 'latency', sourceDevice: null, ...patch })
const fleet: Fleet = { devices: new Map([['a', device('a', 10)], ['b', device('b', 20)], ['c', device('c', 20)]]) }
const scheduled: Network = scheduledWifi5
const plan = (stages: Plan['stages'], microBatch = 1): Plan => ({ id: 'p', stages, microBatch, planner: 'test' })
/** One air hop at 400 Mb/s: the framed bytes, and one PUBACK (44 bytes on the link, a short frame) per 256 KiB chunk message, s. */
const hopS = (bytes: number) => soloAirtimeS(WIFI5, framedBytes(bytes), 400e6) + Math.ceil(bytes / 262144) * shortFrameAirS(WIFI5, 44, 400e6)

describe('cost model', () => {
  it('compute time is FLOPs over the device class rate plus overhead, times the micro-batch', () => {
    expect(stageComputeMs(job(), device('x', 10, { stageOverheadMs: 3 }), [0, 2], 2)).toBeCloseTo(3 + 2 * 200, 9)
  })

  it('a single-device plan: latency = input air hop + compute + output air hop (no queueing at a low rate)', () => {
    const p = predict(plan([{ layers: [0, 2], devices: ['a'] }]), job({ rateRps: 0.001 }), fleet, scheduled)
    // framed bytes on the air (MQTT chunks over TCP/IP) with their PUBACKs; the input's 256 KiB chunks
    // pipeline through the broker, so from the hub its relay adds only the first chunk's before the air
    const air = (hopS(6e5) + hopS(4e3)) * 1000
    expect(p.latencyMs).toBeCloseTo(200 + air + (relayS(262_144) + relayS(4e3)) * 1000, 1)
    expect(p.transferMode).toBe('granted')
    expect(p.capacityRps).toBeCloseTo(5, 6)
    expect(p.bottleneck).toMatch(/stage 0/)
    expect(p.memoryBytes).toEqual({ a: 4e6 + 2 * 4e5 })
  })

  it('a two-stage pipeline crosses the air twice between stages and its capacity is the slower stage', () => {
    const p = predict(plan([{ layers: [0, 1], devices: ['a'] }, { layers: [1, 2], devices: ['b'] }]), job({ rateRps: 0.001 }), fleet, scheduled)
    // a to b: both air hops in full (one channel), the relay hidden behind the air but for the chunks' pipeline
    const between = 2 * hopS(4e5) * 1000
    const io = (hopS(6e5) + hopS(4e3) + relayS(262_144) + relayS(4e3)) * 1000
    expect(p.latencyMs).toBeCloseTo(100 + 50 + between + io, 1)
    expect(p.capacityRps).toBeCloseTo(10, 6)
  })

  it('replicas add their rates', () => {
    const one = predict(plan([{ layers: [0, 2], devices: ['b'] }]), job(), fleet, scheduled)
    const two = predict(plan([{ layers: [0, 2], devices: ['b', 'c'] }]), job(), fleet, scheduled)
    expect(two.capacityRps).toBeCloseTo(2 * one.capacityRps, 6)
  })

  it('queueing grows the latency as the rate nears capacity, and overload is reported', () => {
    const p1 = predict(plan([{ layers: [0, 2], devices: ['a'] }]), job({ rateRps: 1 }), fleet, scheduled)
    const p4 = predict(plan([{ layers: [0, 2], devices: ['a'] }]), job({ rateRps: 4 }), fleet, scheduled)
    expect(p4.latencyMs).toBeGreaterThan(p1.latencyMs)
    expect(p4.p95LatencyMs).toBeGreaterThan(p4.latencyMs)
    const over = predict(plan([{ layers: [0, 2], devices: ['a'] }]), job({ rateRps: 6 }), fleet, scheduled)
    expect(over.latencyMs).toBe(Infinity)
    expect(over.throughputRps).toBeCloseTo(5, 6)
    expect(compliance(job({ rateRps: 6 }), fleet, over).violations.map((v) => v.bound)).toContain('overload')
  })

  it('uncoordinated sending beside a slow station costs more air than scheduled slots', () => {
    const slowFleet: Fleet = { devices: new Map([['a', device('a', 10)], ['s', device('s', 20, { linkRateBps: 20e6 })]]) }
    const pl = plan([{ layers: [0, 1], devices: ['a'] }, { layers: [1, 2], devices: ['s'] }])
    const sched = predict(pl, job(), slowFleet, scheduled)
    const cont = predict(pl, job(), slowFleet, { ...scheduled, coordination: 'contended' })
    expect(cont.airtimeMsPerRequest).toBeGreaterThan(1.5 * sched.airtimeMsPerRequest)
  })

  it('energy: idle power over the request interval, active power over busy time', () => {
    const p = predict(plan([{ layers: [0, 2], devices: ['a'] }]), job({ rateRps: 2 }), fleet, scheduled)
    expect(p.energyJPerRequest).toBeCloseTo(2 / 2 + (6 - 2) * 0.2, 6)
  })

  it('compliance names each failing bound with limit and prediction', () => {
    const small: Fleet = { devices: new Map([['a', device('a', 10, { memoryBytes: 1e6, battery: { capacityWh: 10, levelPct: 15, minPct: 20 } })]]) }
    const j = job({ qoe: { latencyMs: 50, energyJPerRequest: 0.1 } })
    const p = predict(plan([{ layers: [0, 2], devices: ['a'] }]), j, small, scheduled)
    const c = compliance(j, small, p)
    expect(c.compliant).toBe(false)
    expect(c.violations.map((v) => v.bound).sort()).toEqual(['battery', 'energyJPerRequest', 'latencyMs', 'memory'])
    const lat = c.violations.find((v) => v.bound === 'latencyMs')!
    expect(lat.limit).toBe(50)
    expect(lat.predicted).toBeGreaterThan(200)
  })
})
