/**
 * The job service's parts, each alone: the fleet as measured and drift (hub/measurements.ts),
 * the predicted-energy ledger (hub/energy-ledger.ts) and the open epochs' devices
 * (hub/epoch-devices.ts). Devices reach them through the real registry from CBOR payloads.
 */
import { describe, expect, it } from 'vitest'
import { Registry } from '../../src/registry/registry.js'
import { FleetMeasurements } from '../../src/hub/measurements.js'
import { EnergyLedger } from '../../src/hub/energy-ledger.js'
import { EpochDevices, EPOCHS_OPEN } from '../../src/hub/epoch-devices.js'
import { adapt, INITIAL_STATE, type PlanEpoch } from '../../src/planner/adapt/adapter.js'
import { stageComputeMs } from '../../src/planner/cost.js'
import { WIFI5 } from '../../src/planner/network/wifi.js'
import type { Job, ModelProfile } from '../../src/planner/types.js'
import { caps, cbor, heartbeat } from '../helpers/hub.js'
import { scheduledWifi5 } from '../helpers/planner.js'

const model: ModelProfile = {
  name: 'm', layers: Array.from({ length: 4 }, () => ({ flops: { conv: 1e9, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e5 })),
  boundaryBytes: [2e5, 1e5, 1e5, 1e5, 1e3],
}
const job: Job = { id: 'j', model, rateRps: 2, qoe: { latencyMs: 2000 }, goal: 'latency', sourceDevice: null }

function fleet(j: Job = job): { registry: Registry; measurements: FleetMeasurements; epoch: PlanEpoch } {
  const registry = new Registry({ heartbeatTimeoutMs: 60_000 })
  for (const id of ['a', 'b']) {
    expect(registry.handleCaps(id, cbor(caps(id)), 0).ok).toBe(true)
    expect(registry.handleHeartbeat(id, cbor(heartbeat(0, { linkThroughputBps: null })), 0).ok).toBe(true)
  }
  const measurements = new FleetMeasurements({ jobId: 'j', batteryMinPct: 20, driftThreshold: 0.25, standard: WIFI5 })
  const f = measurements.fleetToPlan(registry.online())
  const d = adapt(INITIAL_STATE, { job: j, fleet: f, network: scheduledWifi5 }, 0, 'start')
  return { registry, measurements, epoch: d.epoch! }
}

describe('fleet measurements', () => {
  it('plans with the profiles the devices announce, and sees no drift when stages run as predicted', () => {
    const { registry, measurements, epoch } = fleet()
    const f = measurements.fleetToPlan(registry.online())
    expect([...f.devices.keys()].sort()).toEqual(['a', 'b'])
    expect(f.devices.get('a')!.flopsPerSec.conv).toBe(2.6e10)
    const [id, stages] = Object.entries(epoch.assignments)[0]!
    const part = epoch.parts.find((p) => p.plan.id === stages[0]!.planId)!
    const predicted = stageComputeMs(job, f.devices.get(id)!, stages[0]!.layers, part.plan.microBatch)
    registry.handleHeartbeat(id, cbor(heartbeat(1, { linkThroughputBps: null, stageTimings: [{ jobId: 'j', stage: stages[0]!.stage, meanMs: predicted, count: 3 }] })), 1)
    expect(measurements.heartbeat(registry.get(id)!, epoch, job, 1)).toEqual([])
  })

  it('a device measured 3x slower drifts: a reason to plan again, and its profile slows down', () => {
    const { registry, measurements, epoch } = fleet()
    const f = measurements.fleetToPlan(registry.online())
    const [id, stages] = Object.entries(epoch.assignments)[0]!
    const part = epoch.parts.find((p) => p.plan.id === stages[0]!.planId)!
    const predicted = stageComputeMs(job, f.devices.get(id)!, stages[0]!.layers, part.plan.microBatch)
    registry.handleHeartbeat(id, cbor(heartbeat(1, { linkThroughputBps: null, stageTimings: [{ jobId: 'j', stage: stages[0]!.stage, meanMs: 3 * predicted, count: 3 }] })), 1)
    const reasons = measurements.heartbeat(registry.get(id)!, epoch, job, 1)
    expect(reasons).toHaveLength(1)
    expect(reasons[0]).toMatch(new RegExp(`^${id} measured 1\\.73x the stage time`))
    // EWMA alpha 0.5: sqrt(3) slower after one report
    expect(measurements.fleetToPlan(registry.online()).devices.get(id)!.flopsPerSec.conv).toBeCloseTo(2.6e10 / Math.sqrt(3), -3)
  })

  it('an inference device runs one sample a request: at its profile it does not drift, even under a plan of micro-batch 4', () => {
    // planned without the hub's restriction (the offline default for a throughput goal batches by 4)
    const throughput: Job = { ...job, goal: 'throughput', qoe: {} }
    const { registry, measurements, epoch } = fleet(throughput)
    const f = measurements.fleetToPlan(registry.online())
    const [id, stages] = Object.entries(epoch.assignments)[0]!
    const part = epoch.parts.find((p) => p.plan.id === stages[0]!.planId)!
    expect(part.plan.microBatch).toBe(4)
    const oneSample = stageComputeMs(throughput, f.devices.get(id)!, stages[0]!.layers, 1)
    const beat = (seq: number, meanMs: number) => {
      registry.handleHeartbeat(id, cbor(heartbeat(seq, { linkThroughputBps: null, stageTimings: [{ jobId: 'j', stage: stages[0]!.stage, meanMs, count: 3 }] })), seq)
      return measurements.heartbeat(registry.get(id)!, epoch, throughput, seq)
    }
    expect(beat(1, oneSample)).toEqual([])
    expect(beat(2, oneSample)).toEqual([])
    // and one 3x slower than one sample does drift
    expect(beat(3, 3 * oneSample)[0]).toMatch(new RegExp(`^${id} measured 1\\.73x the stage time`))
  })

  it("records a source's latencies for dashboards, and one beyond the bound is a reason to adapt", () => {
    const { registry, measurements, epoch } = fleet()
    registry.handleHeartbeat('a', cbor(heartbeat(1, { linkThroughputBps: null, requestLatencies: [{ jobId: 'j', meanMs: 5000, p95Ms: 6000, count: 30 }, { jobId: 'other', meanMs: 1, p95Ms: 1, count: 5 }] })), 1_000)
    // a device that is not one of the job's sources is not believed
    expect(measurements.heartbeat(registry.get('a')!, epoch, job, 1_000)).toEqual([])
    expect(measurements.figures(2_000)).toBeNull()
    const reasons = measurements.heartbeat(registry.get('a')!, epoch, { ...job, sourceDevice: 'a' }, 1_000)
    expect(reasons.some((r) => r.includes('5000 ms per request') && r.includes('bound 2000 ms'))).toBe(true)
    expect(measurements.takeMeasuredLatency()).toBe(5000)
    expect(measurements.takeMeasuredLatency()).toBeUndefined()
    expect(measurements.figures(2_000)).toEqual({ latencyMs: 5000, p95Ms: 6000, throughputRps: 1 })
    expect(measurements.figures(40_000)).toBeNull()
  })
})

describe('energy ledger', () => {
  it('counts energy per request x rate x time from the epoch activation, and starts afresh when taken', () => {
    const { epoch } = fleet()
    const e = { ...epoch, activateAtMs: 1_000 }
    const l = new EnergyLedger()
    l.start(500)
    l.count(1_000, null, 2)
    l.epochBegun(null)
    l.count(11_000, e, 2)
    const t = l.take(11_000)
    expect(t.predictedJ).toBeCloseTo(e.predicted.energyJPerRequest * 2 * 10, 9)
    expect(t.epochs).toBe(1)
    expect(t.fromMs).toBe(500)
    expect(l.take(12_000)).toEqual({ predictedJ: 0, epochs: 0, fromMs: 11_000 })
  })

  it('charges the outgoing epoch until the new one activates, and the new one after', () => {
    const { epoch } = fleet()
    const old = { ...epoch, activateAtMs: 0, predicted: { ...epoch.predicted, energyJPerRequest: 1 } }
    const next = { ...epoch, epoch: epoch.epoch + 1, activateAtMs: 6_000, predicted: { ...epoch.predicted, energyJPerRequest: 3 } }
    const l = new EnergyLedger()
    l.start(1_000)
    l.count(5_000, old, 1) // the switch is decided at 5 s: 4 s of the old epoch
    l.epochBegun(old)
    l.count(8_000, next, 1) // 1 s more of the old one until 6 s, then 2 s of the new one
    const t = l.take(8_000)
    expect(t.predictedJ).toBeCloseTo(1 * 4 + 1 * 1 + 3 * 2, 9)
    expect(t).toMatchObject({ epochs: 1, fromMs: 1_000 })
    l.count(9_000, next, 1) // the old epoch is done with
    expect(l.take(9_000).predictedJ).toBeCloseTo(3, 9)
  })
})

describe('epoch devices', () => {
  it(`keeps the data plane open to the last ${EPOCHS_OPEN} epochs' devices and the sources`, () => {
    const o = new EpochDevices()
    for (const [i, ids] of [['a'], ['b'], ['c'], ['d'], ['e']].entries()) {
      const before = o.advance(ids)
      if (i > 0) expect([...before]).toEqual([['a'], ['b'], ['c'], ['d']][i - 1])
    }
    expect([...o.assigned]).toEqual(['e'])
    expect([...o.open(['cam'])].sort()).toEqual(['b', 'c', 'd', 'e', 'cam'].sort())
  })
})
