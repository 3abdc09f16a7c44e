/**
 * The cost model against the simulator per load band (emulation): the random plans of
 * bench/accuracy.ts, each with its arrival rate scaled so that its busiest predicted resource sits
 * at a fixed utilisation (30, 50, 65, 80% by default), simulated for 600 s or 20,000 requests (the
 * longer). Prints, per band and set (development seeds from 1, held-out seeds from 501), the share
 * with mean within 5%, p95 within 10% and both, and the signed median errors (predicted /
 * simulated - 1), overall and split by whether the air or a device is the busiest resource.
 *
 *   node bin/run-ts.mjs bench/load-sweep.ts [--grants] [--batches] [DEV=100] [HELD=50] [BANDS=0.3,0.5,0.65,0.8] [OUT.json]
 * (`--grants`: hub grants, `dora simulate`'s default, in prediction and run; default at once.
 * `--batches`: micro-batches of 1-8, evenly, instead of randomPlan's 1 or 2. `--repredict OLD.json`:
 * the rows of an earlier run's OUT.json, predicted again against the same simulations.)
 */
import os from 'node:os'
import { readFileSync, writeFileSync } from 'node:fs'
import { accuracyCase, accuracySetup, busiest, type AccuracyRow } from './accuracy.js'
import { predict } from '../src/planner/cost.js'

export interface SweepRow extends AccuracyRow {
  readonly set: 'development' | 'held out'
  readonly band: number
}

export function sweep(dev: number, held: number, bands: readonly number[], grants = false, progress: (s: string, rows: readonly SweepRow[]) => void = () => {}, maxMicroBatch?: number): SweepRow[] {
  const rows: SweepRow[] = []
  const seeds = [
    ...Array.from({ length: dev }, (_, k) => ({ seed: k + 1, set: 'development' as const })),
    ...Array.from({ length: held }, (_, k) => ({ seed: 501 + k, set: 'held out' as const })),
  ]
  for (const band of bands) {
    const t0 = Date.now()
    for (const { seed, set } of seeds) rows.push({ ...accuracyCase(seed, 600, 20_000, { targetU: band, grants, ...(maxMicroBatch ? { maxMicroBatch } : {}) }), set, band })
    progress(`band ${(band * 100).toFixed(0)}%: ${seeds.length} plans in ${((Date.now() - t0) / 1000).toFixed(0)} s`, rows)
  }
  return rows
}

/**
 * The rows of an earlier sweep (its OUT.json) predicted again with the current cost model, against
 * the same simulations (the simulator is deterministic in its seed: a model change need not re-run it).
 */
export function repredict(rows: readonly SweepRow[], grants: boolean, maxMicroBatch?: number): SweepRow[] {
  return rows.map((r) => {
    const { c, plan, job } = accuracySetup(r.seed, { targetU: r.band, grants, ...(maxMicroBatch ? { maxMicroBatch } : {}) })
    const predicted = predict(plan, job, c.fleet, c.network)
    const b = busiest(predicted)
    return { ...r, predicted, utilisation: b.u, busiest: b.name, meanErr: predicted.latencyMs / r.simulated.latencyMs - 1, p95Err: predicted.p95LatencyMs / r.simulated.p95LatencyMs - 1 }
  })
}

const median = (xs: number[]): number => {
  if (!xs.length) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const pct = (k: number, n: number) => (n ? `${k} / ${n} (${((100 * k) / n).toFixed(0)}%)` : '-')
const signed = (x: number) => (Number.isNaN(x) ? '-' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`)

/** One Markdown row per band and set (and per busiest kind). */
export function sweepTable(rows: readonly SweepRow[]): string {
  const out = ['| busiest at | set | busiest is | plans | mean within 5% | p95 within 10% | both | median mean err | median p95 err | realised busiest (min-max) |', '|---|---|---|---|---|---|---|---|---|---|']
  const bands = [...new Set(rows.map((r) => r.band))]
  for (const band of bands) {
    for (const set of ['development', 'held out'] as const) {
      for (const kind of ['any', 'air', 'device'] as const) {
        const rs = rows.filter((r) => r.band === band && r.set === set && (kind === 'any' || (kind === 'air') === (r.busiest === 'air')))
        if (!rs.length) continue
        const m = rs.filter((r) => Math.abs(r.meanErr) <= 0.05).length
        const p = rs.filter((r) => Math.abs(r.p95Err) <= 0.1).length
        const b = rs.filter((r) => Math.abs(r.meanErr) <= 0.05 && Math.abs(r.p95Err) <= 0.1).length
        const us = rs.map((r) => r.utilisation)
        out.push(`| ${(band * 100).toFixed(0)}% | ${set} | ${kind} | ${rs.length} | ${pct(m, rs.length)} | ${pct(p, rs.length)} | ${pct(b, rs.length)} | ${signed(median(rs.map((r) => r.meanErr)))} | ${signed(median(rs.map((r) => r.p95Err)))} | ${(Math.min(...us) * 100).toFixed(1)}-${(Math.max(...us) * 100).toFixed(1)}% |`)
      }
    }
  }
  return out.join('\n')
}

if (process.argv[1]?.endsWith('run-ts.mjs') && process.argv[2]?.endsWith('load-sweep.ts')) {
  const args = process.argv.slice(3)
  const grants = args.includes('--grants')
  const batches = args.includes('--batches')
  const [dev = '100', held = '50', bands = '0.3,0.5,0.65,0.8', outFile] = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--repredict')
  const t0 = Date.now()
  const again = args.indexOf('--repredict')
  if (again >= 0) {
    // --repredict OLD.json: the same simulations, predicted with the current model
    const rows = repredict(JSON.parse(readFileSync(args[again + 1]!, 'utf8')) as SweepRow[], grants, batches ? 8 : undefined)
    console.log(`${new Date().toISOString()}, re-predicted ${args[again + 1]} (${rows.length} rows), ${grants ? 'hub grants' : 'at once'}${batches ? ', micro-batches 1-8' : ''}\n`)
    console.log(sweepTable(rows))
    process.exit(0)
  }
  const save = (rows: readonly SweepRow[]) => {
    if (outFile) writeFileSync(outFile, JSON.stringify(rows.map(({ predicted, ...r }) => ({ ...r, predicted: { latencyMs: predicted.latencyMs, p95LatencyMs: predicted.p95LatencyMs, utilisation: predicted.utilisation } }))))
  }
  const rows = sweep(Number(dev), Number(held), bands.split(',').map(Number), grants, (s, done) => {
    process.stderr.write(`${s}\n`)
    save(done) // each band as it ends
  }, batches ? 8 : undefined)
  console.log(`${new Date().toISOString()}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}, ${((Date.now() - t0) / 1000).toFixed(0)} s, ${grants ? 'hub grants' : 'at once'}${batches ? ', micro-batches 1-8' : ''}\n`)
  console.log(sweepTable(rows))
}
