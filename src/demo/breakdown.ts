/**
 * Where a request's time goes (pure): from the devices' trace events, per stage, the mean time
 * from the previous stage's send (the source's, for stage 0) until the stage had all its inputs
 * (transfer, with any slot wait of the sender), from then until it had run (queue and compute,
 * with the emulated time dilation), and from then until its outputs were sent (slot wait and
 * publish); the rest of the mean latency is the result's way back.
 */
import type { TraceEvent } from './fleet.js'

export interface StageBreakdown {
  stage: number
  devices: string[]
  transferInMs: number
  computeMs: number
  sendMs: number
  requests: number
  /** Runs that took longer on this host than their dilated profile time (the clock was too fast for them). */
  lateRuns: number
}

export function breakdown(events: readonly TraceEvent[]): StageBreakdown[] {
  const byReq = new Map<string, Map<number, Partial<Record<TraceEvent['phase'], number>> & { t0: number; device: string; late?: boolean }>>()
  for (const e of events) {
    let r = byReq.get(e.req)
    if (!r) byReq.set(e.req, (r = new Map()))
    const s = r.get(e.stage) ?? { t0: e.t0, device: e.device }
    s[e.phase] = e.atMs
    if (e.phase === 'ran' && (e.lateMs ?? 0) > 0) s.late = true
    r.set(e.stage, s)
  }
  const acc = new Map<number, { devices: Set<string>; tin: number; comp: number; send: number; n: number; late: number }>()
  for (const stages of byReq.values()) {
    for (const [k, s] of stages) {
      const prevSent = k === 0 ? s.t0 : stages.get(k - 1)?.sent
      if (s.inputs === undefined || s.ran === undefined || s.sent === undefined || prevSent === undefined) continue
      const a = acc.get(k) ?? { devices: new Set<string>(), tin: 0, comp: 0, send: 0, n: 0, late: 0 }
      a.devices.add(s.device)
      a.tin += s.inputs - prevSent
      a.comp += s.ran - s.inputs
      a.send += s.sent - s.ran
      a.n++
      if (s.late) a.late++
      acc.set(k, a)
    }
  }
  return [...acc.entries()].sort((a, b) => a[0] - b[0]).map(([stage, a]) => ({
    stage, devices: [...a.devices].sort(), transferInMs: round(a.tin / a.n), computeMs: round(a.comp / a.n), sendMs: round(a.send / a.n), requests: a.n, lateRuns: a.late,
  }))
}

const round = (x: number) => Math.round(x * 10) / 10
