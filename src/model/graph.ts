/**
 * An ONNX model as Dora reads it: decoded, checked, nodes in a topological order, with each
 * node's explicit and implicit (subgraph) inputs. Errors name the file and the node at fault.
 */
import { DoraError, ErrorCodes } from '../errors.js'
import { onnx, toNumber, elementBytes, AttributeType, type ModelProto, type NodeProto, type GraphProto, type IGraphProto, type ValueInfoProto } from './onnx.js'

/** A model Dora cannot read or run; the message names the file and, where known, the node. */
export class ModelError extends DoraError {
  constructor(message: string) {
    super(ErrorCodes.MODEL_INVALID, message)
    this.name = 'ModelError'
  }
}

export interface GraphNode {
  /** Position in the topological order. */
  readonly index: number
  readonly name: string
  readonly opType: string
  readonly domain: string
  /** Explicit inputs ('' marks an omitted optional input), then names a subgraph reads from outside. */
  readonly inputs: readonly string[]
  readonly outputs: readonly string[]
  readonly proto: NodeProto
}

export interface Initializer {
  readonly name: string
  readonly dataType: number
  readonly dims: readonly number[]
  readonly bytes: number
}

export interface ModelGraph {
  readonly name: string
  readonly proto: ModelProto
  /** Inputs fed at run time (graph inputs that are not initializers). */
  readonly inputs: readonly ValueInfoProto[]
  readonly outputs: readonly ValueInfoProto[]
  readonly nodes: readonly GraphNode[]
  readonly initializers: ReadonlyMap<string, Initializer>
  /** Declared type information: value_info, inputs and outputs, by name. */
  readonly declared: ReadonlyMap<string, ValueInfoProto>
}

export function decodeModel(bytes: Uint8Array, source: string): ModelProto {
  if (bytes.byteLength === 0) throw new ModelError(`${source}: empty file, not an ONNX model`)
  let model: ModelProto
  try {
    model = onnx.ModelProto.decode(bytes)
  } catch (err) {
    throw new ModelError(`${source}: not an ONNX model or truncated (${(err as Error).message})`)
  }
  if (!model.graph || !model.graph.node || model.graph.node.length === 0) {
    throw new ModelError(`${source}: not an ONNX model (no graph with nodes)`)
  }
  return model
}

export function readGraph(model: ModelProto, source: string): ModelGraph {
  const g = model.graph as GraphProto
  const initializers = new Map<string, Initializer>()
  for (const t of g.initializer ?? []) {
    const name = t.name ?? ''
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
      throw new ModelError(`${source}: initializer ${name} keeps its data in an external file; save the model with all tensors inside (onnx.save(..., save_as_external_data=False))`)
    }
    const dims = (t.dims ?? []).map(toNumber)
    const count = dims.reduce((a, b) => a * b, 1)
    initializers.set(name, { name, dataType: t.dataType ?? 0, dims, bytes: count * elementBytes(t.dataType ?? 0) })
  }
  const declared = new Map<string, ValueInfoProto>()
  for (const v of [...(g.valueInfo ?? []), ...(g.input ?? []), ...(g.output ?? [])]) if (v.name) declared.set(v.name, v)
  const inputs = (g.input ?? []).filter((v) => !initializers.has(v.name ?? ''))
  const available = new Set<string>(['', ...initializers.keys(), ...inputs.map((v) => v.name ?? '')])

  const raw = g.node.map((n, i) => ({
    name: n.name || `${n.opType}_${i}`,
    opType: n.opType ?? '',
    domain: n.domain ?? '',
    inputs: [...(n.input ?? []), ...implicitInputs(n)],
    outputs: (n.output ?? []).filter((o) => o !== ''),
    proto: n,
  }))
  const produced = new Map<string, number>()
  raw.forEach((n, i) => n.outputs.forEach((o) => {
    if (produced.has(o) || available.has(o)) throw new ModelError(`${source}: value ${o} is produced twice (node ${n.name})`)
    produced.set(o, i)
  }))
  for (const n of raw) {
    for (const inp of n.inputs) {
      if (!available.has(inp) && !produced.has(inp)) {
        throw new ModelError(`${source}: node ${n.name} (${n.opType}) reads ${inp}, which no node, input or initializer provides`)
      }
    }
  }
  for (const o of g.output ?? []) {
    const name = o.name ?? ''
    if (!produced.has(name) && !available.has(name)) throw new ModelError(`${source}: graph output ${name} is never produced`)
  }
  const order = topologicalOrder(raw, produced, source)
  const nodes: GraphNode[] = order.map((i, index) => ({ ...raw[i]!, index }))
  return { name: g.name || 'model', proto: model, inputs, outputs: g.output ?? [], nodes, initializers, declared }
}

/** Keeps the file's order when it is already topological (exporters write sensible orders); else Kahn's algorithm, stable. */
function topologicalOrder(nodes: ReadonlyArray<{ inputs: string[]; name: string }>, produced: Map<string, number>, source: string): number[] {
  const ok = nodes.every((n, i) => n.inputs.every((inp) => (produced.get(inp) ?? -1) < i))
  if (ok) return nodes.map((_, i) => i)
  const indegree = nodes.map((n) => new Set(n.inputs.filter((x) => produced.has(x)).map((x) => produced.get(x)!)).size)
  const users = nodes.map(() => [] as number[])
  nodes.forEach((n, i) => new Set(n.inputs.filter((x) => produced.has(x)).map((x) => produced.get(x)!)).forEach((p) => users[p]!.push(i)))
  const ready = indegree.flatMap((d, i) => (d === 0 ? [i] : []))
  const order: number[] = []
  while (ready.length) {
    ready.sort((a, b) => a - b)
    const i = ready.shift()!
    order.push(i)
    for (const u of users[i]!) if (--indegree[u]! === 0) ready.push(u)
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.find((_, i) => !order.includes(i))
    throw new ModelError(`${source}: the graph has a cycle (through node ${stuck?.name})`)
  }
  return order
}

/** Names a node's subgraphs (If, Loop, Scan bodies) read from the enclosing graph. */
function implicitInputs(node: NodeProto): string[] {
  const out = new Set<string>()
  for (const a of node.attribute ?? []) {
    const graphs = a.type === AttributeType.GRAPH && a.g ? [a.g] : a.type === AttributeType.GRAPHS ? (a.graphs ?? []) : []
    for (const sub of graphs) for (const name of outerReferences(sub)) out.add(name)
  }
  return [...out]
}

function outerReferences(g: IGraphProto): Set<string> {
  const local = new Set<string>([...(g.input ?? []).map((v) => v.name ?? ''), ...(g.initializer ?? []).map((t) => t.name ?? ''), ''])
  const refs = new Set<string>()
  for (const n of g.node ?? []) {
    for (const i of [...(n.input ?? []), ...implicitInputs(n)]) if (!local.has(i)) refs.add(i)
    for (const o of n.output ?? []) local.add(o)
  }
  for (const o of g.output ?? []) if (!local.has(o.name ?? '')) refs.add(o.name ?? '')
  return refs
}
