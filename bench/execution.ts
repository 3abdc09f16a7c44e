/**
 * Real execution (issue 6 § Benchmarks), EMULATION: `dora demo` runs, in one process each, the hub,
 * the emulated Wi-Fi proxy and one device process per scenario device; requests run through real
 * onnxruntime stages and real MQTT. Per run: measured against predicted latency (the cost model's
 * error), Dora's timed slots against uncoordinated sending, and baselines' plans executed on the
 * same emulated fleet. Emulated devices are time-dilated to their profiles only when this machine
 * is faster; where it is slower the stage runs at this machine's speed (see the breakdown).
 */
import { fileURLToPath } from 'node:url'
import { runDemo, type DemoSummary } from '../src/demo/demo.js'
import { silentLogger } from '../src/log.js'

export interface ExecutionRun {
  scenario: string
  planner: string
  coordination: 'slots' | 'none'
  /** Multiplier of the scenario's rates (1: as written). */
  load?: number
}

export const EXECUTION_RUNS: ExecutionRun[] = [
  { scenario: 'smart-home', planner: 'dora', coordination: 'slots' },
  { scenario: 'smart-home', planner: 'dora', coordination: 'none' },
  { scenario: 'smart-home', planner: 'pipeedge', coordination: 'slots' },
  { scenario: 'smart-home', planner: 'edgeshard', coordination: 'slots' },
  { scenario: 'smart-home', planner: 'exo', coordination: 'slots' },
  { scenario: 'traffic', planner: 'dora', coordination: 'slots' },
  { scenario: 'traffic', planner: 'dora', coordination: 'slots', load: 0.4 },
  { scenario: 'traffic', planner: 'dora', coordination: 'none', load: 0.4 },
  { scenario: 'traffic', planner: 'edgeshard', coordination: 'slots', load: 0.4 },
]

export async function executionBench(durationS: number, log: (s: string) => void): Promise<Array<ExecutionRun & { summary: DemoSummary }>> {
  const out: Array<ExecutionRun & { summary: DemoSummary }> = []
  for (const r of EXECUTION_RUNS) {
    log(`  ${r.scenario}${r.load ? ` x${r.load}` : ''}, ${r.planner}, ${r.coordination === 'slots' ? 'slots' : 'uncoordinated'}: ${durationS} s of requests ...`)
    const summary = await runDemo({
      scenarioFile: fileURLToPath(new URL(`../config/scenarios/${r.scenario}.yaml`, import.meta.url)),
      durationS, port: 0, coordination: r.coordination, kill: null, planner: r.planner, load: r.load ?? 1, log: silentLogger,
      progress: () => undefined,
    })
    out.push({ ...r, summary })
  }
  return out
}
