/**
 * What compressing the activations at a cut costs in accuracy, measured: the model is split at
 * the cut, the first part runs once on seeded inputs, and the second part runs on the exact
 * activations and on each codec's round trip of them (src/protocol/activation-codec.ts). The
 * error of a codec at a cut is the relative L2 distance of the model's outputs from the exact
 * ones, sqrt(sum (y - y0)^2) / sqrt(sum y0^2) over every float output. Integer tensors crossing
 * a cut travel as they are.
 */
import * as ort from 'onnxruntime-node'
import { onnx } from './onnx.js'
import { planStages, buildStageModel } from './split.js'
import { randomInputs } from './inputs.js'
import type { Profile } from './load.js'
import { ACTIVATION_CODECS, compress, restore, type ActivationCodec } from '../protocol/activation-codec.js'

export interface CutError {
  /** Node index of the cut (the second part starts there). */
  readonly node: number
  /** Float32 bytes crossing the cut per sample, and the output error of each codec there. */
  readonly floatBytes: number
  readonly error: Readonly<Record<ActivationCodec, number>>
}

const OPTS = { intraOpNumThreads: 1, interOpNumThreads: 1 } as const

/** The output error of each codec at each of `cutNodes` (node indices strictly inside the model). */
export async function compressionErrors(p: Profile, cutNodes: readonly number[], seed = 1): Promise<CutError[]> {
  const { feeds } = randomInputs(p.graph.inputs, { batch: 1 }, seed)
  const out: CutError[] = []
  for (const node of cutNodes) {
    const [first, second] = planStages(p.graph, [node])
    const sessions = await Promise.all([first!, second!].map((s) => ort.InferenceSession.create(onnx.ModelProto.encode(buildStageModel(p.graph, p.shapes.values, s)).finish(), OPTS)))
    try {
      const values: Record<string, ort.Tensor> = { ...feeds, ...(await sessions[0]!.run(pick(feeds, first!.inputs))) }
      const exact = await sessions[1]!.run(pick(values, second!.inputs))
      const reference = { ...pickOutputs(values, p), ...exact }
      const crossing = second!.inputs.filter((n) => values[n]?.type === 'float32' && !(n in feeds))
      const error = {} as Record<ActivationCodec, number>
      for (const codec of ACTIVATION_CODECS) {
        const varied = { ...values }
        for (const n of crossing) {
          const t = values[n]!
          const c = compress(t.data as Float32Array, codec)
          varied[n] = new ort.Tensor('float32', restore(c.dtype, c.data, c.scale), t.dims)
        }
        const got = { ...pickOutputs(values, p), ...(await sessions[1]!.run(pick(varied, second!.inputs))) }
        error[codec] = relativeL2(reference, got)
      }
      out.push({ node, floatBytes: crossing.reduce((a, n) => a + (values[n]!.data as Float32Array).byteLength, 0), error })
    } finally {
      await Promise.all(sessions.map((s) => s.release()))
    }
  }
  return out
}

/**
 * The output error of a whole path: the model split at every one of `cutNodes` (ascending), the
 * float32 tensors entering the part after cut k crossing as `codecs[k]` (null: float32), all at
 * once. The planner bounds the sum of the single-cut errors (planner/compression.ts); this is
 * what a request really gets, to check the sum against.
 */
export async function pathCompressionError(p: Profile, cutNodes: readonly number[], codecs: ReadonlyArray<ActivationCodec | null>, seed = 1): Promise<number> {
  const { feeds } = randomInputs(p.graph.inputs, { batch: 1 }, seed)
  const parts = planStages(p.graph, cutNodes)
  const sessions = await Promise.all(parts.map((s) => ort.InferenceSession.create(onnx.ModelProto.encode(buildStageModel(p.graph, p.shapes.values, s)).finish(), OPTS)))
  try {
    const exact: Record<string, ort.Tensor> = { ...feeds }
    const varied: Record<string, ort.Tensor> = { ...feeds }
    for (const [k, part] of parts.entries()) {
      Object.assign(exact, await sessions[k]!.run(pick(exact, part.inputs)))
      const codec = k > 0 ? codecs[k - 1] ?? null : null
      const inputs = pick(varied, part.inputs)
      for (const n of part.inputs) {
        const t = varied[n]!
        if (codec === null || n in feeds || t.type !== 'float32') continue
        const c = compress(t.data as Float32Array, codec)
        inputs[n] = new ort.Tensor('float32', restore(c.dtype, c.data, c.scale), t.dims)
      }
      Object.assign(varied, await sessions[k]!.run(inputs))
    }
    return relativeL2(pickOutputs(exact, p), pickOutputs(varied, p))
  } finally {
    await Promise.all(sessions.map((s) => s.release()))
  }
}

function pick(values: Readonly<Record<string, ort.Tensor>>, names: readonly string[]): Record<string, ort.Tensor> {
  return Object.fromEntries(names.map((n) => [n, values[n]!]))
}

/** Model outputs the first part already produced (they do not change with the codec). */
function pickOutputs(values: Readonly<Record<string, ort.Tensor>>, p: Profile): Record<string, ort.Tensor> {
  return Object.fromEntries(p.graph.outputs.map((o) => o.name ?? '').filter((n) => n in values).map((n) => [n, values[n]!]))
}

function relativeL2(ref: Readonly<Record<string, ort.Tensor>>, got: Readonly<Record<string, ort.Tensor>>): number {
  let diff = 0
  let norm = 0
  for (const [name, r] of Object.entries(ref)) {
    if (r.type !== 'float32') continue
    const a = r.data as Float32Array
    const b = got[name]!.data as Float32Array
    for (let i = 0; i < a.length; i++) {
      diff += (a[i]! - b[i]!) ** 2
      norm += a[i]! ** 2
    }
  }
  return norm > 0 ? Math.sqrt(diff / norm) : Math.sqrt(diff)
}
