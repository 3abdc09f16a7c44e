/** Reading a model (a file or a zoo name) and profiling it: graph, shapes, costs, cut points. */
import { readModelFile, ModelFileError } from './model-file.js'
import { decodeModel, readGraph, ModelError, type ModelGraph } from './graph.js'
import { inferShapes, type ShapeResult } from './shapes.js'
import { modelCosts, type NodeCost } from './cost.js'
import { cutPoints, type CutPoint } from './cuts.js'
import { zooModel } from './zoo/index.js'
import { onnx } from './onnx.js'
import type { DimBinding } from './inputs.js'

/** Largest model file read whole (protobuf's own 2 GiB limit is above it). */
export const MAX_MODEL_BYTES = 1024 * 1024 * 1024

export async function loadModelBytes(pathOrZooName: string): Promise<{ bytes: Uint8Array; source: string }> {
  const zoo = zooModel(pathOrZooName)
  if (zoo) return { bytes: onnx.ModelProto.encode(zoo.build()).finish(), source: `zoo:${zoo.name}` }
  try {
    return { bytes: await readModelFile(pathOrZooName, MAX_MODEL_BYTES), source: pathOrZooName }
  } catch (err) {
    throw err instanceof ModelFileError ? new ModelError(err.message) : err
  }
}

export interface Profile {
  readonly graph: ModelGraph
  readonly shapes: ShapeResult
  readonly costs: readonly NodeCost[]
  readonly cuts: readonly CutPoint[]
  /** Planner-side time (graph, costs, cuts; the onnxruntime shape run excluded), ms. */
  readonly analysisMs: number
}

export async function profileModel(bytes: Uint8Array, source: string, bind: DimBinding): Promise<Profile> {
  const t0 = performance.now()
  const graph = readGraph(decodeModel(bytes, source), source)
  const t1 = performance.now()
  const shapes = await inferShapes(graph, bind)
  const t2 = performance.now()
  const costs = modelCosts(graph, shapes.values)
  const cuts = cutPoints(graph, shapes.values)
  const t3 = performance.now()
  return { graph, shapes, costs, cuts, analysisMs: t1 - t0 + (t3 - t2) }
}
