/**
 * Real execution (issue 6 § Benchmarks), EMULATION: `dora demo` runs, in one process each, the hub,
 * the emulated Wi-Fi proxy and one device process per scenario device; requests run through real
 * onnxruntime stages and real MQTT. Per run: measured against predicted latency (the cost model's
 * error), Dora's timed slots against uncoordinated sending, and baselines' plans executed on the
 * same emulated fleet. Emulated devices are time-dilated to their profiles only when this machine
 * is faster; where it is slower the stage runs at this machine's speed (see the breakdown), unless
 * the run stretches the emulation clock (`timeScale`: every profile time, rate and slot K times
 * slower; figures reported in profile time). The edge cluster's training job runs so (its
 * Jetson Orin profiles are ~15x this machine).
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
  /** Emulation clock factor (1: real time); a run lasts 30 s of requests times this. */
  timeScale?: number
}

export const EXECUTION_RUNS: ExecutionRun[] = [
  { scenario: 'smart-home', planner: 'dora', coordination: 'slots' },
  { scenario: 'smart-home', planner: 'dora', coordination: 'slots', timeScale: 2 },
  { scenario: 'smart-home', planner: 'dora', coordination: 'none', timeScale: 2 },
  { scenario: 'smart-home', planner: 'pipeedge', coordination: 'slots', timeScale: 2 },
  { scenario: 'smart-home', planner: 'edgeshard', coordination: 'slots', timeScale: 2 },
  { scenario: 'smart-home', planner: 'exo', coordination: 'slots', timeScale: 2 },
  { scenario: 'traffic', planner: 'dora', coordination: 'slots', load: 0.4 },
  { scenario: 'traffic', planner: 'dora', coordination: 'slots', timeScale: 4 },
  { scenario: 'traffic', planner: 'dora', coordination: 'none', timeScale: 4 },
  { scenario: 'traffic', planner: 'edgeshard', coordination: 'slots', timeScale: 4 },
  { scenario: 'edge-cluster', planner: 'dora', coordination: 'none', timeScale: 20 },
]

export async function executionBench(durationS: number, log: (s: string) => void): Promise<Array<ExecutionRun & { summary: DemoSummary }>> {
  const out: Array<ExecutionRun & { summary: DemoSummary }> = []
  for (const r of EXECUTION_RUNS) {
    const k = r.timeScale ?? 1
    // a training run: long enough for a few optimizer steps (a step is ~2.3 s of profile time)
    const wallS = r.scenario === 'edge-cluster' ? 8 * 2.3 * k : durationS * k
    log(`  ${label(r)}, ${r.planner}, ${r.coordination === 'slots' ? 'slots' : 'uncoordinated'}: ${wallS.toFixed(0)} s (wall) ...`)
    const summary = await runDemo({
      scenarioFile: fileURLToPath(new URL(`../config/scenarios/${r.scenario}.yaml`, import.meta.url)),
      durationS: wallS, port: 0, coordination: r.coordination, kill: null, planner: r.planner, load: r.load ?? 1, log: silentLogger,
      progress: () => undefined, timeScale: k,
    })
    out.push({ ...r, summary })
  }
  return out
}

/** A run's name in tables: the scenario, its load and its emulation clock. */
export function label(r: ExecutionRun): string {
  return `${r.scenario}${r.load ? ` (load x${r.load})` : ''}${r.timeScale && r.timeScale !== 1 ? ` (clock x${r.timeScale})` : ''}`
}
