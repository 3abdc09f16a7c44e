/**
 * The hub's status page (pure): the fleet, each job's QoE with its running latency against the
 * prediction and the bound (a chart), and each job's current plan as a picture: the stages on
 * their devices and a Gantt chart of one transfer cycle. Plain HTML with inline SVG; a few lines
 * of script take the sections the server sends as events (src/status/events.ts) and put them in
 * place, so the page updates live without reloading.
 */
import type { DeviceRecord } from '../registry/registry.js'
import type { JobView } from '../views/hub-view.js'
import { escapeXml as esc, ganttSvg } from './gantt.js'
import { latencyChartSvg } from './latency-chart.js'
import type { LatencyHistory } from './latency-history.js'
import { gapsText } from '../planner/adapt/adapter.js'

export interface StatusInputs {
  readonly hubId: string
  readonly devices: readonly DeviceRecord[]
  readonly jobs: readonly JobView[]
  readonly nowMs: number
  /** Each job's latency samples (the chart); none: no chart. */
  readonly history?: LatencyHistory
}

const fmt = (x: number | null | undefined, digits = 0, unit = '') => (x === null || x === undefined || !Number.isFinite(x) ? '-' : `${x.toFixed(digits)}${unit}`)

function fleet(devices: readonly DeviceRecord[]): string {
  const rows = devices.map((d) => {
    const hb = d.lastHeartbeat
    return `<tr class="device"><td>${esc(d.id)}</td><td>${esc(d.caps?.kind ?? '?')}${d.caps?.emulated ? ' <em>(emulated)</em>' : ''}</td><td class="${d.status}">${d.status}</td>`
      + `<td class="load">${fmt(hb ? hb.load * 100 : null, 0, '%')}${hb && d.caps?.emulated ? ' <small>(emulated)</small>' : ''}</td><td>${fmt(hb?.batteryPct ?? null, 0, '%')}</td><td>${fmt(hb?.linkThroughputBps != null ? hb.linkThroughputBps / 1e6 : null, 0, ' Mbit/s')}</td><td>${hb?.epoch ?? '-'}</td></tr>`
  })
  return `<table><thead><tr><th>device</th><th>kind</th><th>status</th><th>load</th><th>battery</th><th>link</th><th>epoch ready</th></tr></thead><tbody>${rows.join('') || '<tr><td colspan="7">no device yet</td></tr>'}</tbody></table>`
}

function job(j: JobView, nowMs: number, history: LatencyHistory | undefined): string {
  const e = j.epoch
  const q = j.plannerJob?.qoe ?? {}
  const m = j.measuredFigures(nowMs)
  const bounds = [q.latencyMs !== undefined ? `latency <= ${q.latencyMs} ms` : '', q.p95LatencyMs !== undefined ? `p95 <= ${q.p95LatencyMs} ms` : '', q.throughputRps !== undefined ? `throughput >= ${q.throughputRps}/s` : '', q.energyJPerRequest !== undefined ? `energy <= ${q.energyJPerRequest} J` : ''].filter(Boolean).join(', ') || 'none'
  const head = `<h2>job ${esc(j.id)} <small>${esc(j.model)}, goal ${esc(j.plannerJob?.goal ?? '?')}</small></h2>`
    + `<p>QoE bounds: ${esc(bounds)}. Predicted: ${fmt(e?.predicted.latencyMs, 0, ' ms')} (p95 ${fmt(e?.predicted.p95LatencyMs, 0, ' ms')}), ${fmt(e?.predicted.energyJPerRequest, 2, ' J')} a request.`
    + ` Measured by the sources (30 s): ${m ? `${fmt(m.latencyMs, 0, ' ms')} (p95 ${fmt(m.p95Ms, 0, ' ms')}), ${fmt(m.throughputRps, 2, '/s')}` : 'nothing reported yet'}.</p>`
  const chart = history ? `<h3>Request latency</h3>${latencyChartSvg(history.of(j.id))}` : ''
  if (!e) return `<section class="job">${head}${chart}${j.notRunning ? `<p class="warn"><b>Not running</b>: ${esc(j.notRunning)}.</p>` : '<p>No plan yet.</p>'}</section>`
  const parts = e.parts.map((p) => {
    const stages = p.plan.stages.map((s, k) => `<span class="stage">stage ${k}: layers ${s.layers[0]}-${s.layers[1]} on <b>${s.devices.map(esc).join(' + ')}</b></span>`).join(' &rarr; ')
    const devices = [...new Set(p.plan.stages.flatMap((s) => s.devices))]
    const chart = p.schedule ? ganttSvg(p.schedule, devices) : '<p>No transfer schedule (transfers go as the air allows).</p>'
    const cycle = p.schedule ? `<p>One cycle: ${p.schedule.cycleMs.toFixed(1)} ms, ${p.schedule.microBatchesPerCycle} micro-batch(es), air held ${(p.schedule.airShare * 100).toFixed(0)}%.</p>` : ''
    return `<div class="part"><h3>plan ${esc(p.plan.id)} (${(p.weight * 100).toFixed(0)}% of requests, micro-batch ${p.plan.microBatch})</h3><p class="stages">${stages}</p>${cycle}${chart}</div>`
  })
  const closest = e.closest ? `<p class="warn"><b>No plan meets the QoE bounds</b>: running the closest plan (${esc(gapsText(e.closest) || 'the mix misses them')}).</p>` : ''
  return `<section class="job">${head}${chart}${closest}<p>Epoch ${e.epoch}: ${esc(e.reason)}</p>${parts.join('')}</section>`
}

/** The page's live sections, as the JSON document each server-sent `status` event carries. */
export function statusSections(s: StatusInputs): { fleet: string; jobs: string; stamp: string } {
  return {
    fleet: fleet(s.devices),
    jobs: s.jobs.map((j) => job(j, s.nowMs, s.history)).join('') || '<p>No job.</p>',
    stamp: new Date(s.nowMs).toISOString(),
  }
}

// takes the server's sections as they come; counts updates (data-updates) for whoever watches
const LIVE_SCRIPT = "const n={v:0};const es=new EventSource('events');"
  + "es.addEventListener('status',(e)=>{const d=JSON.parse(e.data);for(const k of ['fleet','jobs','stamp'])document.getElementById(k).innerHTML=d[k];"
  + "document.body.dataset.updates=String(++n.v);document.getElementById('live').textContent='live';});"
  + "es.onerror=()=>{document.getElementById('live').textContent='reconnecting';};"

export function statusPage(s: StatusInputs): string {
  const emulated = s.devices.some((d) => d.caps?.emulated)
  const sec = statusSections(s)
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Dora hub ${esc(s.hubId)}</title>`
    + '<style>body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:3px 10px;text-align:left}.online{color:#2a7a2a}.offline{color:#b22}.stage{white-space:nowrap}.warn{color:#b22}svg.gantt,svg.latency{border:1px solid #ccc;margin:6px 0}</style></head>'
    + `<body data-updates="0"><h1>Dora hub ${esc(s.hubId)}</h1>${emulated ? '<p><strong>EMULATION:</strong> some devices are emulated profiles; their load is the emulated hardware\'s, not this machine\'s.</p>' : ''}`
    + `<h2>Fleet</h2><div id="fleet">${sec.fleet}</div><div id="jobs">${sec.jobs}</div>`
    + `<p><small><span id="stamp">${sec.stamp}</span> (<span id="live">connecting</span>); metrics at <a href="/metrics">/metrics</a></small></p>`
    + `<script>${LIVE_SCRIPT}</script></body></html>`
}
