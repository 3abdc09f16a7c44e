/** The epoch-to-wire mapping (hub/epoch-wire.ts): pure, checked against the payload schemas. */
import { describe, expect, it } from 'vitest'
import { adapt, INITIAL_STATE, type PlanEpoch } from '../../src/planner/adapt/adapter.js'
import { assignmentPayload, nodesOf, planEpochPayload, speedShares } from '../../src/hub/epoch-wire.js'
import { stageFlops } from '../../src/planner/cost.js'
import { HUB_SOURCE } from '../../src/protocol/topics.js'
import type { Fleet, DeviceProfile, Job, ModelProfile } from '../../src/planner/types.js'
import { scheduledWifi5, testDevice } from '../helpers/planner.js'

const model: ModelProfile = {
  name: 'm', layers: Array.from({ length: 4 }, () => ({ flops: { conv: 1e9, matmul: 2e8, elementwise: 1e7 }, paramBytes: 1e6, peakActivationBytes: 1e5 })),
  boundaryBytes: [2e5, 1e5, 1e5, 1e5, 1e3],
  nodeBounds: [0, 5, 9, 14, 20],
}
const devices: DeviceProfile[] = [testDevice('fast', 100), testDevice('slow', 25), testDevice('mid', 50)]
const fleet: Fleet = { devices: new Map(devices.map((d) => [d.id, d])) }
const job: Job = { id: 'j', model, rateRps: 2, qoe: { latencyMs: 500 }, goal: 'latency', sourceDevice: null }
const stageIo = (n: [number, number]) => ({ inputs: [`in${n[0]}`], outputs: [`out${n[1]}`] })
const io = { inputs: [{ name: 'x', dtype: 'float32' as const, shape: [1, 3] }], outputs: ['y'] }

function anEpoch(): PlanEpoch {
  const d = adapt(INITIAL_STATE, { job, fleet, network: scheduledWifi5 }, 1_000, 'start')
  expect(d.epoch).not.toBeNull()
  return d.epoch!
}

describe('plan payload', () => {
  it('maps layers to node ranges, replicas to speed shares, and the hub source to its name', () => {
    const e = anEpoch()
    const p = planEpochPayload({ jobId: 'j', job, epoch: e, fleet, io, stageIo, departed: ['gone'] })
    expect(p.epoch).toBe(e.epoch)
    expect(p.sources).toEqual([HUB_SOURCE])
    expect(p.departed).toEqual(['gone'])
    expect(p.emulated).toBe(true)
    expect(p.inputs).toEqual(io.inputs)
    for (const [k, part] of p.parts.entries()) {
      const plan = e.parts[k]!.plan
      expect(part.planId).toBe(plan.id)
      part.stages.forEach((s, i) => {
        const layers = plan.stages[i]!.layers
        expect(s.nodes).toEqual([model.nodeBounds![layers[0]], model.nodeBounds![layers[1]]])
        expect(s.inputs).toEqual([`in${s.nodes![0]}`])
        expect(s.shares!.reduce((a, x) => a + x, 0)).toBeCloseTo(1, 9)
      })
    }
  })

  it('carries no infinite prediction: latency capped, an infinite p95 left out; a long reason cut', () => {
    const e = anEpoch()
    const overloaded: PlanEpoch = { ...e, predicted: { latencyMs: Infinity, p95LatencyMs: Infinity, energyJPerRequest: 1 }, reason: 'x'.repeat(5000) }
    const p = planEpochPayload({ jobId: 'j', job, epoch: overloaded, fleet, io, stageIo, departed: [] })
    expect(p.predicted.latencyMs).toBe(1e9)
    expect(p.predicted.p95LatencyMs).toBeUndefined()
    expect(p.reason).toHaveLength(1024)
  })

  it('gives a faster replica the larger share, in proportion to its speed', () => {
    const s = speedShares(job, fleet, [0, 4], ['fast', 'slow'])
    expect(s[0]! / s[1]!).toBeCloseTo(4, 6)
  })
})

describe('assignment payload', () => {
  it("names each of the device's stages with its model reference, FLOPs and slots", () => {
    const e = anEpoch()
    const [id, stages] = Object.entries(e.assignments)[0]!
    const refs = new Map(stages.map((a) => [nodesOf(job, a.layers)!.join('-'), { sha256: 'a'.repeat(64), bytes: 10, chunks: 1 }]))
    const a = assignmentPayload({ jobId: 'j', job, epoch: e, deviceId: id, refs, training: new Map() })
    expect(a.stages).toHaveLength(stages.length)
    a.stages.forEach((s, i) => {
      expect(s.model?.sha256).toBe('a'.repeat(64))
      expect(s.flops).toEqual(stageFlops(job, stages[i]!.layers))
      expect(s.backward).toBeUndefined()
    })
    // sending slots only for the parts that run in slots (an at-once part keeps its schedule for display)
    const expectedSlots = e.parts.flatMap((p) => (p.modes?.mode === 'at-once' ? [] : p.schedule?.byDevice[id] ?? [])).length
    expect(a.slots).toHaveLength(expectedSlots)
    const timed = e.parts.filter((p) => p.modes?.mode !== 'at-once').map((p) => p.plan.id)
    expect(a.slots.every((s) => timed.includes(s.planId))).toBe(true)
  })

  it('gives a device without stages in the epoch an empty assignment', () => {
    const e = anEpoch()
    const a = assignmentPayload({ jobId: 'j', job, epoch: e, deviceId: 'not-in-plan', refs: new Map(), training: new Map() })
    expect(a.stages).toEqual([])
    expect(a.slots).toEqual([])
    expect(a.epoch).toBe(e.epoch)
  })

  it('adds a training stage its backward model and parameter names', () => {
    const e = anEpoch()
    const [id, stages] = Object.entries(e.assignments)[0]!
    const key = nodesOf(job, stages[0]!.layers)!.join('-')
    const ref = { sha256: 'b'.repeat(64), bytes: 10, chunks: 1 }
    const a = assignmentPayload({ jobId: 'j', job, epoch: e, deviceId: id, refs: new Map([[key, ref]]), training: new Map([[key, { backward: ref, params: ['w0'] }]]) })
    expect(a.stages[0]!.backward).toEqual(ref)
    expect(a.stages[0]!.params).toEqual(['w0'])
  })
})
