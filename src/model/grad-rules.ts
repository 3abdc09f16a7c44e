/**
 * The differentiation rules of grad.ts: for one forward node and the gradient `g` of its first
 * output, each rule adds its inputs' gradient contributions to the backward graph. Pure.
 */
import { DataType, AttributeType, toNumber, type AttributeProto } from './onnx.js'
import { ModelError, type GraphNode } from './graph.js'
import { BackwardBuilder, intAttr, intsAttr } from './grad-builder.js'

export const TRAINABLE_OPS = ['Add', 'Sub', 'Mul', 'Div', 'MatMul', 'Gemm', 'Gather', 'Softmax', 'Erf', 'Relu', 'Reshape', 'Transpose', 'Identity', 'LayerNormalization'] as const

/** One node to differentiate: its first inputs `x`, `w`, its output `y` and the gradient `g` of `y`. */
interface Site {
  readonly b: BackwardBuilder
  readonly n: GraphNode
  readonly g: string
  readonly x: string
  readonly w: string
  readonly y: string
  readonly attr: (name: string) => AttributeProto | undefined
}

type Rule = (s: Site) => void

const elementwise: Record<string, Rule> = {
  Identity: ({ b, x, g }) => b.contribute(x, g),
  Add: ({ b, x, w, y, g }) => {
    b.contribute(x, b.reduceTo(g, y, x))
    b.contribute(w, b.reduceTo(g, y, w))
  },
  Sub: ({ b, x, w, y, g }) => {
    b.contribute(x, b.reduceTo(g, y, x))
    if (b.carries.has(w)) b.contribute(w, b.reduceTo(b.emit('Neg', [g]), y, w))
  },
  Mul: ({ b, x, w, y, g }) => {
    if (b.carries.has(x)) b.contribute(x, b.reduceTo(b.emit('Mul', [g, w]), y, x))
    if (b.carries.has(w)) b.contribute(w, b.reduceTo(b.emit('Mul', [g, x]), y, w))
  },
  Div: ({ b, n, x, w, y, g }) => {
    if (b.carries.has(w)) throw unsupported(n, 'division by a value that carries a gradient')
    b.contribute(x, b.reduceTo(b.emit('Div', [g, w]), y, x))
  },
  Erf: ({ b, x, g }) => {
    const e = b.emit('Exp', [b.emit('Neg', [b.emit('Mul', [x, x])])])
    b.contribute(x, b.emit('Mul', [g, b.emit('Mul', [e, b.scalar(2 / Math.sqrt(Math.PI))])]))
  },
  Relu: ({ b, x, g }) => {
    const on = b.emit('Cast', [b.emit('Greater', [x, b.scalar(0)])], [intAttr('to', DataType.FLOAT)])
    b.contribute(x, b.emit('Mul', [g, on]))
  },
  Reshape: ({ b, x, g }) => b.contribute(x, b.emit('Reshape', [g, b.emit('Shape', [x])])),
  Transpose: ({ b, x, g, attr }) => {
    const perm = (attr('perm')?.ints ?? []).map(toNumber)
    const inv = perm.map((_, i) => perm.indexOf(i))
    b.contribute(x, b.emit('Transpose', [g], [intsAttr('perm', inv)]))
  },
}

const linear: Record<string, Rule> = {
  MatMul: ({ b, n, x, w, y, g }) => {
    const [ra, rb] = [b.rank(x), b.rank(w)]
    if (ra < 2 || rb < 2) throw unsupported(n, 'MatMul of a vector')
    if (b.carries.has(x)) b.contribute(x, b.emit('MatMul', [g, b.transposeLast(w, rb)]))
    if (!b.carries.has(w)) return
    if (rb === 2 && ra > 2) {
      const k2 = b.values.get(x)!.shape[ra - 1]!
      const n2 = b.values.get(y)!.shape[b.rank(y) - 1]!
      const a2 = b.emit('Reshape', [x, b.ints([-1, k2])])
      const g2 = b.emit('Reshape', [g, b.ints([-1, n2])])
      b.contribute(w, b.emit('MatMul', [b.transposeLast(a2, 2), g2]))
    } else if (ra === rb) {
      b.contribute(w, b.emit('MatMul', [b.transposeLast(x, ra), g]))
    } else throw unsupported(n, `MatMul of ranks ${ra} and ${rb}`)
  },
  Gemm: ({ b, n, x, w, y, g, attr }) => {
    const num = (name: string, d: number): number => (attr(name)?.f ?? attr(name)?.i ?? d) as number
    if (toNumber(attr('transA')?.i) !== 0 || num('alpha', 1) !== 1 || num('beta', 1) !== 1) throw unsupported(n, 'Gemm with transA, alpha or beta')
    const transB = toNumber(attr('transB')?.i) === 1
    // y = a b (+ c); with transB, y = a b^T
    if (b.carries.has(x)) b.contribute(x, b.emit('MatMul', [g, transB ? w : b.transposeLast(w, 2)]))
    if (b.carries.has(w)) b.contribute(w, transB ? b.emit('MatMul', [b.transposeLast(g, 2), x]) : b.emit('MatMul', [b.transposeLast(x, 2), g]))
    const c = n.inputs[2]
    if (c && b.carries.has(c)) b.contribute(c, b.reduceTo(g, y, c))
  },
  Gather: ({ b, n, x, w, g, attr }) => {
    if (toNumber(attr('axis')?.i) !== 0) throw unsupported(n, 'Gather on an axis other than 0')
    if (b.carries.has(w)) throw unsupported(n, 'float indices')
    const zeros = b.emit('ConstantOfShape', [b.emit('Shape', [x])], [{ name: 'value', type: AttributeType.TENSOR, t: { dims: [1], dataType: DataType.FLOAT, rawData: new Uint8Array(new Float32Array([0]).buffer) } }])
    const idx = b.emit('Unsqueeze', [w, b.ints([-1])])
    b.contribute(x, b.emit('ScatterND', [zeros, idx, g], [{ name: 'reduction', type: AttributeType.STRING, s: new TextEncoder().encode('add') }]))
  },
}

const normalising: Record<string, Rule> = {
  Softmax: ({ b, n, x, y, g, attr }) => {
    const axis = toNumber(attr('axis')?.i ?? -1)
    if (axis !== -1 && axis !== b.rank(y) - 1) throw unsupported(n, 'Softmax on an axis other than the last')
    const dot = b.emit('ReduceSum', [b.emit('Mul', [g, y]), b.ints([-1])], [intAttr('keepdims', 1)])
    b.contribute(x, b.emit('Mul', [y, b.emit('Sub', [g, dot])]))
  },
  LayerNormalization: ({ b, n, x, g, attr }) => {
    const r = b.rank(x)
    const axis = toNumber(attr('axis')?.i ?? -1)
    if (axis !== -1 && axis !== r - 1) throw unsupported(n, 'normalisation over more than the last axis')
    const eps = attr('epsilon')?.f ?? 1e-5
    const [scale, bias] = [n.inputs[1]!, n.inputs[2] ?? '']
    const mean = (t: string): string => b.emit('ReduceMean', [t], [intsAttr('axes', [-1]), intAttr('keepdims', 1)])
    const xc = b.emit('Sub', [x, mean(x)])
    const rstd = b.emit('Reciprocal', [b.emit('Sqrt', [b.emit('Add', [mean(b.emit('Mul', [xc, xc])), b.scalar(eps)])])])
    const xhat = b.emit('Mul', [xc, rstd])
    const lead = b.ints(Array.from({ length: r - 1 }, (_, i) => i))
    if (b.carries.has(scale)) b.contribute(scale, b.emit('ReduceSum', [b.emit('Mul', [g, xhat]), lead], [intAttr('keepdims', 0)]))
    if (bias && b.carries.has(bias)) b.contribute(bias, b.emit('ReduceSum', [g, lead], [intAttr('keepdims', 0)]))
    if (b.carries.has(x)) {
      const gh = b.emit('Mul', [g, scale])
      const inner = b.emit('Sub', [b.emit('Sub', [gh, mean(gh)]), b.emit('Mul', [xhat, mean(b.emit('Mul', [gh, xhat]))])])
      b.contribute(x, b.emit('Mul', [inner, rstd]))
    }
  },
}

const RULES: Readonly<Record<string, Rule>> = { ...elementwise, ...linear, ...normalising }

/** Adds the gradient contributions of node `n`'s inputs, given the gradient `g` of its output. */
export function differentiateNode(b: BackwardBuilder, n: GraphNode, g: string): void {
  const rule = Object.hasOwn(RULES, n.opType) ? RULES[n.opType] : undefined
  if (!rule) throw unsupported(n, `op ${n.opType} (training differentiates ${TRAINABLE_OPS.join(', ')})`)
  const attr = (name: string): AttributeProto | undefined => n.proto.attribute?.find((x) => x.name === name)
  rule({ b, n, g, x: n.inputs[0]!, w: n.inputs[1] ?? '', y: n.outputs[0]!, attr })
}

export function unsupported(n: { name: string; opType: string }, what: string): ModelError {
  return new ModelError(`training: cannot differentiate node ${n.name} (${n.opType}): ${what}`)
}
