/**
 * Turns a profiled ONNX model into the planner's ModelProfile: layers are runs of nodes between
 * candidate cuts. With more cut points than `maxLayers`, the candidates are chosen per equal
 * share of the FLOPs, each the cut with the fewest crossing bytes in its share, so the search
 * stays small on models of thousands of nodes and still cuts where tensors are small. Pure.
 */
import type { NodeCost } from '../model/cost.js'
import type { CutPoint } from '../model/cuts.js'
import type { ModelProfile } from './types.js'

export interface ModelProfileInput {
  name: string
  costs: readonly NodeCost[]
  cuts: readonly CutPoint[]
  inputBytes: number
  outputBytes: number
  /** The batch size the profile was made with; figures are divided by it (per sample). */
  batch: number
  /** Model-output bytes each node produces (0 for most), when known. */
  modelOutputBytesByNode?: readonly number[]
}

export function candidateCuts(costs: readonly NodeCost[], cuts: readonly CutPoint[], maxLayers: number): CutPoint[] {
  if (cuts.length + 1 <= maxLayers) return [...cuts]
  const cum: number[] = [0]
  for (const c of costs) cum.push(cum[cum.length - 1]! + (c.flops ?? 0) + 1)
  const total = cum[cum.length - 1]!
  const chosen: CutPoint[] = []
  let bin = 1
  let best: CutPoint | null = null
  for (const c of cuts) {
    while (cum[c.index]! > (total * bin) / maxLayers) {
      if (best) chosen.push(best)
      best = null
      bin++
    }
    if (!best || c.crossingBytes < best.crossingBytes) best = c
  }
  if (best && chosen.length < maxLayers - 1) chosen.push(best)
  return chosen
}

export function toModelProfile(input: ModelProfileInput, maxLayers = 24): ModelProfile {
  const chosen = candidateCuts(input.costs, input.cuts, maxLayers)
  const bounds = [0, ...chosen.map((c) => c.index), input.costs.length]
  const per = 1 / input.batch
  const layers = []
  for (let k = 0; k + 1 < bounds.length; k++) {
    const flops = { conv: 0, matmul: 0, elementwise: 0 }
    let paramBytes = 0
    let peak = 0
    let activationBytes = 0
    for (const c of input.costs.slice(bounds[k], bounds[k + 1])) {
      if (c.opClass !== 'memory') flops[c.opClass] += (c.flops ?? 0) * per
      paramBytes += c.paramBytes
      peak = Math.max(peak, c.outputBytes * per)
      activationBytes += c.outputBytes * per
    }
    layers.push({ flops, paramBytes, peakActivationBytes: peak, activationBytes })
  }
  const boundaryBytes = [input.inputBytes * per, ...chosen.map((c) => c.crossingBytes * per), input.outputBytes * per]
  const byNode = input.modelOutputBytesByNode
  const outputBytesByLayer = byNode
    ? layers.map((_, k) => byNode.slice(bounds[k], bounds[k + 1]).reduce((a, x) => a + x, 0) * per)
    : undefined
  return { name: input.name, layers, boundaryBytes, nodeBounds: bounds, ...(outputBytesByLayer ? { outputBytesByLayer } : {}) }
}
