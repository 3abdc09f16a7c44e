/**
 * Training stage models: reverse-mode differentiation of a stage's ONNX nodes into a second
 * ONNX graph, so that a device computes the backward pass in onnxruntime (onnxruntime-node has
 * no training API). Pure: protos in, protos out.
 *
 * For a stage (split.ts) it builds
 * - the forward model: the stage's nodes; inputs are the stage inputs and its trainable
 *   parameters (float initializers of more than one element, kept as initializers too, so the
 *   file carries their starting values and a feed overrides them); outputs are the stage outputs,
 *   the intermediate values the backward pass reads (the stash, kept on the device per
 *   micro-batch as 1F1B does) and, when the stage produces model outputs, `loss`;
 * - the backward model: inputs are the stash, the stage inputs and parameters it reads, and
 *   `grad:{o}` for every stage output a later stage reads; outputs are `grad:{x}` for every float
 *   stage input (sent back to the stage that produced it) and `grad:{p}` for every parameter.
 * The objective (the emulated data has no labels): the mean of the squares of every model
 * output, summed over outputs, each computed on the stage that produces it.
 *
 * Differentiated ops: Add, Sub, Mul, Div (by a value without gradient), MatMul, Gemm (transA 0),
 * Gather (axis 0, an embedding), Softmax (last axis), Erf, Relu, Reshape, Transpose, Identity,
 * LayerNormalization (last axis). Any other op on the gradient's path is a clear error.
 */
import { onnx, DataType, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './onnx.js'
import { ModelError, type GraphNode, type ModelGraph } from './graph.js'
import { BackwardBuilder, gradName, intAttr } from './grad-builder.js'
import { differentiateNode, TRAINABLE_OPS } from './grad-rules.js'
import type { TensorInfo } from './shapes.js'
import type { StagePlan } from './split.js'

export const LOSS = 'loss'
export { gradName, TRAINABLE_OPS }

export interface TrainingStage {
  readonly forward: ModelProto
  readonly backward: ModelProto
  /** Trainable parameters of the stage, in a fixed order (the flat gradient's layout). */
  readonly params: readonly string[]
  /** Intermediate values the forward run keeps for the backward run. */
  readonly stash: readonly string[]
  /** Stage inputs the backward run reads again (kept with the stash). */
  readonly keptInputs: readonly string[]
  /** Stage outputs whose gradient a later stage sends back (`grad:{o}` inputs). */
  readonly gradIn: readonly string[]
  /** Float stage inputs whose gradient goes back to an earlier stage (`grad:{x}` outputs). */
  readonly gradOut: readonly string[]
  /** True when the stage computes part of the objective (it produces a model output). */
  readonly hasLoss: boolean
}

/** Builds the forward and backward models of a stage for training. */
export function buildTrainingStage(graph: ModelGraph, values: ReadonlyMap<string, TensorInfo>, stage: StagePlan): TrainingStage {
  const fwdNodes = graph.nodes.slice(stage.nodes[0], stage.nodes[1])
  const { carries, params } = gradientCarriers(graph, values, stage, fwdNodes)
  const b = new BackwardBuilder(values, carries)
  const { gradIn, hasLoss } = seedGradients(b, graph, stage)
  for (let k = fwdNodes.length - 1; k >= 0; k--) {
    const n = fwdNodes[k]!
    const g = b.gradOf(n.outputs[0]!)
    if (!g || !n.inputs.some((i) => carries.has(i))) continue
    differentiateNode(b, n, g)
  }
  const gradOut = stage.inputs.filter((x) => carries.has(x))
  const outGrads: string[] = []
  for (const name of [...gradOut, ...params]) {
    const g = b.gradOf(name) ?? b.emit('ConstantOfShape', [b.emit('Shape', [name])])
    b.nodes.push({ name: b.fresh('out'), opType: 'Identity', input: [g], output: [gradName(name)] })
    outGrads.push(gradName(name))
  }
  const reads = backwardReads(b, graph, stage, fwdNodes, params, gradIn)
  const { forward, backward } = assembleModels(b, graph, values, stage, { fwdNodes, params, stash: reads.stash, hasLoss, outGrads, backwardInputs: reads.inputs, gradIn })
  return { forward, backward, params, stash: reads.stash, keptInputs: reads.keptInputs, gradIn, gradOut, hasLoss }
}

/** What carries a gradient (float stage inputs, trainable parameters, and what they feed) and the parameters in order. */
function gradientCarriers(graph: ModelGraph, values: ReadonlyMap<string, TensorInfo>, stage: StagePlan, fwdNodes: readonly GraphNode[]): { carries: Set<string>; params: string[] } {
  const isFloat = (name: string): boolean => (values.get(name)?.dataType ?? graph.initializers.get(name)?.dataType) === DataType.FLOAT
  const trainable = (name: string): boolean => {
    const i = graph.initializers.get(name)
    return !!i && i.dataType === DataType.FLOAT && i.dims.reduce((a, b) => a * b, 1) > 1
  }
  const carries = new Set<string>()
  for (const x of stage.inputs) if (isFloat(x)) carries.add(x)
  const params: string[] = []
  for (const n of fwdNodes) {
    for (const i of n.inputs) if (trainable(i) && !params.includes(i)) { params.push(i); carries.add(i) }
    if (n.inputs.some((i) => carries.has(i))) for (const o of n.outputs) if (isFloat(o)) carries.add(o)
  }
  return { carries, params }
}

/** Seeds: d(mean(y^2))/dy = 2y / size(y) for model outputs; grad:{o} from later stages. */
function seedGradients(b: BackwardBuilder, graph: ModelGraph, stage: StagePlan): { gradIn: string[]; hasLoss: boolean } {
  const modelOutputs = new Set(graph.outputs.map((o) => o.name ?? ''))
  const gradIn: string[] = []
  let hasLoss = false
  for (const o of stage.outputs) {
    if (!b.carries.has(o)) continue
    if (modelOutputs.has(o)) {
      hasLoss = true
      const size = b.emit('Cast', [b.emit('Size', [o])], [intAttr('to', DataType.FLOAT)])
      b.contribute(o, b.emit('Div', [b.emit('Mul', [o, b.scalar(2)]), size]))
    }
    if (isReadAfter(graph, o, stage.nodes[1])) {
      gradIn.push(o)
      b.contribute(o, gradName(o))
    }
  }
  return { gradIn, hasLoss }
}

/** Which forward values the backward nodes read (adding the initializers they read to its constants). */
function backwardReads(b: BackwardBuilder, graph: ModelGraph, stage: StagePlan, fwdNodes: readonly GraphNode[], params: readonly string[], gradIn: readonly string[]): { stash: string[]; keptInputs: string[]; inputs: string[] } {
  const produced = new Set(b.nodes.flatMap((x) => x.output ?? []))
  const constNames = new Set(b.consts.map((c) => c.name))
  const read = [...new Set(b.nodes.flatMap((x) => x.input ?? []))].filter((i) => i && !produced.has(i) && !constNames.has(i))
  const gradInputs = gradIn.map(gradName)
  const fwdProduced = new Set(fwdNodes.flatMap((x) => x.outputs))
  const stash = read.filter((i) => fwdProduced.has(i))
  const keptInputs = read.filter((i) => stage.inputs.includes(i))
  const readParams = read.filter((i) => params.includes(i))
  const readConsts = read.filter((i) => !fwdProduced.has(i) && !stage.inputs.includes(i) && !params.includes(i) && !gradInputs.includes(i))
  for (const c of readConsts) {
    const t = graph.proto.graph!.initializer!.find((x) => x.name === c)
    if (!t) throw new ModelError(`training: the backward pass reads ${c}, which is neither a stage value nor an initializer`)
    b.consts.push(t)
  }
  return { stash, keptInputs, inputs: [...new Set([...keptInputs, ...stash, ...readParams, ...gradInputs])] }
}

interface Parts {
  readonly fwdNodes: readonly GraphNode[]
  readonly params: readonly string[]
  readonly stash: readonly string[]
  readonly hasLoss: boolean
  readonly outGrads: readonly string[]
  readonly backwardInputs: readonly string[]
  /** Stage outputs whose gradient comes in (`grad:{o}` inputs, float). */
  readonly gradIn: readonly string[]
}

/** The forward model (stage nodes, parameters as inputs, stash and loss as outputs) and the backward model. */
function assembleModels(b: BackwardBuilder, graph: ModelGraph, values: ReadonlyMap<string, TensorInfo>, stage: StagePlan, p: Parts): { forward: ModelProto; backward: ModelProto } {
  const modelOutputs = new Set(graph.outputs.map((o) => o.name ?? ''))
  const typed = (name: string): ValueInfoProto => {
    const v = values.get(name)
    const elemType = v?.dataType ?? graph.initializers.get(name)?.dataType ?? DataType.FLOAT
    return { name, type: { tensorType: { elemType } } }
  }
  const fwdInit = (graph.proto.graph!.initializer ?? []).filter((t) => p.fwdNodes.some((n) => n.inputs.includes(t.name ?? '')))
  const fwdOutputs = [...new Set([...stage.outputs, ...p.stash])]
  const lossNodes: NodeProto[] = []
  if (p.hasLoss) {
    const terms = stage.outputs.filter((o) => modelOutputs.has(o) && b.carries.has(o)).map((o, i) => {
      const sq = `loss_sq_${i}`
      const m = `loss_term_${i}`
      lossNodes.push({ name: sq, opType: 'Mul', input: [o, o], output: [sq] })
      lossNodes.push({ name: m, opType: 'ReduceMean', input: [sq], output: [m], attribute: [intAttr('keepdims', 0)] })
      return m
    })
    lossNodes.push({ name: LOSS, opType: terms.length > 1 ? 'Sum' : 'Identity', input: terms, output: [LOSS] })
  }
  const model = (kind: string, node: NodeProto[], initializer: TensorProto[], input: ValueInfoProto[], output: ValueInfoProto[]): ModelProto => onnx.ModelProto.create({
    irVersion: graph.proto.irVersion,
    opsetImport: graph.proto.opsetImport,
    producerName: 'dora-train',
    graph: { name: `${graph.name}-train-${kind}-${stage.index}`, node, initializer, input, output },
  })
  const float = (name: string): ValueInfoProto => ({ name, type: { tensorType: { elemType: DataType.FLOAT } } })
  const gradInputs = new Set(p.gradIn.map(gradName))
  const forward = model('fwd', [...p.fwdNodes.map((n) => n.proto), ...lossNodes], fwdInit, [...stage.inputs, ...p.params].map(typed), [...fwdOutputs, ...(p.hasLoss ? [LOSS] : [])].map(typed))
  const backward = model('bwd', b.nodes, b.consts, p.backwardInputs.map((nm) => (gradInputs.has(nm) ? float(nm) : typed(nm))), p.outGrads.map(float))
  return { forward, backward }
}

function isReadAfter(graph: ModelGraph, name: string, end: number): boolean {
  return graph.nodes.some((n) => n.index >= end && n.inputs.includes(name))
}
