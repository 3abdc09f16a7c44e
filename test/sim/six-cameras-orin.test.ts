/**
 * Issue 14, "Phantom air time with local first stages", re-checked on the auditor's fleet
 * (fixtures/six-cameras-orin.yaml: traffic.yaml's six cameras and Orin box, every camera a source
 * at 1 frame/s, the YOLO-style detector, p95 <= 800 ms). The plan "every camera runs the whole
 * detector on its own frames" uses almost no air (only the results go to the hub), runs at once,
 * and its at-once prediction holds against the at-once run; Dora's chosen plan runs in its mode
 * within its prediction and its bound. Seeded 600 s simulations (SIMULATION; BENCHMARKS.md, "Six
 * cameras and an Orin"); each run takes a fraction of a second.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { planningInputs, readScenario } from '../../src/scenario/load.js'
import { judgeAsRun } from '../../src/planner/adapt/transfer-mode.js'
import { partition } from '../../src/planner/partition.js'
import { simulate } from '../../src/sim/simulate.js'
import type { Plan } from '../../src/planner/types.js'

const FILE = fileURLToPath(new URL('./fixtures/six-cameras-orin.yaml', import.meta.url))
const CAMS = ['cam-1', 'cam-2', 'cam-3', 'cam-4', 'cam-5', 'cam-6']
const run = { durationS: 600, warmupS: 10, computeJitter: 0.05 }

describe('six cameras and an Orin (issue 14, SIMULATION)', () => {
  it("every camera running the whole detector: no phantom air, the at-once prediction within 5% (mean) and 3% (p95) of the at-once run, kept out only by the p95's uncertainty", async () => {
    const scenario = await readScenario(FILE)
    const inputs = await planningInputs(FILE, scenario)
    const contended = await planningInputs(FILE, scenario, 'contended')
    const plan: Plan = { id: 'local', planner: 'test', microBatch: 1, stages: [{ layers: [0, inputs.job.model.layers.length], devices: CAMS }] }
    const judged = judgeAsRun(plan, inputs.job, inputs.fleet, inputs.network)
    // only the detections cross the air: each camera keeps its 1.2 MB frame
    expect(judged.prediction.utilisation.air).toBeLessThan(0.01)
    expect(judged.modes.mode).toBe('at-once')
    // its p95 (the Pi cameras' ~700 ms detector and its jitter) is too close to the bound for the
    // estimate's uncertainty: headroom, not phantom air, keeps it out (simulated p95 754-762 ms)
    expect(judged.compliance.compliant).toBe(false)
    expect(judged.compliance.violations.map((v) => v.bound)).toEqual(['p95LatencyMs'])
    for (const seed of [1, 7]) {
      const r = simulate(plan, { ...contended.job, frameClocks: true }, contended.fleet, contended.network, { ...run, seed })
      expect(r.completed).toBe(r.requests)
      expect(r.airBusyFraction).toBeLessThan(0.01)
      expect(Math.abs(judged.prediction.latencyMs / r.latencyMs - 1)).toBeLessThan(0.05)
      // the compute jitter is in the p95 (latency.ts p95Ms; without it: 699.7 ms, 8% under)
      expect(Math.abs(judged.prediction.p95LatencyMs / r.p95LatencyMs - 1)).toBeLessThan(0.03)
      expect(r.p95LatencyMs).toBeLessThan(800)
    }
  })

  it("Dora's chosen plan meets its bound in its transfer mode on 5 seeds, within 5% (mean) and 10% (p95) of its prediction", async () => {
    const inputs = await planningInputs(FILE, await readScenario(FILE))
    const res = partition(inputs.job, inputs.fleet, { network: inputs.network })
    expect(res.ok).toBe(true)
    if (!res.ok) return
    const { plan } = res.chosen
    const judged = judgeAsRun(plan, inputs.job, inputs.fleet, inputs.network)
    expect(judged.modes.mode).toBe('slots')
    const schedule = judged.modes.schedule!
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = simulate(plan, inputs.job, inputs.fleet, inputs.network, { ...run, seed, schedule })
      expect(r.completed).toBe(r.requests)
      expect(r.p95LatencyMs).toBeLessThan(800)
      expect(Math.abs(judged.prediction.latencyMs / r.latencyMs - 1)).toBeLessThan(0.05)
      expect(Math.abs(judged.prediction.p95LatencyMs / r.p95LatencyMs - 1)).toBeLessThan(0.1)
    }
  })
})
