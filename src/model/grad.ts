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
import { onnx, DataType, AttributeType, toNumber, type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './onnx.js'
import { ModelError, type ModelGraph } from './graph.js'
import type { TensorInfo } from './shapes.js'
import type { StagePlan } from './split.js'

export const LOSS = 'loss'
export const gradName = (name: string): string => `grad:${name}`
export const TRAINABLE_OPS = ['Add', 'Sub', 'Mul', 'Div', 'MatMul', 'Gemm', 'Gather', 'Softmax', 'Erf', 'Relu', 'Reshape', 'Transpose', 'Identity', 'LayerNormalization'] as const

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

type Attr = { name: string; i?: number; ints?: number[]; f?: number; s?: Uint8Array; t?: TensorProto; type: number }

/** Builds the forward and backward models of a stage for training. */
export function buildTrainingStage(graph: ModelGraph, values: ReadonlyMap<string, TensorInfo>, stage: StagePlan): TrainingStage {
  const fwdNodes = graph.nodes.slice(stage.nodes[0], stage.nodes[1])
  const modelOutputs = new Set(graph.outputs.map((o) => o.name ?? ''))
  const init = (name: string): TensorProto | undefined => graph.proto.graph!.initializer!.find((t) => t.name === name)
  const isFloat = (name: string): boolean => (values.get(name)?.dataType ?? graph.initializers.get(name)?.dataType) === DataType.FLOAT
  const trainable = (name: string): boolean => {
    const i = graph.initializers.get(name)
    return !!i && i.dataType === DataType.FLOAT && i.dims.reduce((a, b) => a * b, 1) > 1
  }
  const rank = (name: string): number => {
    const v = values.get(name)
    if (!v) throw new ModelError(`training: no shape known for ${name}`)
    return v.shape.length
  }

  // What carries a gradient: float stage inputs, trainable parameters, and what they feed.
  const carries = new Set<string>()
  for (const x of stage.inputs) if (isFloat(x)) carries.add(x)
  const params: string[] = []
  for (const n of fwdNodes) {
    for (const i of n.inputs) if (trainable(i) && !params.includes(i)) { params.push(i); carries.add(i) }
    if (n.inputs.some((i) => carries.has(i))) for (const o of n.outputs) if (isFloat(o)) carries.add(o)
  }

  const nodes: NodeProto[] = []
  const consts: TensorProto[] = []
  let counter = 0
  const fresh = (p: string): string => `bw_${p}_${counter++}`
  const emit = (opType: string, inputs: string[], attrs: Attr[] = []): string => {
    const out = fresh(opType.toLowerCase())
    nodes.push({ name: out, opType, input: inputs, output: [out], attribute: attrs })
    return out
  }
  const constant = (dims: number[], data: Float32Array | BigInt64Array, dataType: number): string => {
    const name = fresh('const')
    consts.push({ name, dims, dataType, rawData: new Uint8Array(data.buffer.slice(0)) })
    return name
  }
  const scalar = (v: number): string => constant([], new Float32Array([v]), DataType.FLOAT)
  const ints = (v: number[]): string => constant([v.length], new BigInt64Array(v.map(BigInt)), DataType.INT64)
  const intsAttr = (name: string, v: number[]): Attr => ({ name, type: AttributeType.INTS, ints: v })
  const intAttr = (name: string, v: number): Attr => ({ name, type: AttributeType.INT, i: v })
  const swapLast = (r: number): number[] => [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2]
  const transposeLast = (t: string, r: number): string => emit('Transpose', [t], [intsAttr('perm', swapLast(r))])
  /** Sums `g` (shaped like `y`) down to the shape of `x` after broadcasting. */
  const reduceTo = (g: string, y: string, x: string): string => {
    const ys = values.get(y)?.shape
    const xs = values.get(x)?.shape
    if (!ys || !xs) throw new ModelError(`training: no shape known for ${ys ? x : y}`)
    const lead = ys.length - xs.length
    const axes: number[] = []
    for (let i = 0; i < ys.length; i++) if (i < lead || (xs[i - lead] === 1 && ys[i] !== 1)) axes.push(i)
    if (!axes.length) return g
    const summed = emit('ReduceSum', [g, ints(axes)], [intAttr('keepdims', 1)])
    return emit('Reshape', [summed, emit('Shape', [x])])
  }

  const contributions = new Map<string, string[]>()
  const contribute = (name: string, g: string): void => {
    if (!carries.has(name)) return
    const list = contributions.get(name) ?? []
    list.push(g)
    contributions.set(name, list)
  }
  const gradOf = (name: string): string | null => {
    const list = contributions.get(name)
    if (!list?.length) return null
    return list.length === 1 ? list[0]! : emit('Sum', list)
  }

  // Seeds: d(mean(y^2))/dy = 2y / size(y) for model outputs; grad:{o} from later stages.
  const gradIn: string[] = []
  let hasLoss = false
  for (const o of stage.outputs) {
    if (!carries.has(o)) continue
    if (modelOutputs.has(o)) {
      hasLoss = true
      const size = emit('Cast', [emit('Size', [o])], [intAttr('to', DataType.FLOAT)])
      contribute(o, emit('Div', [emit('Mul', [o, scalar(2)]), size]))
    }
    if (isReadAfter(graph, o, stage.nodes[1])) {
      gradIn.push(o)
      contribute(o, gradName(o))
    }
  }

  for (let k = fwdNodes.length - 1; k >= 0; k--) {
    const n = fwdNodes[k]!
    const y = n.outputs[0]!
    const g = gradOf(y)
    if (!g || !n.inputs.some((i) => carries.has(i))) continue
    const [a, b] = [n.inputs[0]!, n.inputs[1] ?? '']
    const attr = (name: string): AttributeProto | undefined => n.proto.attribute?.find((x) => x.name === name)
    switch (n.opType) {
      case 'Identity':
        contribute(a, g)
        break
      case 'Add':
        contribute(a, reduceTo(g, y, a))
        contribute(b, reduceTo(g, y, b))
        break
      case 'Sub':
        contribute(a, reduceTo(g, y, a))
        if (carries.has(b)) contribute(b, reduceTo(emit('Neg', [g]), y, b))
        break
      case 'Mul':
        if (carries.has(a)) contribute(a, reduceTo(emit('Mul', [g, b]), y, a))
        if (carries.has(b)) contribute(b, reduceTo(emit('Mul', [g, a]), y, b))
        break
      case 'Div':
        if (carries.has(b)) throw unsupported(n, 'division by a value that carries a gradient')
        contribute(a, reduceTo(emit('Div', [g, b]), y, a))
        break
      case 'MatMul': {
        const [ra, rb] = [rank(a), rank(b)]
        if (ra < 2 || rb < 2) throw unsupported(n, 'MatMul of a vector')
        if (carries.has(a)) contribute(a, emit('MatMul', [g, transposeLast(b, rb)]))
        if (carries.has(b)) {
          if (rb === 2 && ra > 2) {
            const k2 = values.get(a)!.shape[ra - 1]!
            const n2 = values.get(y)!.shape[rank(y) - 1]!
            const a2 = emit('Reshape', [a, ints([-1, k2])])
            const g2 = emit('Reshape', [g, ints([-1, n2])])
            contribute(b, emit('MatMul', [transposeLast(a2, 2), g2]))
          } else if (ra === rb) {
            contribute(b, emit('MatMul', [transposeLast(a, ra), g]))
          } else throw unsupported(n, `MatMul of ranks ${ra} and ${rb}`)
        }
        break
      }
      case 'Gemm': {
        const num = (name: string, d: number): number => (attr(name)?.f ?? attr(name)?.i ?? d) as number
        if (toNumber(attr('transA')?.i) !== 0 || num('alpha', 1) !== 1 || num('beta', 1) !== 1) throw unsupported(n, 'Gemm with transA, alpha or beta')
        const transB = toNumber(attr('transB')?.i) === 1
        // y = a b (+ c); with transB, y = a b^T
        if (carries.has(a)) contribute(a, emit('MatMul', [g, transB ? b : transposeLast(b, 2)]))
        if (carries.has(b)) contribute(b, transB ? emit('MatMul', [transposeLast(g, 2), a]) : emit('MatMul', [transposeLast(a, 2), g]))
        const c = n.inputs[2]
        if (c && carries.has(c)) contribute(c, reduceTo(g, y, c))
        break
      }
      case 'Gather': {
        if (toNumber(attr('axis')?.i) !== 0) throw unsupported(n, 'Gather on an axis other than 0')
        if (carries.has(b)) throw unsupported(n, 'float indices')
        const zeros = emit('ConstantOfShape', [emit('Shape', [a])], [{ name: 'value', type: AttributeType.TENSOR, t: { dims: [1], dataType: DataType.FLOAT, rawData: new Uint8Array(new Float32Array([0]).buffer) } }])
        const idx = emit('Unsqueeze', [b, ints([-1])])
        contribute(a, emit('ScatterND', [zeros, idx, g], [{ name: 'reduction', type: AttributeType.STRING, s: new TextEncoder().encode('add') }]))
        break
      }
      case 'Softmax': {
        const axis = toNumber(attr('axis')?.i ?? -1)
        if (axis !== -1 && axis !== rank(y) - 1) throw unsupported(n, 'Softmax on an axis other than the last')
        const dot = emit('ReduceSum', [emit('Mul', [g, y]), ints([-1])], [intAttr('keepdims', 1)])
        contribute(a, emit('Mul', [y, emit('Sub', [g, dot])]))
        break
      }
      case 'Erf': {
        const e = emit('Exp', [emit('Neg', [emit('Mul', [a, a])])])
        contribute(a, emit('Mul', [g, emit('Mul', [e, scalar(2 / Math.sqrt(Math.PI))])]))
        break
      }
      case 'Relu': {
        const on = emit('Cast', [emit('Greater', [a, scalar(0)])], [intAttr('to', DataType.FLOAT)])
        contribute(a, emit('Mul', [g, on]))
        break
      }
      case 'Reshape':
        contribute(a, emit('Reshape', [g, emit('Shape', [a])]))
        break
      case 'Transpose': {
        const perm = (attr('perm')?.ints ?? []).map(toNumber)
        const inv = perm.map((_, i) => perm.indexOf(i))
        contribute(a, emit('Transpose', [g], [intsAttr('perm', inv)]))
        break
      }
      case 'LayerNormalization': {
        const r = rank(a)
        const axis = toNumber(attr('axis')?.i ?? -1)
        if (axis !== -1 && axis !== r - 1) throw unsupported(n, 'normalisation over more than the last axis')
        const eps = attr('epsilon')?.f ?? 1e-5
        const [scale, bias] = [n.inputs[1]!, n.inputs[2] ?? '']
        const mean = (t: string): string => emit('ReduceMean', [t], [intsAttr('axes', [-1]), intAttr('keepdims', 1)])
        const xc = emit('Sub', [a, mean(a)])
        const rstd = emit('Reciprocal', [emit('Sqrt', [emit('Add', [mean(emit('Mul', [xc, xc])), scalar(eps)])])])
        const xhat = emit('Mul', [xc, rstd])
        const lead = ints(Array.from({ length: r - 1 }, (_, i) => i))
        if (carries.has(scale)) contribute(scale, emit('ReduceSum', [emit('Mul', [g, xhat]), lead], [intAttr('keepdims', 0)]))
        if (bias && carries.has(bias)) contribute(bias, emit('ReduceSum', [g, lead], [intAttr('keepdims', 0)]))
        if (carries.has(a)) {
          const gh = emit('Mul', [g, scale])
          const inner = emit('Sub', [emit('Sub', [gh, mean(gh)]), emit('Mul', [xhat, mean(emit('Mul', [gh, xhat]))])])
          contribute(a, emit('Mul', [inner, rstd]))
        }
        break
      }
      default:
        throw unsupported(n, `op ${n.opType} (training differentiates ${TRAINABLE_OPS.join(', ')})`)
    }
  }

  const gradOut = stage.inputs.filter((x) => carries.has(x))
  const outGrads: string[] = []
  for (const name of [...gradOut, ...params]) {
    const g = gradOf(name) ?? emit('ConstantOfShape', [emit('Shape', [name])])
    nodes.push({ name: fresh('out'), opType: 'Identity', input: [g], output: [gradName(name)] })
    outGrads.push(gradName(name))
  }

  // Which forward values the backward nodes read.
  const produced = new Set(nodes.flatMap((x) => x.output ?? []))
  const constNames = new Set(consts.map((c) => c.name))
  const read = [...new Set(nodes.flatMap((x) => x.input ?? []))].filter((i) => i && !produced.has(i) && !constNames.has(i))
  const gradInputs = gradIn.map(gradName)
  const fwdProduced = new Set(fwdNodes.flatMap((x) => x.outputs))
  const stash = read.filter((i) => fwdProduced.has(i))
  const keptInputs = read.filter((i) => stage.inputs.includes(i))
  const readParams = read.filter((i) => params.includes(i))
  const readConsts = read.filter((i) => !fwdProduced.has(i) && !stage.inputs.includes(i) && !params.includes(i) && !gradInputs.includes(i))
  for (const c of readConsts) {
    const t = init(c)
    if (!t) throw new ModelError(`training: the backward pass reads ${c}, which is neither a stage value nor an initializer`)
    consts.push(t)
  }

  const typed = (name: string): ValueInfoProto => {
    const v = values.get(name)
    const elemType = v?.dataType ?? graph.initializers.get(name)?.dataType ?? DataType.FLOAT
    return { name, type: { tensorType: { elemType } } }
  }
  const fwdInit = (graph.proto.graph!.initializer ?? []).filter((t) => fwdNodes.some((n) => n.inputs.includes(t.name ?? '')))
  const fwdOutputs = [...new Set([...stage.outputs, ...stash])]
  const lossNodes: NodeProto[] = []
  if (hasLoss) {
    const terms = stage.outputs.filter((o) => modelOutputs.has(o) && carries.has(o)).map((o, i) => {
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
  const forward = model('fwd', [...fwdNodes.map((n) => n.proto), ...lossNodes], fwdInit, [...stage.inputs, ...params].map(typed), [...fwdOutputs, ...(hasLoss ? [LOSS] : [])].map(typed))
  const backward = model('bwd', nodes, consts,
    [...new Set([...keptInputs, ...stash, ...readParams, ...gradInputs])].map((nm) => (gradInputs.includes(nm) ? float(nm) : typed(nm))),
    outGrads.map(float))
  return { forward, backward, params, stash, keptInputs, gradIn, gradOut, hasLoss }
}

function isReadAfter(graph: ModelGraph, name: string, end: number): boolean {
  return graph.nodes.some((n) => n.index >= end && n.inputs.includes(name))
}

function unsupported(n: { name: string; opType: string }, what: string): ModelError {
  return new ModelError(`training: cannot differentiate node ${n.name} (${n.opType}): ${what}`)
}
