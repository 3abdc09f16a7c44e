/**
 * The planner bounds a plan's compression error by the sum of its cuts' single-cut errors
 * (planner/compression.ts): measured on ResNet-18 with two int8 cuts (real onnxruntime
 * sessions), the error of the whole path is within that sum, and above either cut alone.
 */
import { describe, expect, it } from 'vitest'
import { ZOO } from '../../src/model/zoo/index.js'
import { onnx } from '../../src/model/onnx.js'
import { profileModel } from '../../src/model/load.js'
import { compressionErrors, pathCompressionError } from '../../src/model/compression-error.js'
import { compressBoundaries, cutCodec, planOutputError, withinErrorBound } from '../../src/planner/compression.js'
import type { ModelProfile, Plan } from '../../src/planner/types.js'

describe('compression error over a path of two cuts', () => {
  it('ResNet-18, int8 at nodes 3 and 29: measured together within the sum of each alone', async () => {
    const z = ZOO.find((m) => m.name === 'resnet18')!
    const p = await profileModel(onnx.ModelProto.encode(z.build()).finish(), z.name, { batch: 1 })
    const cuts = [3, 29]
    for (const seed of [1, 2]) {
      const single = await compressionErrors(p, cuts, seed)
      const sum = single[0]!.error.int8 + single[1]!.error.int8
      const both = await pathCompressionError(p, cuts, ['int8', 'int8'], seed)
      expect(both).toBeGreaterThan(Math.max(single[0]!.error.int8, single[1]!.error.int8))
      expect(both).toBeLessThanOrEqual(sum)
      // float32 at both cuts: the split alone changes nothing
      expect(await pathCompressionError(p, cuts, [null, null], seed)).toBeLessThan(1e-6)
    }
  }, 120_000)

  it('ResNet-18, a bound each int8 cut passes alone but not both: the plan sends one cut lighter, and the measured path error holds the bound', async () => {
    const z = ZOO.find((m) => m.name === 'resnet18')!
    const p = await profileModel(onnx.ModelProto.encode(z.build()).finish(), z.name, { batch: 1 })
    const cuts = [3, 29]
    const single = await compressionErrors(p, cuts, 1)
    const bound = 1.05 * Math.max(single[0]!.error.int8, single[1]!.error.int8)
    expect(single[0]!.error.int8 + single[1]!.error.int8).toBeGreaterThan(bound)
    // three layers, cut at those nodes (the planner's view of the model; only the cuts matter here)
    const layer = { flops: { conv: 1e9, matmul: 0, elementwise: 0 }, paramBytes: 1e6, peakActivationBytes: 1e6 }
    const three: ModelProfile = { name: 'resnet18', layers: [layer, layer, layer], boundaryBytes: [602_112, single[0]!.floatBytes, single[1]!.floatBytes, 4000] }
    const model = compressBoundaries(three, single.map((e, i) => ({ boundary: i + 1, floatBytes: e.floatBytes, error: e.error })), bound)
    expect(model.boundaryCodecs).toEqual([null, 'int8', 'int8', null])
    const plan: Plan = { id: 'p', planner: 't', microBatch: 1, stages: [{ layers: [0, 1], devices: ['a'] }, { layers: [1, 2], devices: ['b'] }, { layers: [2, 3], devices: ['c'] }] }
    const retried = withinErrorBound(model, plan)
    expect(Object.keys(retried.codecs ?? {})).toHaveLength(1)
    expect(planOutputError(model, retried)).toBeLessThanOrEqual(bound)
    const measured = await pathCompressionError(p, cuts, [cutCodec(model, retried, 1), cutCodec(model, retried, 2)], 1)
    expect(measured).toBeLessThanOrEqual(bound)
    // as first chosen, both int8, the measured path is above the bound
    expect(await pathCompressionError(p, cuts, ['int8', 'int8'], 1)).toBeGreaterThan(bound)
  }, 120_000)
})
