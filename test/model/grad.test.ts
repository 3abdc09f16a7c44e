/**
 * Training stage models (model/grad.ts) on real onnxruntime sessions: gradients against finite
 * differences of the loss, split stages against the whole model, and Adam lowering the loss.
 */
import { describe, expect, it } from 'vitest'
import * as ort from 'onnxruntime-node'
import { onnx, type ModelProto } from '../../src/model/onnx.js'
import { profileModel, type Profile } from '../../src/model/load.js'
import { chooseCuts, planStages } from '../../src/model/split.js'
import { buildTrainingStage, gradName } from '../../src/model/grad.js'
import { DEFAULT_ADAM, StageTrainer, type AdamOptions } from '../../src/runtime/trainer.js'
import { randomInputs } from '../../src/model/inputs.js'
import { bertEncoder, BERT_TINY, mlp } from '../../src/model/zoo/transformer.js'
import { resnet18 } from '../../src/model/zoo/cnn.js'
import { seededRandom } from '../../src/shared/random.js'
import { chainStep } from '../helpers/training.js'
import { maxRelativeError } from '../helpers/compare.js'

const encode = (m: ModelProto) => onnx.ModelProto.encode(m).finish()
const BATCH = 2

async function trainers(p: Profile, stages: number, adam: AdamOptions = DEFAULT_ADAM): Promise<StageTrainer[]> {
  const { cuts } = chooseCuts(p.costs, p.cuts, stages)
  return Promise.all(planStages(p.graph, cuts).map((plan) => {
    const t = buildTrainingStage(p.graph, p.shapes.values, plan)
    return StageTrainer.create(encode(t.forward), encode(t.backward), t.params, {}, adam)
  }))
}

const step = (chain: StageTrainer[], feeds: Record<string, ort.Tensor>): Promise<number> => chainStep(chain, new Map(Object.entries(feeds)))

async function lossOnly(chain: StageTrainer[], feeds: Record<string, ort.Tensor>): Promise<number> {
  const values = new Map(Object.entries(feeds))
  let loss = 0
  for (const t of chain) {
    const r = await t.forward(values)
    for (const [k, v] of r.outputs) values.set(k, v)
    loss += r.loss ?? 0
  }
  return loss
}

describe.each([
  // the finite difference's step (small enough that ReLU kinks are rarely crossed), Adam's learning rate
  ['bert-tiny (seq 16)', () => bertEncoder(BERT_TINY, 7, 16), 1e-3, 1e-2],
  ['mlp', () => mlp(), 1e-4, 1e-3],
])('training stages of %s', (_name, build, eps, lr) => {
  it('parameter gradients match central finite differences of the loss', async () => {
    const p = await profileModel(encode(build()), 'm', { batch: BATCH })
    const [t] = await trainers(p, 1)
    const { feeds } = randomInputs(p.graph.inputs, { batch: BATCH }, 3)
    await step([t!], feeds)
    const grad = t!.flatGradients()
    const rand = seededRandom(11)
    // a random direction over every parameter: d loss = <grad, v> eps
    const names = t!.paramNames
    const base = names.map((n) => t!.param(n))
    const dir = base.map((b) => Float32Array.from(b, () => rand() * 2 - 1))
    let predicted = 0
    let at = 0
    for (const d of dir) {
      for (let i = 0; i < d.length; i++) predicted += grad[at + i]! * d[i]!
      at += d.length
    }
    const shifted = async (sign: number) => {
      names.forEach((n, i) => t!.setParam(n, base[i]!.map((x, j) => x + sign * eps * dir[i]![j]!)))
      return lossOnly([t!], feeds)
    }
    const measured = ((await shifted(1)) - (await shifted(-1))) / (2 * eps)
    expect(Math.abs(predicted)).toBeGreaterThan(1e-3)
    expect(Math.abs(measured - predicted) / Math.abs(predicted)).toBeLessThan(0.03)
  })

  it('split into stages, the gradients equal the whole model\'s', async () => {
    const p = await profileModel(encode(build()), 'm', { batch: BATCH })
    const whole = await trainers(p, 1)
    const split = await trainers(p, 3)
    expect(split).toHaveLength(3)
    const { feeds } = randomInputs(p.graph.inputs, { batch: BATCH }, 5)
    const l1 = await step(whole, feeds)
    const l3 = await step(split, feeds)
    expect(Math.abs(l1 - l3)).toBeLessThan(1e-5 * Math.abs(l1))
    const a = whole[0]!.flatGradients()
    const b = Float32Array.from(split.flatMap((t) => [...t.flatGradients()]))
    expect(b.length).toBe(a.length)
    expect(a.some((x) => x !== 0)).toBe(true)
    expect(maxRelativeError(a, b)).toBeLessThan(1e-4)
  })

  it('Adam steps lower the loss on a fixed batch', async () => {
    const p = await profileModel(encode(build()), 'm', { batch: BATCH })
    const chain = await trainers(p, 2, { ...DEFAULT_ADAM, lr })
    const { feeds } = randomInputs(p.graph.inputs, { batch: BATCH }, 9)
    const first = await step(chain, feeds)
    for (const t of chain) t.apply(1)
    let last = first
    for (let i = 0; i < 5; i++) {
      last = await step(chain, feeds)
      for (const t of chain) t.apply(1)
    }
    expect(last).toBeLessThan(first * 0.99)
  })
})

describe('training stage errors', () => {
  it('names the node and op it cannot differentiate', async () => {
    const p = await profileModel(encode(resnet18()), 'resnet18', { batch: 1 })
    const [plan] = planStages(p.graph, [])
    expect(() => buildTrainingStage(p.graph, p.shapes.values, plan!)).toThrow(/cannot differentiate node \S+ \(Flatten\): op Flatten \(training differentiates/)
  })

  it('a middle stage takes its outputs\' gradients and gives its inputs\'', async () => {
    const p = await profileModel(encode(mlp()), 'mlp', { batch: 1 })
    const plans = planStages(p.graph, chooseCuts(p.costs, p.cuts, 3).cuts)
    const mid = buildTrainingStage(p.graph, p.shapes.values, plans[1]!)
    expect(mid.hasLoss).toBe(false)
    expect(mid.gradIn).toEqual(plans[1]!.outputs)
    expect(mid.gradOut).toEqual(plans[1]!.inputs)
    expect(mid.backward.graph!.output!.map((o) => o.name)).toEqual([...plans[1]!.inputs, ...mid.params].map(gradName))
  })
})
