/**
 * A text Gantt chart of one cycle of a transfer schedule: a row for the air and one per device's
 * processor; each character is a time bin, showing the micro-batch (0-9, a-z) that holds it, or
 * '.' when idle. Pure.
 */
import type { Schedule } from '../planner/network/scheduler.js'

const mark = (m: number) => (m < 10 ? String(m) : String.fromCharCode(97 + ((m - 10) % 26)))

export function gantt(s: Schedule, width = 72): string {
  const bin = s.cycleMs / width
  const row = (spans: ReadonlyArray<{ offsetMs: number; durationMs: number; microBatch: number }>) => {
    const cells = Array<string>(width).fill('.')
    for (const x of spans) {
      const first = Math.floor(x.offsetMs / bin)
      const bins = Math.max(1, Math.round(x.durationMs / bin))
      for (let k = 0; k < bins; k++) cells[(first + k) % width] = mark(x.microBatch)
    }
    return cells.join('')
  }
  const devices = [...new Set(s.compute.map((c) => c.device))]
  const label = (x: string) => x.padEnd(Math.max(8, ...devices.map((d) => d.length)))
  const lines = [
    `${label('')} |0${' '.repeat(width - 2 - String(s.cycleMs.toFixed(0)).length)}${s.cycleMs.toFixed(0)} ms|`,
    `${label('air')} |${row(s.slots.map((x) => ({ ...x, durationMs: x.durationMs + s.guardMs })))}|`,
    ...devices.map((d) => `${label(d)} |${row(s.compute.filter((c) => c.device === d))}|`),
  ]
  return lines.join('\n')
}
