/** Split chains against the whole model, on real onnxruntime sessions (issue 3 § Tests). */
import { describe, expect, it } from 'vitest'
import * as ort from 'onnxruntime-node'
import { ZOO } from '../../src/model/zoo/index.js'
import { onnx } from '../../src/model/onnx.js'
import { profileModel } from '../../src/model/load.js'
import { buildStageModel, chooseCuts, planStages } from '../../src/model/split.js'
import { createStageSessions, releaseAll, runChain } from '../../src/model/chain.js'
import { randomInputs } from '../../src/model/inputs.js'
import { GraphBuilder } from '../../src/model/zoo/builder.js'
import { maxRelativeError } from '../helpers/compare.js'
import { DoraError, ErrorCodes } from '../../src/errors.js'

/** Largest |a - b| over the largest |a|: relative to the tensor's scale, so near-zero elements do not inflate it. */
function relativeError(a: ort.Tensor, b: ort.Tensor): number {
  expect(b.dims).toEqual(a.dims)
  return maxRelativeError(a.data as Float32Array, b.data as Float32Array)
}

describe.each(ZOO.map((z) => [z.name, z] as const))('split chain of %s equals the whole model', (_name, entry) => {
  const bytes = onnx.ModelProto.encode(entry.build()).finish()

  it.each([2, 3, 5])('%i stages, both unoptimised: bit-identical outputs', async (k) => {
    const p = await profileModel(bytes, entry.name, { batch: 1 })
    const { cuts } = chooseCuts(p.costs, p.cuts, k)
    expect(cuts).toHaveLength(Math.min(k, p.graph.nodes.length) - 1)
    const plans = planStages(p.graph, cuts)
    const opts = { graphOptimizationLevel: 'disabled' } as const
    const stages = await createStageSessions(plans.map((plan) => ({ plan, bytes: onnx.ModelProto.encode(buildStageModel(p.graph, p.shapes.values, plan)).finish() })), opts)
    const whole = await ort.InferenceSession.create(bytes, opts)
    for (const seed of [1, 2]) {
      const { feeds } = randomInputs(p.graph.inputs, { batch: 1 }, seed)
      const expected = await whole.run(feeds)
      const got = await runChain(stages, feeds)
      for (const name of whole.outputNames) expect(relativeError(expected[name]!, got[name]!)).toBe(0)
    }
    await releaseAll(stages)
    await whole.release()
  })

  it('4 stages, both optimised as devices run them: within 1e-5 relative, batch 2', async () => {
    const p = await profileModel(bytes, entry.name, { batch: 2 })
    const plans = planStages(p.graph, chooseCuts(p.costs, p.cuts, 4).cuts)
    const stages = await createStageSessions(plans.map((plan) => ({ plan, bytes: onnx.ModelProto.encode(buildStageModel(p.graph, p.shapes.values, plan)).finish() })))
    const whole = await ort.InferenceSession.create(bytes)
    const { feeds } = randomInputs(p.graph.inputs, { batch: 2 }, 3)
    const expected = await whole.run(feeds)
    const got = await runChain(stages, feeds)
    for (const name of whole.outputNames) expect(relativeError(expected[name]!, got[name]!)).toBeLessThan(1e-5)
    // a chain fed without an input the first stage reads: a typed error, not a bare one
    const missing = await runChain(stages, {}).catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(DoraError)
    expect(missing).toMatchObject({ code: ErrorCodes.STAGE_INPUT_MISSING, detail: { stage: 0 } })
    await releaseAll(stages)
    await whole.release()
  })
})

describe('stage models', () => {
  it('hold exactly the initializers their nodes read', async () => {
    const bytes = onnx.ModelProto.encode(ZOO.find((z) => z.name === 'bert-tiny')!.build()).finish()
    const p = await profileModel(bytes, 'bert-tiny', { batch: 1 })
    const plans = planStages(p.graph, [1, 30])
    for (const plan of plans) {
      const model = buildStageModel(p.graph, p.shapes.values, plan)
      const read = new Set(p.graph.nodes.slice(plan.nodes[0], plan.nodes[1]).flatMap((n) => n.inputs).filter((n) => p.graph.initializers.has(n)))
      expect(new Set(model.graph!.initializer!.map((t) => t.name))).toEqual(read)
      for (const name of plan.inputs) expect(p.graph.initializers.has(name)).toBe(false)
    }
    expect(plans[0]!.inputs).toEqual(['input_ids'])
  })

  it('passes a model input straight to a later stage that reads it', async () => {
    const b = new GraphBuilder('skip', 1)
    const x = b.input('x', ['batch', 4])
    const y = b.op1('Relu', [x])
    const z = b.op1('Neg', [y])
    const out = b.op1('Add', [z, x])
    b.output(out)
    const bytes = onnx.ModelProto.encode(b.build()).finish()
    const p = await profileModel(bytes, 'skip', { batch: 3 })
    const plans = planStages(p.graph, [1, 2])
    expect(plans.map((s) => s.inputs)).toEqual([['x'], [y], [z, 'x']])
    expect(plans.map((s) => s.outputs)).toEqual([[y], [z], [out]])
    const stages = await createStageSessions(plans.map((plan) => ({ plan, bytes: onnx.ModelProto.encode(buildStageModel(p.graph, p.shapes.values, plan)).finish() })))
    const feeds = { x: new ort.Tensor('float32', Float32Array.from([-1, 2, -3, 4, 0, 1, 2, -2, 5, 5, -5, 0]), [3, 4]) }
    const got = await runChain(stages, feeds)
    expect(Array.from(got[out]!.data as Float32Array)).toEqual([-1, 0, -3, 0, 0, 0, 0, -2, 0, 0, -5, 0])
    await releaseAll(stages)
  })

  it('refuses cut points that are not increasing or out of range', async () => {
    const bytes = onnx.ModelProto.encode(ZOO.find((z) => z.name === 'mlp')!.build()).finish()
    const p = await profileModel(bytes, 'mlp', { batch: 1 })
    expect(() => planStages(p.graph, [3, 2])).toThrow(/increasing/)
    expect(() => planStages(p.graph, [0])).toThrow(/increasing/)
    expect(() => planStages(p.graph, [p.graph.nodes.length])).toThrow(/increasing/)
  })

  it('splits as far as it can when asked for more stages than nodes, and says so', async () => {
    const bytes = onnx.ModelProto.encode(ZOO.find((z) => z.name === 'mlp')!.build()).finish()
    const p = await profileModel(bytes, 'mlp', { batch: 1 })
    const choice = chooseCuts(p.costs, p.cuts, 50)
    expect(choice.cuts).toEqual([1, 2, 3, 4])
    expect(choice.note).toMatch(/asked for 50 stages.*made 5/)
  })
})
