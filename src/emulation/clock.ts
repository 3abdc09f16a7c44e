/**
 * Choosing the emulation clock (EMULATION): how many times slower than the device profiles the
 * demo must run so that this host can play every emulated device. Pure.
 *
 * An emulated device runs its stage in onnxruntime and then waits until K times its profile's
 * time (time dilation). That works only if the host's own run is no longer than K times the
 * profile's: otherwise the device runs at the host's speed and the plan's prediction is broken.
 * So, from the host's measured rates (the devices' own micro-benchmark, run in as many
 * processes at once as the demo runs devices, so that every process gets only its share):
 * - dilation: for each profile, host time over profile time of the job's model (its op mix),
 *   times a margin (1.3); the largest of these over the scenario's devices. (Measured with only
 *   as many processes as cores, margins of 1.5 and 2 left a third of the laptop's runs late on
 *   this shared 2-core host at load 17-20: the hub, broker, proxy and other users' work take
 *   their share too);
 * - CPU: the device processes together must not keep the cores more than `cpuShare` busy
 *   (the hub, broker and Wi-Fi proxy need the rest): every request is computed once, somewhere,
 *   taking the host's time of the whole model, at the job's rate divided by K.
 * K is the larger of the two, at least the scenario's floor, rounded up to a tenth.
 */
import type { DeviceProfile, OpClassFlops } from '../planner/types.js'

export interface ClockInputs {
  /** Every device profile of the scenario (any of them may be given a stage). */
  readonly profiles: ReadonlyArray<Pick<DeviceProfile, 'id' | 'flopsPerSec' | 'stageOverheadMs'>>
  /** The job's model FLOPs per request, by op class. */
  readonly modelFlops: OpClassFlops
  /** The host's rate per device process when `processes` run at once (the slowest process measured). */
  readonly hostFlopsPerSec: OpClassFlops
  /** Cores of this host. */
  readonly cores: number
  /** Device processes the demo will run. */
  readonly processes: number
  /** Processes the host was measured with at once (default: `processes`). */
  readonly probeProcesses?: number
  /** Requests per second of the job (profile time; a training job: samples per second expected). */
  readonly rateRps: number
  /** Dilation margin (1.3: a stage's host run may take at most 1 / 1.3 of its dilated time). */
  readonly margin?: number
  /** Share of the cores the device processes may use together. */
  readonly cpuShare?: number
  /** The scenario's own minimum (its `emulation.timeScale`). */
  readonly floor?: number
}

export interface ClockChoice {
  readonly timeScale: number
  /** The device whose profile most outruns the host, and by how much (host time / profile time). */
  readonly slowest: { readonly device: string; readonly ratio: number }
  /** The factor the dilation needs (slowest ratio x margin) and the one CPU load needs. */
  readonly dilationK: number
  readonly cpuK: number
  readonly hostModelMs: number
  readonly margin: number
  readonly cpuShare: number
  /** One line: which clock and why. */
  readonly why: string
}

export const DEFAULT_CLOCK_MARGIN = 1.3
export const DEFAULT_CPU_SHARE = 0.5

const modelMs = (f: OpClassFlops, rate: OpClassFlops): number =>
  1000 * (f.conv / rate.conv + f.matmul / rate.matmul + f.elementwise / rate.elementwise)

export function chooseTimeScale(i: ClockInputs): ClockChoice {
  const margin = i.margin ?? DEFAULT_CLOCK_MARGIN
  const cpuShare = i.cpuShare ?? DEFAULT_CPU_SHARE
  if (!i.profiles.length) throw new RangeError('no device profiles to choose a clock for')
  const hostModelMs = modelMs(i.modelFlops, i.hostFlopsPerSec)
  let slowest = { device: i.profiles[0]!.id, ratio: 0 }
  for (const p of i.profiles) {
    // the overhead is part of the profile's time but costs the host nothing in compute
    const ratio = hostModelMs / (modelMs(i.modelFlops, p.flopsPerSec) + p.stageOverheadMs)
    if (ratio > slowest.ratio) slowest = { device: p.id, ratio }
  }
  const dilationK = slowest.ratio * margin
  const cpuK = (i.rateRps * hostModelMs) / 1000 / (cpuShare * i.cores)
  const floor = i.floor ?? 1
  const needs = [
    { k: dilationK, why: `${slowest.device}'s profile runs the model ${slowest.ratio.toFixed(1)}x faster than a device process on this host (${hostModelMs.toFixed(0)} ms a request, measured with ${i.probeProcesses ?? i.processes} processes at once on ${i.cores} cores), times a margin of ${margin}` },
    { k: cpuK, why: `${i.processes} device processes computing ${i.rateRps} requests/s (${hostModelMs.toFixed(0)} ms of host CPU each) may keep at most ${Math.round(cpuShare * 100)}% of ${i.cores} cores busy` },
    { k: floor, why: `the scenario asks for at least x${floor}` },
  ].sort((a, b) => b.k - a.k)
  const timeScale = Math.ceil(Math.max(1, needs[0]!.k) * 10) / 10
  const why = timeScale <= 1
    ? `this host plays every profile in real time (the fastest, ${slowest.device}, at ${slowest.ratio.toFixed(2)}x the host's time with a margin of ${margin})`
    : needs[0]!.why
  return { timeScale, slowest, dilationK, cpuK, hostModelMs, margin, cpuShare, why }
}
