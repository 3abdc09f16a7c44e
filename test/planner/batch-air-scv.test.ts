/**
 * The variability of a micro-batch's whole air time (air-queue.ts batchAirScv), which Kingman's
 * factor at the air takes as the service's: exact over the routes' sources and replicas.
 */
import { describe, expect, it } from 'vitest'
import { batchAirScv, type AirRoute, type AirTransfer } from '../../src/planner/air-queue.js'

const t = (...s: number[]): AirTransfer => ({ hops: s.map((x) => ({ s: x, gapS: 0 })), tailS: 0 })
const none = t()

describe('batchAirScv', () => {
  it('is 0 where every micro-batch takes the same way, however unequal its hops', () => {
    const route: AirRoute = { share: 1, steps: [{ weights: [1], into: [[t(0.02, 0.001)]], out: [t(0.004)], stayS: [0.01] }, { weights: [1], into: [[t(0.03)]], out: [none], stayS: [0.01] }] }
    expect(batchAirScv([route])).toBeCloseTo(0, 12)
  })

  it('is the SCV of the air time over sources and replicas (a mixture), with a step depending on the replica before', () => {
    // source 0 (share 0.25): 10 ms then, by replica, 20 or 40 ms (weights 0.5 / 0.5) into a stage
    // whose way in depends on the replica before (1 ms from the first, 3 ms from the second)
    const a: AirRoute = {
      share: 0.25,
      steps: [
        { weights: [0.5, 0.5], into: [[t(0.01, 0.02)], [t(0.01, 0.04)]], out: [none, none], stayS: [0, 0] },
        { weights: [1], into: [[t(0.001), t(0.003)]], out: [none], stayS: [0] },
      ],
    }
    // source 1 (share 0.75): always 5 ms
    const b: AirRoute = { share: 0.75, steps: [{ weights: [1], into: [[t(0.005)]], out: [none], stayS: [0] }] }
    const values = [[0.25 * 0.5, 0.031], [0.25 * 0.5, 0.053], [0.75, 0.005]] as const
    const m1 = values.reduce((s, [p, x]) => s + p * x, 0)
    const m2 = values.reduce((s, [p, x]) => s + p * x * x, 0)
    expect(batchAirScv([a, b])).toBeCloseTo(m2 / m1 ** 2 - 1, 10)
  })

  it('is 0 with no air at all', () => {
    expect(batchAirScv([{ share: 1, steps: [{ weights: [1], into: [[none]], out: [none], stayS: [0.01] }] }])).toBe(0)
  })
})
