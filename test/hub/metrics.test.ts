/** The hub's Prometheus endpoint: device, job and adapter metrics from a running hub. */
import { afterEach, describe, expect, it } from 'vitest'
import { caps, cbor, connect, deviceUrl, DEVICE_PASSWORD, heartbeat, startHub, until } from '../helpers/hub.js'
import type { Hub } from '../../src/hub/hub.js'
import { topics } from '../../src/protocol/topics.js'

let hub: Hub | null = null
afterEach(async () => {
  await hub?.stop()
  hub = null
})

const scrape = async (h: Hub) => (await fetch(`http://127.0.0.1:${h.metricsPort}/metrics`)).text()

describe('metrics endpoint', () => {
  it('serves device, job and adapter metrics in the Prometheus text format', async () => {
    hub = await startHub({
      hub: { metrics: { host: '127.0.0.1', port: 0 } },
      jobs: [{ id: 'digits', model: 'mlp', rateRps: 2, goal: 'latency', recostCron: '0 0 * * * *' }],
    })
    const d = await connect(deviceUrl(hub), { username: 'dev-a', password: DEVICE_PASSWORD, clientId: 'dev-a' })
    await d.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a', { power: { idleW: 2, activeW: 6, battery: { capacityWh: 10, levelPct: 80, charging: false } } })), { qos: 1, retain: true })
    for (let seq = 0; seq < 2; seq++) await d.publishAsync(topics.device('dev-a', 'heartbeat'), cbor(heartbeat(seq, { batteryPct: 77, load: 0.5 })), { qos: 1 })
    await until(() => hub!.jobs[0]!.epoch, 8000, 'a plan epoch')
    let text = ''
    for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      text = await scrape(hub!)
      if (/dora_device_battery_percent\{device="dev-a",emulated="true"\} 77/.test(text)) break
    }
    expect(text).toMatch(/dora_device_battery_percent\{device="dev-a",emulated="true"\} 77/)
    expect(text).toMatch(/# TYPE dora_devices gauge/)
    expect(text).toMatch(/dora_devices\{status="online"\} 1/)
    expect(text).toMatch(/dora_device_load\{device="dev-a",emulated="true"\} [\d.]+/)
    expect(text).toMatch(/dora_job_epoch\{job="digits"\} 1/)
    expect(text).toMatch(/dora_job_predicted_latency_ms\{job="digits"\} [\d.]+/)
    expect(text).toMatch(/dora_adapter_runs_total\{job="digits",action="replan"\} \d+/)
    expect(text).toMatch(/dora_adapter_seconds_count\{job="digits"\} \d+/)
    expect(text).toMatch(/dora_hub_process_cpu_seconds_total/)
    expect((await fetch(`http://127.0.0.1:${hub.metricsPort}/other`)).status).toBe(404)
    d.end(true)
  })

  it('is off unless a port is configured', async () => {
    hub = await startHub()
    expect(hub.metricsPort).toBeNull()
  })
})
