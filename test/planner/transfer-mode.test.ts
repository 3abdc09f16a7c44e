/** Each plan runs the transfer mode predicted faster, and the epoch predicts that mode. */
import { describe, expect, it } from 'vitest'
import { chooseTransferMode, judgeAsRun, predictionOf } from '../../src/planner/adapt/transfer-mode.js'
import { fixedEpoch } from '../../src/planner/adapt/fixed.js'
import { adapt, INITIAL_STATE } from '../../src/planner/adapt/adapter.js'
import { predict } from '../../src/planner/cost.js'
import { partition } from '../../src/planner/partition.js'
import type { Job } from '../../src/planner/types.js'
import { scheduledWifi5, twoStages } from '../helpers/planner.js'

const { model, fleet, plan } = twoStages
const job: Job = { id: 'j', model, rateRps: 2, qoe: {}, goal: 'latency', sourceDevice: null }

describe('transfer mode', () => {
  it('runs the mode predicted faster: one request at a time has nothing to gain from waiting for slots', () => {
    const m = chooseTransferMode(plan, job, fleet, scheduledWifi5, predict(plan, job, fleet, scheduledWifi5), 0)
    expect(m.slots).not.toBeNull()
    const faster = m.slots!.latencyMs < m.atOnce.latencyMs ? 'slots' : 'at-once'
    expect(m.mode).toBe(faster)
    expect(m.mode).toBe('at-once')
    // the schedule is kept (to show), but the plan does not run in it
    expect(m.schedule).not.toBeNull()
  })

  it('an epoch predicts the mode it runs', () => {
    const e = fixedEpoch('single-device', job, fleet, scheduledWifi5, 1, 0, 'test')!
    const part = e.parts[0]!
    const ran = part.modes!.mode === 'slots' ? part.modes!.slots! : part.modes!.atOnce
    expect(e.predicted.latencyMs).toBeCloseTo(ran.latencyMs, 9)
    expect(['slots', 'at-once']).toContain(part.modes!.mode)
  })

  it('at once is predicted with the cameras on frame clocks and the air shared as DCF shares it', () => {
    const cam: Job = { ...job, rateRps: 5, sourceDevice: 'a' }
    const m = chooseTransferMode(plan, cam, fleet, scheduledWifi5, predict(plan, cam, fleet, scheduledWifi5), 0)
    const model = predict(plan, { ...cam, frameClocks: true }, fleet, { ...scheduledWifi5, dcf: true })
    expect(m.atOnce).toEqual({ latencyMs: model.latencyMs, p95LatencyMs: model.p95LatencyMs })
    // a lone camera's frames on its own clock never queue behind each other: the Poisson model's queue is not the run's
    expect(m.atOnce.latencyMs).toBeLessThan(predict(plan, cam, fleet, scheduledWifi5).latencyMs)
  })

  describe('compliance is judged on the prediction of the mode that runs', () => {
    // a camera at 5 frames/s: at once 80.6 ms predicted, hub grants 98.2 ms; the job forces grants
    const cam: Job = { ...job, rateRps: 5, sourceDevice: 'a' }
    const forced: Job = { ...cam, transfers: 'grants' }
    const free = judgeAsRun(plan, cam, fleet, scheduledWifi5)
    const ran = judgeAsRun(plan, forced, fleet, scheduledWifi5)
    // a bound between the two: met at once, which will not run, broken by the grants that will
    const bound = (free.modes.atOnce.latencyMs + ran.modes.grants.latencyMs) / 2
    const bounded: Job = { ...forced, qoe: { latencyMs: bound } }

    it('a plan compliant only in a mode it will not run is not compliant', () => {
      expect(free.modes.mode).toBe('at-once')
      expect(ran.modes.mode).toBe('grants')
      expect(ran.modes.atOnce.latencyMs).toBeLessThan(bound)
      const j = judgeAsRun(plan, bounded, fleet, scheduledWifi5)
      expect(j.prediction.latencyMs).toBe(j.modes.grants.latencyMs)
      expect(j.prediction.latencyMs).toBe(predictionOf(j.modes).latencyMs)
      expect(j.compliance.compliant).toBe(false)
      expect(j.compliance.violations.map((v) => [v.bound, v.predicted])).toEqual([['latencyMs', j.modes.grants.latencyMs]])
      // and the same plan, free to run at once, complies
      expect(judgeAsRun(plan, { ...bounded, transfers: undefined }, fleet, scheduledWifi5).compliance.compliant).toBe(true)
    })

    it('the partitioner offers and the adapter runs only plans whose running mode meets the bound, and promise that mode', () => {
      const res = partition(bounded, fleet, { network: scheduledWifi5 })
      const offered = res.ok ? res.candidates : res.closest
      expect(offered.length).toBeGreaterThan(0)
      for (const c of offered) {
        const j = judgeAsRun(c.plan, bounded, fleet, scheduledWifi5)
        expect(c.prediction.latencyMs).toBeCloseTo(j.prediction.latencyMs, 9)
        expect(c.modes?.mode).toBe('grants')
        expect(c.compliance.compliant).toBe(j.compliance.compliant)
        if (res.ok) expect(c.prediction.latencyMs).toBeLessThanOrEqual(bound)
      }
      const d = adapt(INITIAL_STATE, { job: bounded, fleet, network: scheduledWifi5 }, 0, 'start')
      const e = d.epoch!
      for (const p of e.parts) expect(p.modes?.mode).toBe('grants')
      const promised = e.parts.reduce((a, p) => a + p.weight * predictionOf(p.modes!).latencyMs, 0)
      expect(e.predicted.latencyMs).toBeCloseTo(promised, 9)
      // compliant only when the grants' prediction meets the bound; else it says it runs the closest plan
      if (e.closest === undefined) expect(e.predicted.latencyMs).toBeLessThanOrEqual(bound * (1 + 1e-9))
      else expect(e.closest.map((g) => g.bound)).toContain('latencyMs')
    })
  })
})
