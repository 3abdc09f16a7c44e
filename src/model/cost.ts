/**
 * Cost of each node: FLOPs, parameter bytes, output bytes, and the op class a device's measured
 * FLOP/s applies to. Pure.
 *
 * FLOPs count a multiply-add as 2 (so ResNet-18's 1.8 G multiply-adds are 3.6 GFLOPs):
 * - Conv: 2 x N x Cout x prod(out spatial) x (Cin / group) x prod(kernel), plus one per output for a bias.
 * - ConvTranspose: 2 x N x Cin x prod(in spatial) x (Cout / group) x prod(kernel).
 * - MatMul: 2 x prod(output) x K (K the shared dimension); Gemm: 2 x M x N x K, plus M x N for C.
 * - Elementwise and activations: one per output element; transcendental ones (Exp, Log, Erf,
 *   Tanh, Sigmoid, Softplus, Pow, Sqrt, Gelu) four; Softmax five per element.
 * - Pooling: one per output element per kernel tap; global pooling one per input element.
 * - BatchNormalization two, LayerNormalization / InstanceNormalization / GroupNormalization
 *   eight per element; reductions one per input element.
 * - Data movement (Reshape, Transpose, Concat, Slice, Gather, ...) costs no FLOPs (its bytes
 *   are counted as outputs). Resize one per output element.
 * Any other op is reported with `flops: null` (unknown cost) rather than failing the model.
 */
import { attrInt, attrInts } from './onnx.js'
import type { GraphNode, ModelGraph } from './graph.js'
import type { TensorInfo } from './shapes.js'

export type OpClass = 'conv' | 'matmul' | 'elementwise' | 'memory'

export interface NodeCost {
  readonly index: number
  readonly name: string
  readonly opType: string
  readonly opClass: OpClass
  /** null when Dora has no formula for the op. */
  readonly flops: number | null
  readonly paramBytes: number
  readonly outputBytes: number
}

const ELEMENTWISE_1 = new Set(['Add', 'Sub', 'Mul', 'Div', 'Relu', 'LeakyRelu', 'PRelu', 'Clip', 'Neg', 'Abs', 'Max', 'Min', 'Sum', 'Mean', 'Where', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Not', 'Xor', 'Cast', 'Floor', 'Ceil', 'Round', 'Sign', 'HardSigmoid', 'HardSwish', 'Relu6', 'Reciprocal', 'Mod', 'Dropout', 'ThresholdedRelu', 'Elu', 'Selu', 'Celu', 'Mish', 'BitShift', 'IsNaN', 'IsInf', 'Resize', 'Upsample', 'QuantizeLinear', 'DequantizeLinear'])
const ELEMENTWISE_4 = new Set(['Exp', 'Log', 'Erf', 'Tanh', 'Sigmoid', 'Softplus', 'Softsign', 'Pow', 'Sqrt', 'Gelu', 'Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh'])
const MEMORY = new Set(['Reshape', 'Transpose', 'Concat', 'Slice', 'Gather', 'GatherElements', 'GatherND', 'Flatten', 'Squeeze', 'Unsqueeze', 'Shape', 'Size', 'Constant', 'ConstantOfShape', 'Identity', 'Split', 'Pad', 'Expand', 'Tile', 'ScatterND', 'ScatterElements', 'Range', 'NonZero', 'DepthToSpace', 'SpaceToDepth', 'OneHot', 'TopK', 'ArgMax', 'ArgMin', 'EyeLike', 'Trilu', 'CumSum'])
const REDUCE = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceSumSquare', 'ReduceLogSumExp', 'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool'])

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1)

export function nodeCost(node: GraphNode, graph: ModelGraph, values: ReadonlyMap<string, TensorInfo>): NodeCost {
  const shapeOf = (name: string | undefined) => (name ? values.get(name)?.shape : undefined)
  const outElems = node.outputs.reduce((s, o) => s + prod(shapeOf(o) ?? [0]), 0)
  const paramBytes = node.inputs.reduce((s, i) => s + (graph.initializers.get(i)?.bytes ?? 0), 0)
  const outputBytes = node.outputs.reduce((s, o) => s + (values.get(o)?.bytes ?? 0), 0)
  const base = { index: node.index, name: node.name, opType: node.opType, paramBytes, outputBytes }
  const op = node.domain === '' || node.domain === 'ai.onnx' ? node.opType : `${node.domain}.${node.opType}`
  const x = shapeOf(node.inputs[0])
  const y = shapeOf(node.outputs[0])
  switch (op) {
    case 'Conv': {
      const w = shapeOf(node.inputs[1])
      if (!w || !y) return { ...base, opClass: 'conv', flops: null }
      const macs = y[0]! * y[1]! * prod(y.slice(2)) * w[1]! * prod(w.slice(2))
      return { ...base, opClass: 'conv', flops: 2 * macs + (node.inputs[2] ? prod(y) : 0) }
    }
    case 'ConvTranspose': {
      const w = shapeOf(node.inputs[1])
      if (!w || !x) return { ...base, opClass: 'conv', flops: null }
      // weight [Cin, Cout / group, k...]: every input element meets Cout/group x prod(k) weights
      return { ...base, opClass: 'conv', flops: 2 * x[0]! * x[1]! * prod(x.slice(2)) * w[1]! * prod(w.slice(2)) }
    }
    case 'MatMul':
    case 'MatMulInteger': {
      if (!x || !y) return { ...base, opClass: 'matmul', flops: null }
      const k = x[x.length - 1]!
      return { ...base, opClass: 'matmul', flops: 2 * prod(y) * k }
    }
    case 'Gemm': {
      if (!x || !y) return { ...base, opClass: 'matmul', flops: null }
      const k = attrInt(node.proto, 'transA', 0) ? x[0]! : x[x.length - 1]!
      return { ...base, opClass: 'matmul', flops: 2 * prod(y) * k + (node.inputs[2] ? prod(y) : 0) }
    }
    case 'MaxPool':
    case 'AveragePool':
    case 'LpPool': {
      const kernel = attrInts(node.proto, 'kernel_shape') ?? [1]
      return { ...base, opClass: 'elementwise', flops: prod(y ?? [0]) * prod(kernel) }
    }
    case 'BatchNormalization':
      return { ...base, opClass: 'elementwise', flops: 2 * outElems }
    case 'LayerNormalization':
    case 'InstanceNormalization':
    case 'GroupNormalization':
    case 'LpNormalization':
    case 'MeanVarianceNormalization':
      return { ...base, opClass: 'elementwise', flops: 8 * outElems }
    case 'Softmax':
    case 'LogSoftmax':
      return { ...base, opClass: 'elementwise', flops: 5 * outElems }
  }
  if (REDUCE.has(op)) return { ...base, opClass: 'elementwise', flops: prod(x ?? [0]) }
  if (ELEMENTWISE_1.has(op)) return { ...base, opClass: 'elementwise', flops: outElems }
  if (ELEMENTWISE_4.has(op)) return { ...base, opClass: 'elementwise', flops: 4 * outElems }
  if (MEMORY.has(op)) return { ...base, opClass: 'memory', flops: 0 }
  return { ...base, opClass: 'elementwise', flops: null }
}

export function modelCosts(graph: ModelGraph, values: ReadonlyMap<string, TensorInfo>): NodeCost[] {
  return graph.nodes.map((n) => nodeCost(n, graph, values))
}
