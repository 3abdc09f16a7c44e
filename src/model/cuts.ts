/**
 * Cut points of a model: position i (1 <= i < nodes) splits the topological order into nodes
 * [0, i) and [i, n). Every position is legal, because the order is topological; what a cut
 * costs is the set of tensors that cross it: values produced before it (or model inputs) that a
 * node after it reads. Model outputs produced before a cut go to the results, not across it.
 * Computed for all cuts at once with a difference array: O(nodes + edges). Pure.
 */
import type { ModelGraph } from './graph.js'
import type { TensorInfo } from './shapes.js'

export interface CutPoint {
  /** The cut lies before node `index`. */
  readonly index: number
  readonly crossingBytes: number
  readonly crossingTensors: number
}

export function cutPoints(graph: ModelGraph, values: ReadonlyMap<string, TensorInfo>): CutPoint[] {
  const n = graph.nodes.length
  const producer = new Map<string, number>()
  for (const input of graph.inputs) producer.set(input.name ?? '', -1)
  for (const node of graph.nodes) for (const o of node.outputs) producer.set(o, node.index)
  const lastUse = new Map<string, number>()
  for (const node of graph.nodes) for (const i of node.inputs) if (producer.has(i)) lastUse.set(i, node.index)
  const bytesDelta = new Float64Array(n + 1)
  const countDelta = new Int32Array(n + 1)
  for (const [name, last] of lastUse) {
    const p = producer.get(name)!
    if (last <= p) continue
    // crosses cuts p+1 .. last
    const b = values.get(name)?.bytes ?? 0
    bytesDelta[p + 1] = bytesDelta[p + 1]! + b
    bytesDelta[last + 1] = bytesDelta[last + 1]! - b
    countDelta[p + 1]! += 1
    countDelta[last + 1]! -= 1
  }
  const cuts: CutPoint[] = []
  let bytes = 0
  let count = 0
  for (let i = 0; i < n; i++) {
    bytes += bytesDelta[i]!
    count += countDelta[i]!
    if (i >= 1) cuts.push({ index: i, crossingBytes: bytes, crossingTensors: count })
  }
  return cuts
}
