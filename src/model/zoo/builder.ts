/**
 * Builds ONNX graphs in code with deterministic weights (a seeded generator; nothing is
 * downloaded). Weights are scaled by 1/sqrt(fan-in) so activations stay finite through deep
 * stacks, which keeps split-versus-whole comparisons meaningful.
 */
import { onnx, DataType, AttributeType, type NodeProto, type TensorProto, type ModelProto, type ValueInfoProto, type AttributeProto } from '../onnx.js'
import { seededRandom } from '../../shared/random.js'

type AttrValue = number | number[] | string | { float: number } | { floats: number[] }

export class GraphBuilder {
  private readonly nodes: NodeProto[] = []
  private readonly initializers: TensorProto[] = []
  private readonly inputs: ValueInfoProto[] = []
  private readonly outputs: ValueInfoProto[] = []
  private readonly random: () => number
  private counter = 0

  constructor(
    private readonly name: string,
    seed: number,
  ) {
    this.random = seededRandom(seed)
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`
  }

  input(name: string, dims: Array<number | string>, dataType: number = DataType.FLOAT): string {
    this.inputs.push({
      name,
      type: { tensorType: { elemType: dataType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
    })
    return name
  }

  output(name: string, dataType: number = DataType.FLOAT): void {
    this.outputs.push({ name, type: { tensorType: { elemType: dataType } } })
  }

  /** A float weight of `dims`, uniform in +-sqrt(3 / fanIn) (unit variance for unit inputs). */
  weight(dims: number[], fanIn: number, prefix = 'w', scale = 1): string {
    const n = dims.reduce((a, b) => a * b, 1)
    const data = new Float32Array(n)
    const bound = scale * Math.sqrt(3 / Math.max(1, fanIn))
    for (let i = 0; i < n; i++) data[i] = (this.random() * 2 - 1) * bound
    return this.tensor(prefix, dims, DataType.FLOAT, new Uint8Array(data.buffer))
  }

  /** A float constant of `dims` filled with `value`. */
  filled(dims: number[], value: number, prefix = 'c'): string {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(value)
    return this.tensor(prefix, dims, DataType.FLOAT, new Uint8Array(data.buffer))
  }

  floats(values: number[], prefix = 'f'): string {
    return this.tensor(prefix, [values.length], DataType.FLOAT, new Uint8Array(new Float32Array(values).buffer))
  }

  ints(values: number[], prefix = 'shape'): string {
    const data = new BigInt64Array(values.map((v) => BigInt(v)))
    return this.tensor(prefix, [values.length], DataType.INT64, new Uint8Array(data.buffer))
  }

  scalar(value: number, prefix = 's'): string {
    return this.tensor(prefix, [], DataType.FLOAT, new Uint8Array(new Float32Array([value]).buffer))
  }

  private tensor(prefix: string, dims: number[], dataType: number, raw: Uint8Array): string {
    const name = this.fresh(prefix)
    this.initializers.push({ name, dims, dataType, rawData: raw })
    return name
  }

  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs = 1): string[] {
    const name = this.fresh(opType.toLowerCase())
    const outs = Array.from({ length: outputs }, (_, i) => (outputs === 1 ? `${name}_out` : `${name}_out${i}`))
    this.nodes.push({ name, opType, input: inputs, output: outs, attribute: Object.entries(attrs).map(([k, v]) => toAttr(k, v)) })
    return outs
  }

  /** One op whose output has a chosen name (a model output that consumers read by name). */
  named(out: string, opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    this.nodes.push({ name: this.fresh(opType.toLowerCase()), opType, input: inputs, output: [out], attribute: Object.entries(attrs).map(([k, v]) => toAttr(k, v)) })
    return out
  }

  op1(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.op(opType, inputs, attrs)[0]!
  }

  conv(x: string, cin: number, cout: number, k: number, o: { stride?: number; group?: number; bias?: boolean; pad?: number } = {}): string {
    const group = o.group ?? 1
    const w = this.weight([cout, cin / group, k, k], (cin / group) * k * k)
    const inputs = [x, w]
    if (o.bias ?? true) inputs.push(this.filled([cout], 0.01, 'b'))
    const pad = o.pad ?? Math.floor(k / 2)
    return this.op1('Conv', inputs, { kernel_shape: [k, k], strides: [o.stride ?? 1, o.stride ?? 1], pads: [pad, pad, pad, pad], group })
  }

  gemm(x: string, inF: number, outF: number): string {
    return this.op1('Gemm', [x, this.weight([outF, inF], inF), this.filled([outF], 0.01, 'b')], { transB: 1 })
  }

  build(opset = 17): ModelProto {
    return onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'dora-zoo',
      opsetImport: [{ domain: '', version: opset }],
      graph: { name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
    })
  }
}

function toAttr(name: string, v: AttrValue): AttributeProto {
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) }
  if (typeof v === 'number') return { name, type: AttributeType.INT, i: v }
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v }
  if ('float' in v) return { name, type: AttributeType.FLOAT, f: v.float }
  return { name, type: AttributeType.FLOATS, floats: v.floats }
}
