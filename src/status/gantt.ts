/**
 * A plan's transfer cycle as an SVG Gantt chart (pure): one lane for the shared Wi-Fi with every
 * transfer slot (coloured by sender), and one lane per device with its compute blocks (coloured
 * by stage), over one cycle of the schedule, with a time axis.
 */
import type { Schedule } from '../planner/network/scheduler.js'

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac']
const LANE = 26
const LABEL = 110
const WIDTH = 900

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!)
}

export function ganttSvg(schedule: Schedule, devices: readonly string[]): string {
  const cycle = schedule.cycleMs
  const x = (ms: number) => LABEL + (Math.max(0, Math.min(cycle, ms)) / cycle) * (WIDTH - LABEL - 10)
  const w = (ms: number) => Math.max(1, (Math.min(cycle, ms) / cycle) * (WIDTH - LABEL - 10))
  const lanes = ['Wi-Fi (air)', ...devices]
  const height = lanes.length * LANE + 48
  // a block that runs past the cycle's end wraps to its start (the cycle repeats)
  const pieces = (offsetMs: number, durationMs: number): Array<[number, number]> => {
    const start = ((offsetMs % cycle) + cycle) % cycle
    const first = Math.min(durationMs, cycle - start)
    return first < durationMs ? [[start, first], [0, Math.min(cycle, durationMs - first)]] : [[start, durationMs]]
  }
  const senders = [...new Set(Object.keys(schedule.byDevice))].sort()
  const colour = (i: number) => PALETTE[i % PALETTE.length]!
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="gantt" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="one cycle of ${cycle.toFixed(1)} ms">`)
  out.push(`<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`)
  lanes.forEach((name, i) => {
    const y = i * LANE
    out.push(`<rect x="${LABEL}" y="${y + 2}" width="${WIDTH - LABEL - 10}" height="${LANE - 4}" fill="${i === 0 ? '#eef3fb' : '#f5f5f5'}"/>`)
    out.push(`<text x="4" y="${y + LANE / 2 + 4}" font-family="sans-serif" font-size="12">${escapeXml(name)}</text>`)
  })
  for (const [sender, slots] of Object.entries(schedule.byDevice)) {
    const c = colour(senders.indexOf(sender))
    for (const s of slots) {
      for (const [at, len] of pieces(s.offsetMs, s.durationMs)) {
        out.push(`<rect class="slot" x="${x(at).toFixed(1)}" y="4" width="${w(len).toFixed(1)}" height="${LANE - 8}" fill="${c}"><title>${escapeXml(`${sender} -> ${s.to}: ${s.tensor}, ${s.bytes} bytes, ${s.offsetMs.toFixed(1)} ms +${s.durationMs.toFixed(1)} ms`)}</title></rect>`)
      }
    }
  }
  for (const b of schedule.compute) {
    const lane = devices.indexOf(b.device)
    if (lane < 0) continue
    const y = (lane + 1) * LANE
    for (const [at, len] of pieces(b.offsetMs, b.durationMs)) {
      out.push(`<rect class="compute" x="${x(at).toFixed(1)}" y="${y + 4}" width="${w(len).toFixed(1)}" height="${LANE - 8}" fill="${colour(b.stage + 3)}"><title>${escapeXml(`${b.device}: stage ${b.stage}, micro-batch ${b.microBatch}, ${b.offsetMs.toFixed(1)} ms +${b.durationMs.toFixed(1)} ms`)}</title></rect>`)
    }
  }
  const axisY = lanes.length * LANE + 12
  for (let k = 0; k <= 4; k++) {
    const ms = (cycle * k) / 4
    out.push(`<text x="${x(ms).toFixed(1)}" y="${axisY + 6}" font-family="sans-serif" font-size="11" text-anchor="${k === 4 ? 'end' : 'middle'}">${ms.toFixed(0)} ms</text>`)
  }
  // legend: who sends in the air lane
  let lx = LABEL
  for (const sender of senders) {
    out.push(`<rect x="${lx}" y="${axisY + 16}" width="10" height="10" fill="${colour(senders.indexOf(sender))}"/><text x="${lx + 14}" y="${axisY + 25}" font-family="sans-serif" font-size="11">${escapeXml(sender === 'hub' ? 'access point (hub)' : sender)} sends</text>`)
    lx += 150
  }
  out.push('</svg>')
  return out.join('')
}
