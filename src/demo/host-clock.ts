/**
 * The demo's emulation clock (EMULATION): measures this host with the devices' micro-benchmark
 * run in as many processes at once as the demo will run device processes (at most 16), so each
 * gets the share of the cores it will have, and chooses the clock from it
 * (src/emulation/clock.ts), unless the user gave one.
 */
import { availableParallelism } from 'node:os'
import { dirname } from 'node:path'
import { chooseTimeScale, type ClockChoice } from '../emulation/clock.js'
import { measureHost, type HostMeasurement } from '../emulation/host-probe.js'
import { loadJobModel } from '../scenario/load.js'
import type { Scenario, JobConfig } from '../scenario/schema.js'
import type { OpClassFlops } from '../planner/types.js'

export interface DemoClock {
  readonly timeScale: number
  /** How it was chosen: measured, or given (`--time-scale`). */
  readonly source: 'measured' | 'given'
  readonly why: string
  readonly choice: ClockChoice | null
  readonly host: HostMeasurement | null
}

/** The clock for a demo of `job` (its load already applied) on `scenario`'s fleet. */
export async function demoClock(scenarioFile: string, scenario: Scenario, job: JobConfig, given: number | undefined): Promise<DemoClock> {
  if (given !== undefined) return { timeScale: given, source: 'given', why: `given (--time-scale ${given})`, choice: null, host: null }
  const cores = availableParallelism()
  const processes = scenario.devices.length
  const [host, { model }] = await Promise.all([
    measureHost(Math.max(1, Math.min(16, processes))),
    loadJobModel(job.model, dirname(scenarioFile), job.batch),
  ])
  // a training sample costs its forward and a backward of about twice that
  const perRequest = job.training ? 3 : 1
  const modelFlops: OpClassFlops = model.layers.reduce((a, l) => ({
    conv: a.conv + perRequest * l.flops.conv, matmul: a.matmul + perRequest * l.flops.matmul, elementwise: a.elementwise + perRequest * l.flops.elementwise,
  }), { conv: 0, matmul: 0, elementwise: 0 })
  const rateRps = job.sources?.reduce((a, s) => a + s.rateRps, 0) ?? job.rateRps ?? job.qoe.throughputRps ?? 0
  const choice = chooseTimeScale({
    profiles: scenario.devices, modelFlops, hostFlopsPerSec: host.slowest, cores, processes, probeProcesses: host.processes, rateRps, floor: scenario.emulation.timeScale,
  })
  return { timeScale: choice.timeScale, source: 'measured', why: choice.why, choice, host }
}
