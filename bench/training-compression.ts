/**
 * Bench: does training keep its loss when activations (forward) and their gradients (backward)
 * cross the cuts compressed as the planner prices them (protocol/activation-codec.ts: float16, or
 * int8 with one scale per tensor)? Real onnxruntime training stages (model/grad.ts,
 * runtime/trainer.ts, the devices' Adam), chained in this process exactly as the devices chain
 * them, every tensor that crosses a cut going through compress -> restore as the wire does; the
 * same seeded micro-batches for float32 and each codec. Per model and codec: each step's mean
 * loss, the largest relative gap to float32's loss over the run, and the bytes per step that
 * cross the cuts (activations + gradients).
 *
 *   node bin/run-ts.mjs bench/training-compression.ts [steps] [models,comma,separated]
 */
import * as ort from 'onnxruntime-node'
import { onnx } from '../src/model/onnx.js'
import { loadModelBytes, profileModel } from '../src/model/load.js'
import { chooseCuts, planStages } from '../src/model/split.js'
import { buildTrainingStage } from '../src/model/grad.js'
import { DEFAULT_ADAM, StageTrainer } from '../src/runtime/trainer.js'
import { randomInputs } from '../src/model/inputs.js'
import { compress, restore, type ActivationCodec } from '../src/protocol/activation-codec.js'

export interface LossCurve {
  model: string
  stages: number
  codec: ActivationCodec | 'float32'
  losses: number[]
  /** Bytes per optimizer step that cross the cuts (activations forward + gradients back), as sent. */
  bytesPerStep: number
  /** Stage 0's parameter change over the run, flattened (its gradients all crossed a cut). */
  firstStageUpdate: Float32Array
}

/** A tensor as the receiver gets it when the sender compresses it with `codec` (float32 tensors only). */
function wire(t: ort.Tensor, codec: ActivationCodec | null): { t: ort.Tensor; bytes: number } {
  if (!codec || t.type !== 'float32') return { t, bytes: (t.data as { byteLength: number }).byteLength }
  const c = compress(t.data as Float32Array, codec)
  return { t: new ort.Tensor('float32', restore(c.dtype, c.data, c.scale), t.dims), bytes: c.data.byteLength }
}

/** One micro-batch forward through the chain, then backward; tensors crossing a cut go through `wire`. */
async function step(chain: StageTrainer[], reads: ReadonlyArray<readonly string[]>, feeds: Map<string, ort.Tensor>, codec: ActivationCodec | null, sent: { bytes: number }): Promise<number> {
  const values = new Map(feeds)
  const saved: Array<Map<string, ort.Tensor>> = []
  let loss = 0
  for (let k = 0; k < chain.length; k++) {
    const r = await chain[k]!.forward(values)
    for (const [name, v] of r.outputs) {
      // an output a later stage reads crosses a cut
      const read = reads.slice(k + 1).some((r) => r.includes(name))
      if (!read) continue
      const w = wire(v, codec)
      sent.bytes += w.bytes
      values.set(name, w.t)
    }
    saved.push(r.saved)
    loss += r.loss ?? 0
  }
  const grads = new Map<string, ort.Tensor>()
  for (let k = chain.length - 1; k >= 0; k--) {
    for (const [name, g] of await chain[k]!.backward(saved[k]!, grads)) {
      // the gradient of an input an earlier stage produced crosses the same cut back
      const produced = k > 0 && !feeds.has(name.slice(5))
      const w = produced ? wire(g, codec) : { t: g, bytes: 0 }
      sent.bytes += w.bytes
      grads.set(name, w.t)
    }
  }
  return loss
}

export async function lossCurves(model: string, stages: number, steps: number, M: number, batch: number, codecs: ReadonlyArray<ActivationCodec | null>): Promise<LossCurve[]> {
  const { bytes, source } = await loadModelBytes(model)
  const p = await profileModel(bytes, source, { batch })
  const { cuts } = chooseCuts(p.costs, p.cuts, stages)
  const plans = planStages(p.graph, cuts)
  const built = plans.map((plan) => buildTrainingStage(p.graph, p.shapes.values, plan))
  const out: LossCurve[] = []
  for (const codec of codecs) {
    const chain = await Promise.all(built.map((t) => StageTrainer.create(onnx.ModelProto.encode(t.forward).finish(), onnx.ModelProto.encode(t.backward).finish(), t.params, { intraOpNumThreads: 1, interOpNumThreads: 1 }, DEFAULT_ADAM)))
    const sent = { bytes: 0 }
    const losses: number[] = []
    const first = chain[0]!
    const before = first.paramNames.map((n) => Float32Array.from(first.param(n)))
    for (let s = 0; s < steps; s++) {
      let loss = 0
      for (let i = 0; i < M; i++) {
        const { feeds } = randomInputs(p.graph.inputs, { batch }, 1000 + s * M + i)
        loss += await step(chain, plans.map((x) => x.inputs), new Map(Object.entries(feeds)), codec, sent)
      }
      for (const t of chain) t.apply(M)
      losses.push(loss / M)
    }
    const update = Float32Array.from(first.paramNames.flatMap((n, i) => Array.from(first.param(n), (v, j) => v - before[i]![j]!)))
    for (const t of chain) await t.release()
    out.push({ model, stages: plans.length, codec: codec ?? 'float32', losses, bytesPerStep: sent.bytes / steps, firstStageUpdate: update })
  }
  return out
}

/** ||update - float32's update|| / ||float32's update|| of stage 0's parameters (L2). */
export function updateRelError(c: LossCurve, ref: LossCurve): number {
  let d = 0
  let n = 0
  ref.firstStageUpdate.forEach((r, i) => {
    d += (c.firstStageUpdate[i]! - r) ** 2
    n += r * r
  })
  return Math.sqrt(d / n)
}

/** Largest |loss - float32's| / float32's over the steps. */
export function maxRelGap(c: LossCurve, ref: LossCurve): number {
  return Math.max(...c.losses.map((l, i) => Math.abs(l - ref.losses[i]!) / Math.abs(ref.losses[i]!)))
}

async function main(): Promise<void> {
  const steps = Number(process.argv[3] ?? 30)
  const models = (process.argv[4] ?? 'mlp,bert-tiny').split(',')
  const { execSync } = await import('node:child_process')
  const commit = execSync('git rev-parse --short HEAD').toString().trim()
  const load = (await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  console.log(`training-compression: ${new Date().toISOString()} commit ${commit} load ${load}; steps ${steps}, M 4, Adam lr ${DEFAULT_ADAM.lr} (the devices' default)`)
  for (const model of models) {
    const curves = await lossCurves(model, 2, steps, 4, model === 'mlp' ? 8 : 1, [null, 'fp16', 'int8'])
    const ref = curves[0]!
    for (const c of curves) {
      const drop = ref.losses[0]! - ref.losses[ref.losses.length - 1]!
      const endGap = c.losses[c.losses.length - 1]! - ref.losses[ref.losses.length - 1]!
      console.log(`${model} ${c.stages} stages ${c.codec}: bytes/step ${(c.bytesPerStep / 1e3).toFixed(1)} KB; max rel loss gap ${maxRelGap(c, ref).toExponential(2)}; end gap / float32 drop ${(endGap / drop).toExponential(2)}; stage-0 update rel. error ${updateRelError(c, ref).toExponential(2)}`)
      console.log(`  losses ${c.losses.map((l) => l.toPrecision(6)).join(' ')}`)
    }
  }
  console.log(`load after ${(await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)
}

if (process.argv[2]?.endsWith('training-compression.ts')) await main()
