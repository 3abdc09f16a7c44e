/** The planner's activation compression per cut: the smallest codec within the bound, bytes counted. */
import { describe, expect, it } from 'vitest'
import { compressBoundaries } from '../../src/planner/compression.js'
import type { ModelProfile } from '../../src/planner/types.js'

const layer = { flops: { conv: 1e9, matmul: 0, elementwise: 0 }, paramBytes: 1000, peakActivationBytes: 1000 }
const model: ModelProfile = { name: 'm', layers: [layer, layer, layer, layer], boundaryBytes: [100, 4000, 4000, 4100, 10] }

describe('compressBoundaries', () => {
  it('takes int8 where its error is within the bound, else float16, else float32, and counts the bytes', () => {
    const errors = [
      { boundary: 1, floatBytes: 4000, error: { fp16: 1e-5, int8: 1e-3 } },
      { boundary: 2, floatBytes: 4000, error: { fp16: 1e-5, int8: 0.2 } },
      { boundary: 3, floatBytes: 4000, error: { fp16: 0.3, int8: 0.4 } },
    ]
    const m = compressBoundaries(model, errors, 0.01)
    expect(m.boundaryCodecs).toEqual([null, 'int8', 'fp16', null, null])
    // int8 a quarter, float16 half of the float32 bytes; non-float bytes (100 of 4100) unchanged
    expect(m.boundaryBytes).toEqual([100, 1000, 2000, 4100, 10])
    expect(compressBoundaries(model, errors, 0).boundaryCodecs).toEqual([null, null, null, null, null])
  })
})
