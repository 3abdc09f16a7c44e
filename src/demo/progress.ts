/**
 * The demo's progress lines (pure): the clock line, a plan's shape, and the line printed each
 * second while requests run. Every latency in them is in emulated (profile) time, wall-clock
 * divided by the emulation clock, like the summary's (EMULATION).
 */
import { meanAndP95 } from '../shared/stats.js'
import type { RequesterStats } from '../runtime/requester.js'
import type { ConsumedStats } from '../runtime/result-sink.js'
import type { DemoClock } from './host-clock.js'

export function clockLine(c: DemoClock): string {
  const host = c.host ? ` Host measured with the devices' micro-benchmark in ${c.host.processes} processes at once: ${(c.host.slowest.conv / 1e9).toFixed(0)} GFLOP/s conv, ${(c.host.slowest.matmul / 1e9).toFixed(0)} matmul, ${(c.host.slowest.elementwise / 1e9).toFixed(1)} elementwise a process.` : ''
  return c.timeScale === 1
    ? `EMULATION CLOCK x1 (real time): ${c.why}.${host}`
    : `EMULATION CLOCK x${c.timeScale}: every profile time (compute, Wi-Fi rates, slots) runs ${c.timeScale}x slower than the profiles say, and figures are reported divided by ${c.timeScale}. Why: ${c.why}.${host}`
}

export function describeEpoch(e: { parts: ReadonlyArray<{ plan: { stages: ReadonlyArray<{ devices: readonly string[] }> }; weight: number }> }): string {
  return e.parts.map((p) => `${p.plan.stages.map((s) => s.devices.join('+')).join(' -> ')}${e.parts.length > 1 ? ` (${(p.weight * 100).toFixed(0)}%)` : ''}`).join(' | ')
}

/**
 * The line printed each second: `t` wall-clock seconds into the run, the hub source's counts and
 * the latency of its last 20 answers in emulated ms (wall-clock ms / `timeScale`, as in the
 * summary), or, for the cameras' requests, what the hub received as their consumer; and the
 * fleet's energy so far.
 */
export function progressLine(t: number, epoch: number, s: Pick<RequesterStats, 'sent' | 'completed' | 'resent' | 'latenciesMs'> | null, joules: number, timeScale: number, atHub: Pick<ConsumedStats, 'completed' | 'latenciesMs'> | null = null): string {
  const latency = (ms: readonly number[]) => {
    const recent = ms.length ? meanAndP95(ms.slice(-20).map((x) => x / timeScale)) : null
    return ` latency ${recent ? fmt(recent.mean) : '-'} ms (p95 ${recent ? fmt(recent.p95) : '-'}; emulated${timeScale !== 1 ? `, wall-clock / ${timeScale}` : ''})`
  }
  // the hub's own requests, or (the cameras' jobs) the results the hub received as their consumer
  const counts = s ? ` sent ${s.sent} done ${s.completed} resent ${s.resent}${latency(s.latenciesMs)}`
    : atHub ? ` answered at the hub ${atHub.completed}${latency(atHub.latenciesMs)}` : ''
  return `t=${t.toFixed(0)}s epoch ${epoch}${counts} energy ${joules.toFixed(0)} J (emulated)`
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-')
