/**
 * Measured time per node on this machine, from onnxruntime's own profiler: the model runs
 * unoptimised (so every node keeps its name), once to warm up and then `runs` times; each node's
 * kernel time is averaged over the measured runs.
 */
import * as ort from 'onnxruntime-node'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ModelError, type ModelGraph } from './graph.js'
import { randomInputs, type DimBinding } from './inputs.js'

interface ProfileEvent {
  cat?: string
  name?: string
  dur?: number
}

/** Mean kernel time per node name, microseconds. */
export async function measureNodeTimes(bytes: Uint8Array, graph: ModelGraph, bind: DimBinding, runs = 5): Promise<Map<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'dora-ort-profile-'))
  try {
    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', enableProfiling: true, profileFilePrefix: join(dir, 'p') })
    const { feeds } = randomInputs(graph.inputs, bind, 11)
    for (let i = 0; i <= runs; i++) await session.run(feeds)
    session.endProfiling()
    await session.release()
    const file = (await readdir(dir)).find((f) => f.endsWith('.json'))
    if (!file) throw new ModelError('onnxruntime wrote no profile')
    const events = JSON.parse(await readFile(join(dir, file), 'utf8')) as ProfileEvent[]
    const totals = new Map<string, number[]>()
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || typeof e.dur !== 'number') continue
      const node = e.name.slice(0, -'_kernel_time'.length)
      const list = totals.get(node) ?? []
      list.push(e.dur)
      totals.set(node, list)
    }
    const means = new Map<string, number>()
    for (const [node, durs] of totals) {
      const measured = durs.slice(-runs) // drop the warm-up run
      means.set(node, measured.reduce((a, b) => a + b, 0) / measured.length)
    }
    return means
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
