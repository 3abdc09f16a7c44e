/**
 * Shapes, element types and sizes of every tensor of a model. From the model's own declared
 * value_info when it covers every value with static shapes; otherwise by running the model once
 * in onnxruntime with every intermediate value exposed as a graph output.
 */
import * as ort from 'onnxruntime-node'
import { onnx, toNumber, elementBytes, ortTypeToDataType, type ValueInfoProto } from './onnx.js'
import { ModelError, type ModelGraph } from './graph.js'
import { randomInputs, concreteShape, type DimBinding } from './inputs.js'

export interface TensorInfo {
  readonly name: string
  readonly dataType: number
  readonly shape: readonly number[]
  readonly bytes: number
}

export interface ShapeResult {
  readonly values: ReadonlyMap<string, TensorInfo>
  readonly source: 'declared' | 'onnxruntime'
  /** Wall time of the onnxruntime shape run, ms (null when declared shapes sufficed). */
  readonly ortMs: number | null
  /** Symbolic dimensions that had no binding and were set to 1. */
  readonly unboundDims: readonly string[]
}

const info = (name: string, dataType: number, shape: number[]): TensorInfo => ({
  name, dataType, shape, bytes: shape.reduce((a, b) => a * b, 1) * elementBytes(dataType),
})

export async function inferShapes(graph: ModelGraph, bind: DimBinding, now: () => number = performance.now.bind(performance)): Promise<ShapeResult> {
  const values = new Map<string, TensorInfo>()
  for (const init of graph.initializers.values()) values.set(init.name, { name: init.name, dataType: init.dataType, shape: init.dims, bytes: init.bytes })
  const unbound = new Set<string>()
  for (const v of graph.inputs) values.set(v.name ?? '', info(v.name ?? '', v.type?.tensorType?.elemType ?? 0, concreteShape(v, bind, unbound)))

  const declared = declaredShapes(graph, bind)
  if (declared) {
    for (const t of declared) values.set(t.name, t)
    return { values, source: 'declared', ortMs: null, unboundDims: [...unbound] }
  }

  const exposed = onnx.ModelProto.create({ ...graph.proto })
  const outputs = graph.nodes.flatMap((n) => n.outputs)
  const original = new Set((graph.outputs ?? []).map((o) => o.name))
  exposed.graph = onnx.GraphProto.create({
    ...graph.proto.graph,
    output: [...graph.outputs, ...outputs.filter((o) => !original.has(o)).map((name) => ({ name }))],
  })
  const bytes = onnx.ModelProto.encode(exposed).finish()
  const started = now()
  let session: ort.InferenceSession
  try {
    session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' })
  } catch (err) {
    throw new ModelError(`onnxruntime cannot load the model: ${firstLine(err)}`)
  }
  try {
    const { feeds } = randomInputs(graph.inputs, bind)
    const result = await session.run(feeds)
    for (const [name, t] of Object.entries(result)) values.set(name, info(name, ortTypeToDataType(t.type), t.dims.map(Number)))
  } catch (err) {
    throw new ModelError(`onnxruntime cannot run the model to find tensor shapes: ${firstLine(err)}`)
  } finally {
    await session.release()
  }
  return { values, source: 'onnxruntime', ortMs: now() - started, unboundDims: [...unbound] }
}

function declaredShapes(graph: ModelGraph, bind: DimBinding): TensorInfo[] | null {
  const out: TensorInfo[] = []
  for (const node of graph.nodes) {
    for (const name of node.outputs) {
      const v: ValueInfoProto | undefined = graph.declared.get(name)
      const dims = v?.type?.tensorType?.shape?.dim
      const elem = v?.type?.tensorType?.elemType
      if (!dims || !elem) return null
      const shape: number[] = []
      for (const d of dims) {
        if (d.dimValue !== undefined && d.dimValue !== null && toNumber(d.dimValue) > 0) shape.push(toNumber(d.dimValue))
        else if (d.dimParam && bind.dims?.[d.dimParam] !== undefined) shape.push(bind.dims[d.dimParam]!)
        else return null
      }
      out.push(info(name, elem, shape))
    }
  }
  return out
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!.slice(0, 500)
}
