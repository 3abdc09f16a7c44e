/**
 * Plans that hold (issue 14), emulation throughout: for every shipped scenario and 20 seeded
 * random fleets, Dora's chosen plan predicted against 600 s simulations (mean and p95), whether it
 * meets its bounds there; every baseline on the same instances (QoE met, J/request); the cost
 * model's queueing on random plans (`accuracyRows`); planner and compare times on 48 devices.
 */
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { planningInputs, readScenario } from '../src/scenario/load.js'
import { partition } from '../src/planner/partition.js'
import { predict } from '../src/planner/cost.js'
import { BASELINES } from '../src/planner/baselines/index.js'
import { BudgetExceeded } from '../src/planner/baselines/budget.js'
import { simulate } from '../src/sim/simulate.js'
import { randomCase } from '../test/helpers/random-fleets.js'
import { fleet48, job48, network48 } from './fleet48.js'
import { accuracyCase, type AccuracyRow } from './accuracy.js'
import type { Fleet, Job, Network, Plan } from '../src/planner/types.js'

export interface Instance { readonly name: string; readonly job: Job; readonly fleet: Fleet; readonly network: Network }

export interface HoldRow {
  readonly name: string
  readonly planMs: number
  readonly predicted: { latencyMs: number; p95LatencyMs: number } | null
  readonly simulated: { latencyMs: number; p95LatencyMs: number; met: number; seeds: number } | null
}

const sim = (plan: Plan, i: Instance, seed: number) => simulate(plan, i.job, i.fleet, i.network, { durationS: 600, warmupS: 30, seed, computeJitter: 0.05 })

export async function instances(): Promise<Instance[]> {
  const dir = fileURLToPath(new URL('../config/scenarios/', import.meta.url))
  const out: Instance[] = []
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml')).sort()) {
    const inputs = await planningInputs(dir + f, await readScenario(dir + f))
    out.push({ name: f.replace('.yaml', ''), job: inputs.job, fleet: inputs.fleet, network: inputs.network })
  }
  for (let seed = 1; seed <= 20; seed++) {
    const c = randomCase(1000 + seed)
    const L = c.job.model.layers.length
    // bounds a user could ask: half the fastest single device's capacity, 3x its latency
    const single = [...c.fleet.devices.keys()].map((id) => predict({ id, planner: 't', microBatch: 1, stages: [{ layers: [0, L], devices: [id] }] }, { ...c.job, rateRps: 0.01 }, c.fleet, c.network))
    const best = single.reduce((a, b) => (b.capacityRps > a.capacityRps ? b : a))
    const goal = (['latency', 'energy'] as const)[seed % 2]!
    out.push({ name: `random-${seed}`, fleet: c.fleet, network: c.network, job: { ...c.job, goal, rateRps: best.capacityRps / 2, qoe: { latencyMs: 3 * best.latencyMs, p95LatencyMs: 5 * best.latencyMs } } })
  }
  return out
}

/** Dora's chosen plan on each instance: predicted, simulated 600 s on `seeds` seeds (mean of the seeds' figures). */
export function holdRows(list: readonly Instance[], seeds: number): HoldRow[] {
  return list.map((i) => {
    const t0 = performance.now()
    const res = partition(i.job, i.fleet, { network: i.network })
    const planMs = performance.now() - t0
    if (!res.ok) return { name: i.name, planMs, predicted: null, simulated: null }
    const rs = Array.from({ length: seeds }, (_, k) => sim(res.chosen.plan, i, k + 1))
    const mean = (f: (r: (typeof rs)[number]) => number) => rs.reduce((a, r) => a + f(r), 0) / rs.length
    return {
      name: i.name, planMs,
      predicted: { latencyMs: res.chosen.prediction.latencyMs, p95LatencyMs: res.chosen.prediction.p95LatencyMs },
      simulated: { latencyMs: mean((r) => r.latencyMs), p95LatencyMs: mean((r) => r.p95LatencyMs), met: rs.filter((r) => r.qoeMet).length, seeds },
    }
  })
}

/** Every planner on every instance, one 600 s run (seed 1): QoE met, J/request. */
export function baselineRows(list: readonly Instance[]): Array<{ planner: string; met: number; of: number; energyVsDora: number | null; budget: number }> {
  const names = ['dora', ...Object.keys(BASELINES)]
  const results = new Map<string, Array<{ met: boolean; j: number } | null>>(names.map((n) => [n, []]))
  let budget = new Map<string, number>(names.map((n) => [n, 0]))
  for (const i of list) {
    for (const name of names) {
      let plan: Plan | null = null
      try {
        if (name === 'dora') {
          const res = partition(i.job, i.fleet, { network: i.network })
          plan = res.ok ? res.chosen.plan : (res.closest[0]?.plan ?? null)
        } else plan = BASELINES[name as keyof typeof BASELINES](i.job, i.fleet, i.network)?.plan ?? null
      } catch (err) {
        if (!(err instanceof BudgetExceeded)) throw err
        budget.set(name, budget.get(name)! + 1)
      }
      const r = plan ? sim(plan, i, 1) : null
      results.get(name)!.push(r ? { met: r.qoeMet, j: r.energyJPerRequest } : null)
    }
  }
  const dora = results.get('dora')!
  return names.map((planner) => {
    const xs = results.get(planner)!
    // at equal QoE: energy per request where both Dora and this planner meet the bounds
    const both = xs.map((x, k) => (x?.met && dora[k]?.met ? x.j / dora[k]!.j : null)).filter((x): x is number => x !== null)
    return { planner, met: xs.filter((x) => x?.met).length, of: xs.length, energyVsDora: both.length ? both.reduce((a, x) => a + x, 0) / both.length : null, budget: budget.get(planner)! }
  })
}

/** The cost model against the simulator on `n` random plans at loads from 10% to 90%. */
export function accuracyRows(n: number): AccuracyRow[] {
  return Array.from({ length: n }, (_, k) => accuracyCase(k + 1, 600))
}

/** Planner and compare (every planner planned and simulated 120 s, as `simulate --compare`) on 48 devices. */
export function scaleRow(): { planMs: number; compareMs: number; rssMb: number; notes: string[] } {
  const i: Instance = { name: '48', fleet: fleet48(), job: job48(), network: network48 }
  const t0 = performance.now()
  const res = partition(i.job, i.fleet, { network: i.network })
  const planMs = performance.now() - t0
  const notes: string[] = []
  const t1 = performance.now()
  for (const name of ['dora', ...Object.keys(BASELINES)]) {
    let plan: Plan | null = null
    try {
      plan = name === 'dora' ? (res.ok ? res.chosen.plan : (res.closest[0]?.plan ?? null)) : BASELINES[name as keyof typeof BASELINES](i.job, i.fleet, i.network)?.plan ?? null
    } catch (err) {
      if (!(err instanceof BudgetExceeded)) throw err
      notes.push(err.message)
    }
    if (plan) simulate(plan, i.job, i.fleet, i.network, { durationS: 120, warmupS: 10, seed: 1, computeJitter: 0.05 })
  }
  return { planMs, compareMs: performance.now() - t1 + planMs, rssMb: process.memoryUsage().rss / 2 ** 20, notes }
}
