/**
 * A training demo's length and its step count against the prediction (src/demo/predictions.ts):
 * without --duration the sources stop after one and a half predicted steps on the clock, so the
 * step then in progress, which the demo lets finish, is the second; the summary says how many
 * steps the prediction fits in the wall time the run trained.
 */
import { describe, expect, it } from 'vitest'
import { trainingDurationS, trainingSummary } from '../../src/demo/predictions.js'
import type { PlanEpoch } from '../../src/planner/adapt/adapter.js'

describe("a training demo's length and steps", () => {
  it('runs two predicted steps on the clock when no duration is given (one when two take over 10 min), at least 30 s', () => {
    // 2,330 ms a step on a x94.6 clock: 220 s wall a step; the sources stop at 1.5 steps
    expect(trainingDurationS(2330, 94.6)).toBe(331)
    // on a x201.4 clock two steps take 939 s: one, the sources stopping half-way through it
    expect(trainingDurationS(2330, 201.4)).toBe(235)
    expect(trainingDurationS(100, 2)).toBe(30)
  })

  it('predicts the steps that fit in the wall time trained, at the steps\' own predicted time', () => {
    const epoch = { predicted: { latencyMs: 2000, energyJPerRequest: 1 }, parts: [{ plan: { microBatch: 4 } }] } as unknown as PlanEpoch
    const step = (n: number, ms: number) => ({ step: n, epoch: 1, planId: 'p', ok: true, ms, samples: 64, loss: 1, replicasAgree: true, predictedMs: 2000 })
    // two steps of 2.1 s profile time on a x10 clock, in 44 s of wall time: 2.2 predicted steps fit
    const t = trainingSummary([step(0, 21_000), step(1, 21_000)], 16, epoch, 10, 128, 44)
    expect(t.steps).toBe(2)
    expect(t.stepMs.mean).toBe(2100)
    expect(t.predictedStepMs).toBe(2000)
    expect(t.trainedWallS).toBe(44)
    expect(t.predictedSteps).toBe(2.2)
  })
})
