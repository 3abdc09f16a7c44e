/**
 * Slots that pay: a device source (a camera's frame clock) captures at its turns in the
 * scheduler's cycle, so its frames never wait for their micro-batch's turn; the hub's requests
 * (Poisson) still do. The planner then predicts slots from the schedule alone, the simulator
 * runs the sources so and agrees, and on the camera scenarios slots beat or match uncoordinated
 * sending (cameras free-running on their own frame clocks, Job.frameClocks).
 */
import { describe, expect, it } from 'vitest'
import { fileURLToPath } from 'node:url'
import { planningInputs, readScenario } from '../../src/scenario/load.js'
import { partition } from '../../src/planner/partition.js'
import { predict } from '../../src/planner/cost.js'
import { scheduleTransfers } from '../../src/planner/network/scheduler.js'
import { chooseTransferMode } from '../../src/planner/adapt/transfer-mode.js'
import { simulate } from '../../src/sim/simulate.js'

async function scenario(name: string) {
  const file = fileURLToPath(new URL(`../../config/scenarios/${name}.yaml`, import.meta.url))
  const inputs = await planningInputs(file, await readScenario(file))
  const res = partition(inputs.job, inputs.fleet, { network: inputs.network })
  if (!res.ok) throw new Error(`${name}: no plan`)
  return { ...inputs, plan: res.chosen.plan }
}

const o = { durationS: 300, warmupS: 10, seed: 1, computeJitter: 0.05 }

describe('slots with phased device sources', () => {
  // camera-wall at its own rate holds the air 12% of the time: cameras on free-running frame
  // clocks at random phases seldom overlap there, so slots only match them (0.97x p95 in this
  // run; 0.9x was asserted against Poisson cameras, which collide more than any camera does).
  // The slots' mean was predicted with every turn of the cycle full (35.5 ms, +4.3% over the
  // simulator's 34.0: the guard after each hop counted, and no turn left empty), so the planner
  // ran at once (35.1 predicted, 34.8 simulated); predicted as the slots run (turn-replay.ts:
  // turns left empty, the gate taking the free slots, no guard on the data) it is 34.0, and the
  // planner runs the faster mode
  for (const [name, ratio, mode] of [['traffic', 0.8, 'slots'], ['camera-wall', 1.0, 'slots']] as const) {
    it(`${name}: cameras capture at their turns; ${mode} is predicted fastest, the simulator agrees, and the slots' p95 is at most ${ratio}x of uncoordinated sending`, async () => {
      const { job, fleet, network, plan } = await scenario(name)
      const m = chooseTransferMode(plan, job, fleet, network, predict(plan, job, fleet, network), 0)
      expect(m.schedule!.waitMs).toBe(0)
      expect(m.mode).toBe(mode)
      const slots = simulate(plan, job, fleet, network, { ...o, schedule: m.schedule! })
      // at once, the cameras run free on their own frame clocks (the device agent's startSource)
      const free = simulate(plan, { ...job, frameClocks: true }, fleet, { ...network, coordination: 'contended' }, o)
      expect(slots.completed).toBeGreaterThanOrEqual(slots.requests * 0.99)
      expect(Math.abs(slots.latencyMs / m.slots!.latencyMs - 1)).toBeLessThan(0.05)
      expect(Math.abs(slots.p95LatencyMs / m.slots!.p95LatencyMs - 1)).toBeLessThan(0.1)
      // the offered load is carried: as many frames as the cameras' clocks give
      expect(slots.requests).toBeGreaterThan(0.95 * job.rateRps * (o.durationS - o.warmupS))
      expect(slots.p95LatencyMs).toBeLessThanOrEqual(ratio * free.p95LatencyMs)
      // the at-once prediction (frame clocks, DCF) is the at-once run's
      expect(Math.abs(free.latencyMs / m.atOnce.latencyMs - 1)).toBeLessThan(0.05)
      expect(Math.abs(free.p95LatencyMs / m.atOnce.p95LatencyMs - 1)).toBeLessThan(0.1)
      // the mode predicted fastest is no slower in the simulator than the other (1% for the seed's noise)
      expect(slots.latencyMs).toBeLessThanOrEqual(free.latencyMs * 1.01)
    })
  }

  it('the hub\'s requests (Poisson) still wait for their turn', async () => {
    const { job, fleet, network, plan } = await scenario('smart-home')
    expect(job.sourceDevice ?? null).toBeNull()
    const s = scheduleTransfers(plan, job, fleet, network)
    expect(s.ok && s.schedule.waitMs).toBeGreaterThan(0)
  })
})
