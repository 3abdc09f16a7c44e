/** The slots-emulated bench's tables (bench/slots-emulated.ts): each run, each scenario's runs pooled, and the phase draws side by side. */
import { meanAndP95 } from '../src/shared/stats.js'
import type { EmulatedRun } from './slots-emulated.js'

const f1 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(1))

/** Each draw's p95, over a run's draws: least, median, largest. */
function drawSpread(r: Pick<EmulatedRun, 'draws'>): string {
  const p = r.draws.filter((d) => d.latenciesMs.length).map((d) => meanAndP95(d.latenciesMs).p95).sort((a, b) => a - b)
  return p.length ? `${f1(p[0])} / ${f1(p[Math.floor(p.length / 2)])} / ${f1(p[p.length - 1])}` : '-'
}

/** A scenario's runs of one kind (coordinated or not) as one: every draw's latencies together. */
function pooled(runs: readonly EmulatedRun[], scenario: string, coordinated: boolean): EmulatedRun | null {
  const rs = runs.filter((r) => r.scenario === scenario && r.coordinated === coordinated && !r.mode.includes('forced'))
  if (!rs.length) return null
  const draws = rs.flatMap((r) => r.draws)
  const { mean, p95 } = meanAndP95(draws.flatMap((d) => d.latenciesMs))
  const waits = rs.flatMap((r) => (r.frameGateWaitMs ? [r.frameGateWaitMs] : []))
  return {
    ...rs[0]!, round: -1, frames: rs.reduce((a, r) => a + r.frames, 0), completed: rs.reduce((a, r) => a + r.completed, 0), meanMs: mean, p95Ms: p95, draws,
    frameGateWaitMs: waits.length ? { mean: waits.reduce((a, w) => a + w.mean, 0) / waits.length, max: Math.max(...waits.map((w) => w.max)) } : null,
  }
}

/** The runs as a table, each coordinated run beside the uncoordinated run of its round, then each scenario's rounds pooled. */
export function emulatedTable(runs: readonly EmulatedRun[]): { header: string[]; rows: string[][] } {
  const scenarios = [...new Set(runs.map((r) => r.scenario))]
  const all = [...runs, ...scenarios.flatMap((s) => [pooled(runs, s, true), pooled(runs, s, false)].filter((r): r is EmulatedRun => r !== null))]
  const rows = all.map((r) => {
    const other = all.find((x) => x.scenario === r.scenario && x.round === r.round && x.coordinated !== r.coordinated && !x.mode.includes('forced'))
    const pair = r.coordinated && other ? [(r.meanMs / other.meanMs).toFixed(2), (r.p95Ms / other.p95Ms).toFixed(2)] : ['', '']
    const wait = r.frameGateWaitMs ? `${r.frameGateWaitMs.mean.toFixed(2)} / ${r.frameGateWaitMs.max.toFixed(1)}` : '-'
    const round = r.round < 0 ? '**all**' : String(r.round + 1)
    return [r.scenario, round, r.mode, String(r.draws.length), `${r.completed} of ${r.frames}`, f1(r.meanMs), f1(r.p95Ms), drawSpread(r), f1(r.predicted.latencyMs), f1(r.predicted.p95LatencyMs), wait, ...pair, f1(r.grantRttMs)]
  })
  return {
    header: ['scenario', 'round', 'transfers', 'phase draws', 'answered', 'mean ms', 'p95 ms', 'draws\' p95: least / median / largest', 'predicted mean', 'predicted p95', 'frames\' slot wait ms (mean / largest)', 'mean / uncoord.', 'p95 / uncoord.', 'grant round trip ms'],
    rows,
  }
}

/** Each phase draw, coordinated beside uncoordinated (mean / p95 of the draw's frames, profile ms). */
export function drawTable(runs: readonly EmulatedRun[]): { header: string[]; rows: string[][] } {
  const rows: string[][] = []
  for (const s of [...new Set(runs.map((r) => r.scenario))]) {
    const of = (coordinated: boolean) => new Map(runs.filter((r) => r.scenario === s && r.coordinated === coordinated && !r.mode.includes('forced')).flatMap((r) => r.draws.map((d) => [d.draw, d] as const)))
    const [co, un] = [of(true), of(false)]
    for (const d of [...new Set([...co.keys(), ...un.keys()])].sort((a, b) => a - b)) {
      const cell = (x: EmulatedRun['draws'][number] | undefined) => {
        if (!x || !x.latenciesMs.length) return '-'
        const m = meanAndP95(x.latenciesMs)
        return `${f1(m.mean)} / ${f1(m.p95)} (${x.latenciesMs.length} of ${x.frames})`
      }
      rows.push([s, String(d + 1), cell(co.get(d)), cell(un.get(d))])
    }
  }
  return { header: ['scenario', 'draw', 'coordinated mean / p95 ms', 'uncoordinated mean / p95 ms'], rows }
}

/** One run as a line (printed as each run ends). */
export function runLine(r: EmulatedRun): string {
  const wait = r.frameGateWaitMs ? `, frames' slot wait ${r.frameGateWaitMs.mean.toFixed(2)} ms mean (largest ${r.frameGateWaitMs.max.toFixed(1)})` : ''
  return `    ${r.scenario} round ${r.round + 1} ${r.mode}: ${r.completed} of ${r.frames} answered over ${r.draws.length} draws, mean ${f1(r.meanMs)} / p95 ${f1(r.p95Ms)} ms (predicted ${f1(r.predicted.latencyMs)} / ${f1(r.predicted.p95LatencyMs)}), draws' p95 ${drawSpread(r)}${wait}`
}
