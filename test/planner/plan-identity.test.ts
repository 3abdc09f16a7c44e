/**
 * Speed-ups of the planner change no result: the chosen plan (stages, devices, micro-batch) and
 * the front's plans on seeded random fleets (inference of every goal, some over their capacity,
 * training) and on the 48-device fleet equal the recorded ones (fixtures/chosen-plans.json).
 * A change of the cost model that moves plans on purpose re-records them:
 * DORA_RECORD_PLANS=1 npx vitest run test/planner/plan-identity.test.ts (and says so in its commit).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { partition } from '../../src/planner/partition.js'
import { predict } from '../../src/planner/cost.js'
import { randomCase } from '../helpers/random-fleets.js'
import { fleet48, job48, network48 } from '../../bench/fleet48.js'
import type { Job, Plan } from '../../src/planner/types.js'

const FIXTURE = new URL('./fixtures/chosen-plans.json', import.meta.url)

const shape = (p: Plan) => ({ microBatch: p.microBatch, stages: p.stages.map((s) => ({ layers: s.layers, devices: s.devices })) })

function plansNow(): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const goals = ['latency', 'energy', 'throughput'] as const
  for (let seed = 1; seed <= 30; seed++) {
    const c = randomCase(seed, { training: seed % 7 === 0 })
    const L = c.job.model.layers.length
    const single = [...c.fleet.devices.keys()].map((id) => predict({ id, planner: 't', microBatch: 1, stages: [{ layers: [0, L], devices: [id] }] }, { ...c.job, rateRps: 0.01 }, c.fleet, c.network))
    const best = single.reduce((a, b) => (b.capacityRps > a.capacityRps ? b : a))
    const job: Job = c.job.training
      ? { ...c.job, qoe: { throughputRps: best.capacityRps } }
      : { ...c.job, goal: goals[seed % 3]!, rateRps: best.capacityRps * (seed % 5 === 0 ? 1.5 : 0.5), qoe: { latencyMs: 3 * best.latencyMs, p95LatencyMs: 5 * best.latencyMs } }
    const r = partition(job, c.fleet, { network: c.network })
    out[`random-${seed}`] = r.ok ? { chosen: shape(r.chosen.plan), front: r.candidates.map((x) => shape(x.plan)) } : { closest: r.closest.map((x) => shape(x.plan)) }
  }
  const r = partition(job48(), fleet48(), { network: network48 })
  out['fleet-48'] = r.ok ? { chosen: shape(r.chosen.plan), front: r.candidates.map((x) => shape(x.plan)) } : { closest: r.closest.map((x) => shape(x.plan)) }
  return out
}

describe('planner results', () => {
  it('equal the recorded chosen plans and fronts on 30 random fleets and 48 devices', () => {
    const now = plansNow()
    if (process.env.DORA_RECORD_PLANS === '1') writeFileSync(FIXTURE, `${JSON.stringify(now, null, 1)}\n`)
    expect(now).toEqual(JSON.parse(readFileSync(FIXTURE, 'utf8')))
  }, 120_000)
})
