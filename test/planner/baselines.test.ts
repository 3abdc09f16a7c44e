import { describe, expect, it, vi } from 'vitest'
import { judgeAsRun } from '../../src/planner/adapt/transfer-mode.js'
import { BASELINES } from '../../src/planner/baselines/index.js'
import { bestSingleDevice, dataParallelOnly, equalSplit, exoFewest, exoRing } from '../../src/planner/baselines/simple.js'
import { pipeEdge } from '../../src/planner/baselines/stage-dp.js'
import { exhaustivePlans } from '../../src/planner/baselines/exhaustive.js'
import { predict, stageComputeMs } from '../../src/planner/cost.js'
import { partition } from '../../src/planner/partition.js'
import { WIFI5 } from '../../src/planner/network/wifi.js'
import type { Fleet, Network, DeviceProfile, Job, ModelProfile } from '../../src/planner/types.js'

const net: Network = { standard: WIFI5, coordination: 'scheduled', availableAirtime: 1 }
const dev = (id: string, g: number, mem: number): DeviceProfile => ({ id, kind: id, emulated: true, flopsPerSec: { conv: g * 1e9, matmul: g * 1e9, elementwise: g * 1e9 }, stageOverheadMs: 1, memoryBytes: mem, idleW: 2, activeW: 8, txJPerByte: 1e-6, rxJPerByte: 1e-6, linkRateBps: 300e6, battery: null })
const fleet: Fleet = { devices: new Map([['big-slow', dev('big-slow', 5, 16e9)], ['fast', dev('fast', 100, 4e9)], ['mid', dev('mid', 20, 8e9)]]) }
const model: ModelProfile = { name: 'm', layers: Array.from({ length: 6 }, () => ({ flops: { conv: 5e8, matmul: 0, elementwise: 0 }, paramBytes: 1e8, peakActivationBytes: 1e6 })), boundaryBytes: Array(7).fill(5e5) }
const job: Job = { id: 'j', model, rateRps: 1, qoe: {}, goal: 'latency', sourceDevice: null }

describe('simple baselines', () => {
  it('best single device picks the fastest device for latency', () => {
    expect(bestSingleDevice(job, fleet, net)!.plan.stages).toEqual([{ layers: [0, 6], devices: ['fast'] }])
  })
  it('equal split gives every device the same number of layers', () => {
    expect(equalSplit(job, fleet, net)!.plan.stages.map((s) => s.layers[1] - s.layers[0])).toEqual([2, 2, 2])
  })
  it('data parallel replicates the whole model on every device', () => {
    expect(dataParallelOnly(job, fleet, net)!.plan.stages).toEqual([{ layers: [0, 6], devices: ['big-slow', 'fast', 'mid'] }])
  })
  it('exo rings every device that joined, largest memory first, layers by memory share, never looking at speed', () => {
    // memory 16 : 8 : 4 GB of 6 layers
    expect(exoRing(job, fleet, net)!.plan.stages).toEqual([{ layers: [0, 3], devices: ['big-slow'] }, { layers: [3, 5], devices: ['mid'] }, { layers: [5, 6], devices: ['fast'] }])
    // the fewest-devices variant: the largest memory alone holds the model
    expect(exoFewest(job, fleet, net)!.plan.stages).toEqual([{ layers: [0, 6], devices: ['big-slow'] }])
  })
  it('best single device keeps to the latency bound when a device meets it, even for the energy goal', () => {
    const frugal: Fleet = { devices: new Map([...fleet.devices].map(([id, d]) => [id, id === 'big-slow' ? { ...d, idleW: 0.1, activeW: 0.5 } : d])) }
    const free = bestSingleDevice({ ...job, goal: 'energy' }, frugal, net)!
    expect(free.plan.stages[0]!.devices).toEqual(['big-slow'])
    const bounded = bestSingleDevice({ ...job, goal: 'energy', qoe: { latencyMs: 200 } }, frugal, net)!
    expect(bounded.compliance.compliant).toBe(true)
    expect(bounded.plan.stages[0]!.devices).not.toEqual(['big-slow'])
  })
  it("Dora's chosen plan is at least as good as every baseline on the goal (cost model, each plan as it will run)", () => {
    const dora = partition(job, fleet, { network: net })
    expect(dora.ok).toBe(true)
    if (!dora.ok) return
    for (const make of Object.values(BASELINES)) {
      const b = make(job, fleet, net)
      // a baseline's plan runs in the transfer mode predicted fastest for it (adapt/fixed.ts), as Dora's does
      const run = b && judgeAsRun(b.plan, job, fleet, net)
      if (run?.compliance.compliant) expect(dora.chosen.prediction.latencyMs).toBeLessThanOrEqual(run.prediction.latencyMs + 1e-9)
    }
  })

  it("PipeEdge's DP finds the single-device-per-stage plan with the smallest bottleneck (its own cost, the source's transfer and the results' included), checked by enumeration", () => {
    const bottleneck = (stages: ReadonlyArray<{ layers: readonly [number, number]; devices: readonly string[] }>) => {
      let worst = 0
      stages.forEach((s, k) => {
        const d = fleet.devices.get(s.devices[0]!)!
        worst = Math.max(worst, stageComputeMs(job, d, s.layers, 1))
        // the input comes from the source (the hub, wired), the previous stage's output from its device
        const p = k > 0 ? fleet.devices.get(stages[k - 1]!.devices[0]!)!.linkRateBps ?? 1e9 : 1e9
        worst = Math.max(worst, (model.boundaryBytes[s.layers[0]]! * 8 * 1000) / Math.min(p, d.linkRateBps ?? 1e9))
        // the results go back to the source
        if (k === stages.length - 1) worst = Math.max(worst, (model.boundaryBytes[6]! * 8 * 1000) / Math.min(1e9, d.linkRateBps ?? 1e9))
      })
      return worst
    }
    const pe = pipeEdge(job, fleet, net)!
    const singles = exhaustivePlans(job, fleet, net).filter((c) => c.plan.stages.every((s) => s.devices.length === 1) && !c.compliance.violations.some((v) => v.bound === 'memory'))
    const best = Math.min(...singles.map((c) => bottleneck(c.plan.stages)))
    expect(bottleneck(pe.plan.stages)).toBeCloseTo(best, 9)
  })
})

describe('EdgeShard and CoEdge baselines', () => {
  it("EdgeShard's DP finds the single-device-per-stage plan with the least summed compute + transfer time, source and results included", async () => {
    const { edgeShard } = await import('../../src/planner/baselines/stage-dp.js')
    const { exhaustivePlans } = await import('../../src/planner/baselines/exhaustive.js')
    const { stageComputeMs } = await import('../../src/planner/cost.js')
    const sum = (stages: ReadonlyArray<{ layers: readonly [number, number]; devices: readonly string[] }>) =>
      stages.reduce((acc, s, k) => {
        const d = fleet.devices.get(s.devices[0]!)!
        // the input from the source (the hub, wired) or the previous stage, the results back to the source
        const prev = k > 0 ? fleet.devices.get(stages[k - 1]!.devices[0]!)!.linkRateBps ?? 1e9 : 1e9
        const comm = (model.boundaryBytes[s.layers[0]]! * 8 * 1000) / Math.min(prev, d.linkRateBps ?? 1e9)
        const back = k === stages.length - 1 ? (model.boundaryBytes[6]! * 8 * 1000) / Math.min(1e9, d.linkRateBps ?? 1e9) : 0
        return acc + comm + back + stageComputeMs(job, d, s.layers, 1)
      }, 0)
    const es = edgeShard(job, fleet, net)!
    const singles = exhaustivePlans(job, fleet, net).filter((c) => c.plan.stages.every((s) => s.devices.length === 1) && !c.compliance.violations.some((v) => v.bound === 'memory'))
    expect(sum(es.plan.stages)).toBeCloseTo(Math.min(...singles.map((c) => sum(c.plan.stages))), 9)
  })

  it('EdgeShard and PipeEdge pay for the input and the results: a wired box beats a faster laptop behind a slow link', async () => {
    const { edgeShard } = await import('../../src/planner/baselines/stage-dp.js')
    const big: ModelProfile = { ...model, boundaryBytes: [5e6, ...model.boundaryBytes.slice(1)] }
    const f: Fleet = { devices: new Map([['box', { ...dev('box', 20, 8e9), linkRateBps: null }], ['laptop', { ...dev('laptop', 100, 8e9), linkRateBps: 50e6 }]]) }
    const j = { ...job, model: big }
    // the laptop alone: 30 ms of compute but 800 ms to receive a frame; the box: 150 ms, wired
    expect(edgeShard(j, f, net)!.plan.stages).toEqual([{ layers: [0, 6], devices: ['box'] }])
    expect(pipeEdge(j, f, net)!.plan.stages[0]!.devices).toEqual(['box'])
  })

  it("EdgeShard and PipeEdge charge the results to the job's consumer (the hub by default), not to the camera that sent the frame", async () => {
    const { edgeShard } = await import('../../src/planner/baselines/stage-dp.js')
    // small frames in, 5 MB of results out; the camera computes fast but sits behind a slow link
    const heavy: ModelProfile = { ...model, boundaryBytes: [1e3, ...model.boundaryBytes.slice(1, 6), 5e6] }
    const cam = { ...dev('cam', 100, 8e9), linkRateBps: 50e6 }
    const box = { ...dev('box', 20, 8e9), linkRateBps: null }
    const f: Fleet = { devices: new Map<string, DeviceProfile>([['cam', cam], ['box', box]]) }
    const toHub: Job = { ...job, model: heavy, sourceDevice: 'cam', resultsTo: { device: null } }
    // results to the hub: the camera alone would send 5 MB over 50 Mbit/s (800 ms); the wired box sends them at 1 Gbit/s
    expect(edgeShard(toHub, f, net)!.plan.stages.at(-1)!.devices).toEqual(['box'])
    expect(pipeEdge(toHub, f, net)!.plan.stages.at(-1)!.devices).toEqual(['box'])
    // Dora's cost model agrees that the box is faster here
    const onCam = predict({ id: 'c', planner: 't', microBatch: 1, stages: [{ layers: [0, 6], devices: ['cam'] }] }, toHub, f, net)
    const onBox = predict({ id: 'b', planner: 't', microBatch: 1, stages: [{ layers: [0, 6], devices: ['box'] }] }, toHub, f, net)
    expect(onBox.latencyMs).toBeLessThan(onCam.latencyMs)
    // a camera that asks for its own results keeps them: the camera alone pays no result transfer
    const toSource: Job = { ...toHub, resultsTo: 'source' }
    expect(edgeShard(toSource, f, net)!.plan.stages).toEqual([{ layers: [0, 6], devices: ['cam'] }])
  })

  it("hybrid-dp (PipeDream / Asteroid) pays for the sources' requests and the results with the cost model's transfer accounting", async () => {
    const { hybridDp } = await import('../../src/planner/baselines/hybrid-dp.js')
    const { hopsBetween, transferLatencyS } = await import('../../src/planner/cost.js')
    const big: ModelProfile = { ...model, boundaryBytes: [5e6, ...model.boundaryBytes.slice(1, 6), 4e6] }
    // a Wi-Fi camera (the source, slow) and a laptop behind a slow link: 150 ms of compute on the
    // camera against 30 ms on the laptop, but a frame takes the laptop about 800 ms to receive
    const cam = { ...dev('cam', 20, 8e9), linkRateBps: 300e6 }
    const laptop = { ...dev('laptop', 100, 8e9), linkRateBps: 50e6 }
    const f: Fleet = { devices: new Map([['cam', cam], ['laptop', laptop]]) }
    const j: Job = { ...job, model: big, sourceDevice: 'cam', goal: 'throughput' }
    expect(transferLatencyS(hopsBetween(cam, laptop, 5e6), net) * 1000).toBeGreaterThan(700)
    const c = hybridDp(j, f, net)!
    // without the source's transfer the laptop alone (30 ms a request) would look best
    expect(c.plan.stages).toEqual([{ layers: [0, 6], devices: ['cam'] }])
    // the results: a hub-sourced job whose last stage sends 4 MB back keeps that stage near the hub
    const wired = { ...dev('box', 20, 8e9), linkRateBps: null }
    const g: Fleet = { devices: new Map<string, DeviceProfile>([['box', wired], ['laptop', laptop]]) }
    const h = hybridDp({ ...j, sourceDevice: null }, g, net)!
    expect(h.plan.stages.at(-1)!.devices).toEqual(['box'])
  })

  it('CoEdge adds the most energy-efficient devices first until the latency bound holds', async () => {
    const { coEdge } = await import('../../src/planner/baselines/simple.js')
    const loose = coEdge({ ...job, qoe: { latencyMs: 1e6 } }, fleet, net)!
    expect(loose.plan.stages[0]!.devices).toEqual(['fast']) // 8 W over 100 GFLOP/s is the least J/FLOP
    const tight = coEdge({ ...job, qoe: { latencyMs: 1 } }, fleet, net)!
    expect(tight.compliance.compliant).toBe(false)
    expect(tight.plan.stages[0]!.devices.length).toBe(3)
  })
})

describe('Petals-style baseline', () => {
  it('servers take memory-sized spans where the swarm is weakest, and requests chain through them', async () => {
    const { petals } = await import('../../src/planner/baselines/simple.js')
    // memory for 3 layers each (1e8 params + activations, 0.8 of 4e8)
    const small = (id: string, g: number) => ({ ...fleet.devices.get('fast')!, id, kind: id, memoryBytes: 4.0e8, flopsPerSec: { conv: g * 1e9, matmul: g * 1e9, elementwise: g * 1e9 } })
    const f = { devices: new Map([['s1', small('s1', 10)], ['s2', small('s2', 10)], ['s3', small('s3', 10)]]) }
    const p = petals(job, f, net)!
    // s1 takes [0,3) (all spans equal), s2 the least-served span [3,6), s3 then [0,3) again (all equal); the chain is s1 then s2
    expect(p.plan.stages).toEqual([{ layers: [0, 3], devices: ['s1'] }, { layers: [3, 6], devices: ['s2'] }])
  })
})


describe('exhaustive optimum', () => {
  it('enumerating identical devices by count finds the same optimum as enumerating every subset', () => {
    const same = (id: string) => ({ ...dev(id, 20, 8e9), kind: 'same' })
    const typed: Fleet = { devices: new Map([['a', same('a')], ['b', same('b')], ['c', same('c')], ['fast', dev('fast', 100, 4e9)]]) }
    // the same fleet with each device made distinct by a negligible speed difference
    const distinct: Fleet = { devices: new Map([...typed.devices].map(([id, d], i) => [id, { ...d, flopsPerSec: { ...d.flopsPerSec, conv: d.flopsPerSec.conv * (1 + i * 1e-12) } }])) }
    const small = { ...job, model: { ...model, layers: model.layers.slice(0, 4), boundaryBytes: model.boundaryBytes.slice(0, 5) } }
    // each enumeration once (every plan is judged as it will run: exhaustive.ts judgeAsRun)
    const [counted, all] = [exhaustivePlans(small, typed, net), exhaustivePlans(small, distinct, net)]
    const best = (cs: typeof counted) => Math.min(...cs.filter((c) => c.compliance.compliant).map((c) => c.prediction.latencyMs))
    expect(counted.length).toBeLessThan(all.length)
    expect(best(counted)).toBeCloseTo(best(all), 6)
  }, 120_000)
})

describe('baseline budgets', () => {
  it('a DP whose state space outgrows its step budget says so instead of running on', async () => {
    const { StepBudget, BudgetExceeded } = await import('../../src/planner/baselines/budget.js')
    const b = new StepBudget('pipeedge', 10)
    b.spend(10)
    expect(() => b.spend()).toThrow(BudgetExceeded)
    expect(() => b.spend()).toThrow(/pipeedge stopped after 12 DP steps/)
  })

  it('a baseline run as the hub runs it (fixedDecision) that outgrows its budget finds no plan and says why, instead of throwing', async () => {
    const { StepBudget, BudgetExceeded } = await import('../../src/planner/baselines/budget.js')
    const { fixedDecision } = await import('../../src/planner/adapt/fixed.js')
    const { INITIAL_STATE } = await import('../../src/planner/adapt/adapter.js')
    // the fleet is small; the budget is spent at once (a 48-device fleet of distinct profiles takes seconds to spend it)
    const spend = vi.spyOn(StepBudget.prototype, 'spend').mockImplementation(() => { throw new BudgetExceeded('pipeedge', 3_000_001) })
    try {
      const d = fixedDecision(INITIAL_STATE, 'pipeedge', job, fleet, net, 0, 'start')
      expect(d.action).toBe('infeasible')
      expect(d.epoch).toBeNull()
      expect(d.reason).toMatch(/pipeedge stopped after 3,000,001 DP steps/)
    } finally {
      spend.mockRestore()
    }
    expect(fixedDecision(INITIAL_STATE, 'pipeedge', job, fleet, net, 0, 'start').action).toBe('replan')
  })
})
