/**
 * The hub's status page (pure): the fleet, each job's QoE, and each job's current plan as a
 * picture: the stages on their devices and a Gantt chart of one transfer cycle. Plain HTML with
 * inline SVG, no scripts; it reloads itself every few seconds.
 */
import type { DeviceRecord } from '../registry/registry.js'
import type { JobService } from '../hub/job-service.js'
import { escapeXml as esc, ganttSvg } from './gantt.js'

export interface StatusInputs {
  readonly hubId: string
  readonly devices: readonly DeviceRecord[]
  readonly jobs: readonly JobService[]
  readonly nowMs: number
}

const fmt = (x: number | null | undefined, digits = 0, unit = '') => (x === null || x === undefined || !Number.isFinite(x) ? '-' : `${x.toFixed(digits)}${unit}`)

function fleet(devices: readonly DeviceRecord[]): string {
  const rows = devices.map((d) => {
    const hb = d.lastHeartbeat
    return `<tr class="device"><td>${esc(d.id)}</td><td>${esc(d.caps?.kind ?? '?')}${d.caps?.emulated ? ' <em>(emulated)</em>' : ''}</td><td class="${d.status}">${d.status}</td>`
      + `<td>${fmt(hb ? hb.load * 100 : null, 0, '%')}</td><td>${fmt(hb?.batteryPct ?? null, 0, '%')}</td><td>${fmt(hb?.linkThroughputBps != null ? hb.linkThroughputBps / 1e6 : null, 0, ' Mbit/s')}</td><td>${hb?.epoch ?? '-'}</td></tr>`
  })
  return `<table><thead><tr><th>device</th><th>kind</th><th>status</th><th>load</th><th>battery</th><th>link</th><th>epoch ready</th></tr></thead><tbody>${rows.join('') || '<tr><td colspan="7">no device yet</td></tr>'}</tbody></table>`
}

function job(j: JobService, nowMs: number): string {
  const e = j.epoch
  const q = j.plannerJob?.qoe ?? {}
  const m = j.measuredFigures(nowMs)
  const bounds = [q.latencyMs !== undefined ? `latency <= ${q.latencyMs} ms` : '', q.p95LatencyMs !== undefined ? `p95 <= ${q.p95LatencyMs} ms` : '', q.throughputRps !== undefined ? `throughput >= ${q.throughputRps}/s` : '', q.energyJPerRequest !== undefined ? `energy <= ${q.energyJPerRequest} J` : ''].filter(Boolean).join(', ') || 'none'
  const head = `<h2>job ${esc(j.id)} <small>${esc(j.model)}, goal ${esc(j.plannerJob?.goal ?? '?')}</small></h2>`
    + `<p>QoE bounds: ${esc(bounds)}. Predicted: ${fmt(e?.predicted.latencyMs, 0, ' ms')} (p95 ${fmt(e?.predicted.p95LatencyMs, 0, ' ms')}), ${fmt(e?.predicted.energyJPerRequest, 2, ' J')} a request.`
    + ` Measured by the sources (30 s): ${m ? `${fmt(m.latencyMs, 0, ' ms')} (p95 ${fmt(m.p95Ms, 0, ' ms')}), ${fmt(m.throughputRps, 2, '/s')}` : 'nothing reported yet'}.</p>`
  if (!e) return `<section class="job">${head}<p>No plan yet.</p></section>`
  const parts = e.parts.map((p) => {
    const stages = p.plan.stages.map((s, k) => `<span class="stage">stage ${k}: layers ${s.layers[0]}-${s.layers[1]} on <b>${s.devices.map(esc).join(' + ')}</b></span>`).join(' &rarr; ')
    const devices = [...new Set(p.plan.stages.flatMap((s) => s.devices))]
    const chart = p.schedule ? ganttSvg(p.schedule, devices) : '<p>No transfer schedule (transfers go as the air allows).</p>'
    const cycle = p.schedule ? `<p>One cycle: ${p.schedule.cycleMs.toFixed(1)} ms, ${p.schedule.microBatchesPerCycle} micro-batch(es), air held ${(p.schedule.airShare * 100).toFixed(0)}%.</p>` : ''
    return `<div class="part"><h3>plan ${esc(p.plan.id)} (${(p.weight * 100).toFixed(0)}% of requests, micro-batch ${p.plan.microBatch})</h3><p class="stages">${stages}</p>${cycle}${chart}</div>`
  })
  return `<section class="job">${head}<p>Epoch ${e.epoch}: ${esc(e.reason)}</p>${parts.join('')}</section>`
}

export function statusPage(s: StatusInputs): string {
  const emulated = s.devices.some((d) => d.caps?.emulated)
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>Dora hub ${esc(s.hubId)}</title>`
    + '<style>body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:3px 10px;text-align:left}.online{color:#2a7a2a}.offline{color:#b22}.stage{white-space:nowrap}svg.gantt{border:1px solid #ccc;margin:6px 0}</style></head>'
    + `<body><h1>Dora hub ${esc(s.hubId)}</h1>${emulated ? '<p><strong>EMULATION:</strong> some devices are emulated profiles.</p>' : ''}`
    + `<h2>Fleet</h2>${fleet(s.devices)}${s.jobs.map((j) => job(j, s.nowMs)).join('') || '<p>No job.</p>'}`
    + `<p><small>${new Date(s.nowMs).toISOString()}; metrics at <a href="/metrics">/metrics</a></small></p></body></html>`
}
