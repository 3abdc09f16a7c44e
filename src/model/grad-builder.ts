/**
 * The backward graph under construction (grad.ts): fresh node and constant names, small node
 * helpers, and each value's gradient contributions, summed when read. Pure: protos in, protos out.
 */
import { DataType, AttributeType, type NodeProto, type TensorProto } from './onnx.js'
import { ModelError } from './graph.js'
import type { TensorInfo } from './shapes.js'

export const gradName = (name: string): string => `grad:${name}`

export type Attr = { name: string; i?: number; ints?: number[]; f?: number; s?: Uint8Array; t?: TensorProto; type: number }

export const intsAttr = (name: string, v: number[]): Attr => ({ name, type: AttributeType.INTS, ints: v })
export const intAttr = (name: string, v: number): Attr => ({ name, type: AttributeType.INT, i: v })

export class BackwardBuilder {
  readonly nodes: NodeProto[] = []
  readonly consts: TensorProto[] = []
  private counter = 0
  private readonly contributions = new Map<string, string[]>()

  constructor(
    /** Shapes and types of the model's values. */
    readonly values: ReadonlyMap<string, TensorInfo>,
    /** What carries a gradient: float stage inputs, trainable parameters, and what they feed. */
    readonly carries: ReadonlySet<string>,
  ) {}

  fresh(p: string): string {
    return `bw_${p}_${this.counter++}`
  }

  emit(opType: string, inputs: string[], attrs: Attr[] = []): string {
    const out = this.fresh(opType.toLowerCase())
    this.nodes.push({ name: out, opType, input: inputs, output: [out], attribute: attrs })
    return out
  }

  constant(dims: number[], data: Float32Array | BigInt64Array, dataType: number): string {
    const name = this.fresh('const')
    this.consts.push({ name, dims, dataType, rawData: new Uint8Array(data.buffer.slice(0)) })
    return name
  }

  scalar(v: number): string {
    return this.constant([], new Float32Array([v]), DataType.FLOAT)
  }

  ints(v: number[]): string {
    return this.constant([v.length], new BigInt64Array(v.map(BigInt)), DataType.INT64)
  }

  rank(name: string): number {
    const v = this.values.get(name)
    if (!v) throw new ModelError(`training: no shape known for ${name}`)
    return v.shape.length
  }

  /** Swaps the last two axes of `t` (of rank `r`). */
  transposeLast(t: string, r: number): string {
    return this.emit('Transpose', [t], [intsAttr('perm', [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2])])
  }

  /** Sums `g` (shaped like `y`) down to the shape of `x` after broadcasting. */
  reduceTo(g: string, y: string, x: string): string {
    const ys = this.values.get(y)?.shape
    const xs = this.values.get(x)?.shape
    if (!ys || !xs) throw new ModelError(`training: no shape known for ${ys ? x : y}`)
    const lead = ys.length - xs.length
    const axes: number[] = []
    for (let i = 0; i < ys.length; i++) if (i < lead || (xs[i - lead] === 1 && ys[i] !== 1)) axes.push(i)
    if (!axes.length) return g
    const summed = this.emit('ReduceSum', [g, this.ints(axes)], [intAttr('keepdims', 1)])
    return this.emit('Reshape', [summed, this.emit('Shape', [x])])
  }

  /** Adds `g` to the gradient of `name` (when `name` carries one). */
  contribute(name: string, g: string): void {
    if (!this.carries.has(name)) return
    const list = this.contributions.get(name) ?? []
    list.push(g)
    this.contributions.set(name, list)
  }

  /** The gradient of `name` so far (a Sum node when several contributions), or null. */
  gradOf(name: string): string | null {
    const list = this.contributions.get(name)
    if (!list?.length) return null
    return list.length === 1 ? list[0]! : this.emit('Sum', list)
  }
}
