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
})
