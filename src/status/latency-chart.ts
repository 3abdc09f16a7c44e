/**
 * A small SVG chart of one job's running latency over time (pure): the measured mean as a line
 * with a dot per sample, the prediction as a line, the bound as a dashed line.
 */
import type { LatencyPoint } from './latency-history.js'

const W = 640
const H = 180
const PAD = { left: 52, right: 12, top: 12, bottom: 26 }

const num = (x: number) => (Math.round(x * 10) / 10).toString()

export function latencyChartSvg(points: readonly LatencyPoint[]): string {
  const values = points.flatMap((p) => [p.measuredMs, p.predictedMs, p.boundMs]).filter((v): v is number => v !== null && Number.isFinite(v))
  if (points.length === 0 || values.length === 0) return '<p class="latency-empty">No latency yet: the chart starts with the first plan and the first results.</p>'
  const t0 = points[0]!.atMs
  const t1 = Math.max(points[points.length - 1]!.atMs, t0 + 1000)
  const top = Math.max(...values) * 1.15 || 1
  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right)
  const y = (v: number) => PAD.top + (1 - v / top) * (H - PAD.top - PAD.bottom)
  const line = (cls: string, key: 'measuredMs' | 'predictedMs' | 'boundMs') => {
    const pts = points.filter((p) => p[key] !== null).map((p) => `${num(x(p.atMs))},${num(y(p[key]!))}`)
    return pts.length ? `<polyline class="${cls}" points="${pts.join(' ')}"/>` : ''
  }
  const dots = points.filter((p) => p.measuredMs !== null).map((p) => `<circle class="point" cx="${num(x(p.atMs))}" cy="${num(y(p.measuredMs!))}" r="2.5"><title>${p.measuredMs!.toFixed(0)} ms</title></circle>`)
  const ticks = [0, 0.5, 1].map((f) => top * f / 1.15).map((v) => `<text x="${PAD.left - 6}" y="${num(y(v) + 4)}" text-anchor="end">${v.toFixed(0)}</text><line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${num(y(v))}" y2="${num(y(v))}"/>`)
  const spanS = Math.round((t1 - t0) / 1000)
  return `<svg class="latency" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="request latency over the last ${spanS} s, ms">`
    + '<style>.latency polyline{fill:none;stroke-width:2}.latency .measured{stroke:#1f6fd1}.latency .predicted{stroke:#e08a00}.latency .bound{stroke:#c22;stroke-dasharray:6 4}.latency .point{fill:#1f6fd1}.latency .grid{stroke:#eee}.latency text{font:11px sans-serif;fill:#555}</style>'
    + ticks.join('')
    + line('bound', 'boundMs') + line('predicted', 'predictedMs') + line('measured', 'measuredMs') + dots.join('')
    + `<text x="${PAD.left}" y="${H - 8}">ms; last ${spanS} s</text>`
    + `<text x="${W - PAD.right}" y="${H - 8}" text-anchor="end"><tspan fill="#1f6fd1">measured</tspan> <tspan fill="#e08a00">predicted</tspan> <tspan fill="#c22">bound</tspan></text>`
    + '</svg>'
}
