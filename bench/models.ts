/**
 * Profiling and splitting time per zoo model and for a 5,100-node model: planner-side time
 * (decode, graph checks, FLOPs, cut points; then choosing cuts, building and encoding 4 stage
 * models) reported apart from the onnxruntime shape run.
 */
import { onnx } from '../src/model/onnx.js'
import { ZOO, SCALE_MODELS } from '../src/model/zoo/index.js'
import { profileModel } from '../src/model/load.js'
import { buildStageModel, chooseCuts, planStages } from '../src/model/split.js'

export interface ModelRow {
  model: string
  nodes: number
  gflops: number
  profileMs: number
  splitMs: number
  ortShapeMs: number
}

export async function modelBench(log: (s: string) => void): Promise<ModelRow[]> {
  const rows: ModelRow[] = []
  for (const entry of [...ZOO, ...SCALE_MODELS]) {
    const bytes = onnx.ModelProto.encode(entry.build()).finish()
    let best: ModelRow | null = null
    for (let rep = 0; rep < 3; rep++) {
      const p = await profileModel(bytes, entry.name, { batch: 1 })
      const t = performance.now()
      const plans = planStages(p.graph, chooseCuts(p.costs, p.cuts, 4).cuts)
      for (const plan of plans) onnx.ModelProto.encode(buildStageModel(p.graph, p.shapes.values, plan)).finish()
      const splitMs = performance.now() - t
      const row = { model: entry.name, nodes: p.graph.nodes.length, gflops: p.costs.reduce((s, c) => s + (c.flops ?? 0), 0) / 1e9, profileMs: p.analysisMs, splitMs, ortShapeMs: p.shapes.ortMs ?? 0 }
      if (!best || row.profileMs + row.splitMs < best.profileMs + best.splitMs) best = row
    }
    rows.push(best!)
    log(`  model ${best!.model}: profile ${best!.profileMs.toFixed(1)} ms + split ${best!.splitMs.toFixed(1)} ms (onnxruntime shape run ${best!.ortShapeMs.toFixed(0)} ms)`)
  }
  return rows
}
