/**
 * Bench: activation compression on every zoo model. For each candidate cut (the planner's kept
 * cuts), the float32 bytes that cross it and the model's output error (relative L2) when they
 * cross as float16 or as int8 with a per-tensor scale (src/model/compression-error.ts), on
 * seeded inputs; per model, the bytes a request sends before and after at the median cut and
 * how many cuts keep each codec under a bound.
 */
import { loadModelBytes, profileModel } from '../src/model/load.js'
import { toModelProfile } from '../src/planner/model-profile.js'
import { compressionErrors, type CutError } from '../src/model/compression-error.js'
import { ZOO } from '../src/model/zoo/index.js'

export interface CompressionRow {
  model: string
  cuts: number
  inputBytes: number
  outputBytes: number
  cut: CutError[]
  ms: number
}

export async function compressionBench(progress: (s: string) => void): Promise<CompressionRow[]> {
  const rows: CompressionRow[] = []
  for (const z of ZOO) {
    progress(`compression: ${z.name} ...`)
    const { bytes, source } = await loadModelBytes(z.name)
    const p = await profileModel(bytes, source, { batch: 1 })
    const bytesOf = (names: Array<string | null | undefined>) => names.reduce((s, n) => s + (p.shapes.values.get(n ?? '')?.bytes ?? 0), 0)
    const mp = toModelProfile({ name: z.name, costs: p.costs, cuts: p.cuts, inputBytes: 0, outputBytes: 0, batch: 1 })
    const t = performance.now()
    const cut = await compressionErrors(p, mp.nodeBounds!.slice(1, -1))
    rows.push({
      model: z.name, cuts: cut.length, cut, ms: performance.now() - t,
      inputBytes: bytesOf(p.graph.inputs.map((v) => v.name)), outputBytes: bytesOf(p.graph.outputs.map((v) => v.name)),
    })
  }
  return rows
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const max = (xs: number[]) => Math.max(...xs)

/** Table rows: per model, bytes at the median cut and errors over the cuts. */
export function compressionTable(rows: readonly CompressionRow[], bound: number): string[][] {
  return rows.map((r) => {
    const fp16 = r.cut.map((c) => c.error.fp16)
    const int8 = r.cut.map((c) => c.error.int8)
    const mid = median(r.cut.map((c) => c.floatBytes))
    return [
      r.model, `${(r.inputBytes / 1e3).toFixed(1)} KB`, `${(r.outputBytes / 1e3).toFixed(1)} KB`, String(r.cuts),
      `${(mid / 1e3).toFixed(0)} / ${(mid / 2e3).toFixed(0)} / ${(mid / 4e3).toFixed(0)} KB`,
      `${median(fp16).toExponential(1)} (${max(fp16).toExponential(1)})`, `${median(int8).toExponential(1)} (${max(int8).toExponential(1)})`,
      `${fp16.filter((e) => e <= bound).length} / ${int8.filter((e) => e <= bound).length}`, r.ms.toFixed(0),
    ]
  })
}
