/**
 * Splitting a model into stage models at cut points. Pure: returns ONNX protos and a manifest.
 * Stage k holds nodes [cuts[k-1], cuts[k]) of the topological order and only the initializers
 * they read. Its inputs are model inputs or outputs of earlier stages, by name (a model input a
 * later stage needs is passed straight to it); its outputs are what later stages read plus the
 * model outputs it produces. Running the stages in order, feeding each the named values, gives
 * the whole model's outputs.
 */
import { onnx, type ModelProto, type ValueInfoProto } from './onnx.js'
import type { ModelGraph } from './graph.js'
import type { TensorInfo } from './shapes.js'
import type { NodeCost } from './cost.js'
import type { CutPoint } from './cuts.js'

export interface StagePlan {
  readonly index: number
  /** Half-open range of node indices in the topological order: [start, end). */
  readonly nodes: readonly [number, number]
  readonly inputs: readonly string[]
  readonly outputs: readonly string[]
}

export interface Manifest {
  model: string
  inputs: string[]
  outputs: string[]
  stages: Array<{ file: string; inputs: string[]; outputs: string[]; nodes: [number, number]; flops: number; paramBytes: number }>
}

export function planStages(graph: ModelGraph, cuts: readonly number[]): StagePlan[] {
  const n = graph.nodes.length
  const bounds = [0, ...cuts, n]
  for (let i = 1; i < bounds.length; i++) {
    if (!Number.isInteger(bounds[i]) || bounds[i]! <= bounds[i - 1]!) {
      throw new RangeError(`cut points must be increasing integers between 1 and ${n - 1}, got [${cuts.join(', ')}]`)
    }
  }
  const modelOutputs = new Set(graph.outputs.map((o) => o.name ?? ''))
  const lastUse = new Map<string, number>()
  for (const node of graph.nodes) for (const i of node.inputs) lastUse.set(i, node.index)
  const stages: StagePlan[] = []
  for (let k = 0; k + 1 < bounds.length; k++) {
    const [start, end] = [bounds[k]!, bounds[k + 1]!]
    const produced = new Set<string>()
    const inputs: string[] = []
    const seen = new Set<string>()
    const outputs: string[] = []
    for (const node of graph.nodes.slice(start, end)) {
      for (const i of node.inputs) {
        if (i === '' || produced.has(i) || graph.initializers.has(i) || seen.has(i)) continue
        seen.add(i)
        inputs.push(i)
      }
      for (const o of node.outputs) {
        produced.add(o)
        if (modelOutputs.has(o) || (lastUse.get(o) ?? -1) >= end) outputs.push(o)
      }
    }
    stages.push({ index: k, nodes: [start, end], inputs, outputs })
  }
  return stages
}

export function buildStageModel(graph: ModelGraph, values: ReadonlyMap<string, TensorInfo>, stage: StagePlan): ModelProto {
  const g = graph.proto.graph!
  const nodes = graph.nodes.slice(stage.nodes[0], stage.nodes[1])
  const used = new Set(nodes.flatMap((n) => n.inputs))
  const declaredInputs = new Map(graph.inputs.map((v) => [v.name ?? '', v]))
  const typed = (name: string): ValueInfoProto =>
    declaredInputs.get(name) ?? { name, type: { tensorType: { elemType: values.get(name)?.dataType ?? graph.declared.get(name)?.type?.tensorType?.elemType ?? 1 } } }
  return onnx.ModelProto.create({
    irVersion: graph.proto.irVersion,
    opsetImport: graph.proto.opsetImport,
    producerName: 'dora-split',
    graph: {
      name: `${g.name || 'model'}-stage-${stage.index}`,
      node: nodes.map((n) => n.proto),
      initializer: (g.initializer ?? []).filter((t) => used.has(t.name ?? '')),
      input: stage.inputs.map(typed),
      output: stage.outputs.map((name) => graph.outputs.find((o) => o.name === name) ?? typed(name)),
    },
  })
}

export interface CutChoice {
  cuts: number[]
  /** Set when fewer stages than asked were possible. */
  note: string | null
}

/**
 * Chooses cuts for `stages` stages: each boundary near an equal share of the FLOPs, and within
 * a window of a quarter share around it, the cut with the fewest crossing bytes.
 */
export function chooseCuts(costs: readonly NodeCost[], cutPoints: readonly CutPoint[], stages: number): CutChoice {
  if (!Number.isInteger(stages) || stages < 1) throw new RangeError(`stages must be a positive integer, got ${stages}`)
  const possible = cutPoints.length + 1
  const k = Math.min(stages, possible)
  const cum = [0]
  for (const c of costs) cum.push(cum[cum.length - 1]! + (c.flops ?? 0) + 1e-9)
  const total = cum[cum.length - 1]!
  const cuts: number[] = []
  let prev = 0
  for (let s = 1; s < k; s++) {
    const target = (total * s) / k
    const slack = total / (4 * k)
    const remainingNeeded = k - 1 - s
    const eligible = cutPoints.filter((c) => c.index > prev && c.index <= costs.length - 1 - remainingNeeded)
    const window = eligible.filter((c) => Math.abs(cum[c.index]! - target) <= slack)
    const pool = window.length ? window : eligible
    const best = pool.reduce((a, b) => {
      if (window.length && a.crossingBytes !== b.crossingBytes) return a.crossingBytes < b.crossingBytes ? a : b
      return Math.abs(cum[a.index]! - target) <= Math.abs(cum[b.index]! - target) ? a : b
    })
    cuts.push(best.index)
    prev = best.index
  }
  const note = k < stages ? `asked for ${stages} stages, but the model has only ${possible} nodes to split between: made ${k}` : null
  return { cuts, note }
}
