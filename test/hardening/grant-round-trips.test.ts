/**
 * Grants priced with their measured round trip (issue 15, "Slots that pay"): devices report the
 * round trips of the air grants they got in their heartbeats; the hub plans with the fleet's
 * plausible figure (the median of the devices', each report within 10x of the model's round trip
 * for the device's link and counting no more round trips than the hub granted it), and the
 * transfer modes are chosen again with it. Real hub on the embedded broker, devices as real
 * mqtt.js clients that ask the hub's desk for the air (runtime/air-grants.ts).
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import type { Hub } from '../../src/hub/hub.js'
import { topics } from '../../src/protocol/topics.js'
import { AirGrants } from '../../src/runtime/air-grants.js'
import type { Heartbeat } from '../../src/protocol/payloads.js'
import { jobDevice, type JobDevice } from '../helpers/job-device.js'
import { DEVICE_PASSWORD, cbor, heartbeat, startHub, until, stopHubAndClients } from '../helpers/hub.js'

const JOB = { id: 'vision', model: 'resnet18', rateRps: 1, goal: 'latency', recostCron: '0 0 * * * *' }
let hub: Hub | null = null
const clients: MqttClient[] = []
afterEach(async () => {
  await stopHubAndClients(hub, clients)
  hub = null
})

/** A job device that can ask the hub's desk for the air. */
async function device(id: string): Promise<JobDevice & { air: AirGrants; hb: (seq: number, grants: Heartbeat['grants']) => Promise<void> }> {
  const d = await jobDevice(hub!, id, 'vision')
  clients.push(d.client)
  const air = new AirGrants({ deviceId: id, clock: () => performance.now(), timeoutMs: 5000, estimateMs: () => 1, publish: async (t, p, qos) => void (await d.client.publishAsync(t, p, { qos })) })
  d.client.on('message', (topic, payload) => topic === topics.device(id, 'grant') && air.onGrant(payload))
  await d.client.subscribeAsync(topics.device(id, 'grant'), { qos: 1 })
  const hb = async (seq: number, grants: Heartbeat['grants']) => void (await d.client.publishAsync(topics.device(id, 'heartbeat'), cbor(heartbeat(seq, grants ? { grants } : {})), { qos: 1 }))
  return { ...d, air, hb }
}

const grantsOf = (hub: Hub) => hub.jobs[0]!.epoch?.parts.map((p) => p.modes!.grants.latencyMs)

describe('grant round trips', () => {
  it('the hub plans grants with the round trip the devices measured; implausible and unearned reports are refused', async () => {
    hub = await startHub({ jobs: [JOB], hub: { metrics: { host: '127.0.0.1', port: 0 } }, auth: { devices: ['dev-a', 'dev-b', 'dev-c'].map((id) => ({ id, password: DEVICE_PASSWORD })) } })
    const a = await device('dev-a')
    const b = await device('dev-b')
    const c = await device('dev-c')
    await until(() => hub!.jobs[0]!.epoch, 8000, 'a first epoch')
    const before = grantsOf(hub)!
    expect(hub.jobs[0]!.epoch!.grantRoundTripMs).toBeUndefined()
    for (let i = 0; i < 5; i++) await a.air.withAir(100, async () => undefined)
    for (let i = 0; i < 5; i++) await b.air.withAir(100, async () => undefined)
    // hostile: dev-b claims 5 s a round trip (beyond 10x the model's ~2 ms), dev-c reports 50 round trips it was never granted
    await b.hb(1, { meanMs: 5000, count: 5 })
    await c.hb(1, { meanMs: 8, count: 50 })
    await new Promise((r) => setTimeout(r, 400))
    expect(hub.jobs[0]!.epoch!.grantRoundTripMs).toBeUndefined()
    expect(grantsOf(hub)).toEqual(before)
    const metrics = await (await fetch(`http://127.0.0.1:${hub.metricsPort}/metrics`)).text()
    expect(metrics).toMatch(/dora_hub_bad_messages_total\{kind="report",code="DORA_REPORT_IMPLAUSIBLE"\} [2-9]/)
    // dev-a measured 8 ms (the emulated fleet's figure, BENCHMARKS.md): the planner prices grants with it
    await a.hb(1, { meanMs: 8, count: 5 })
    const e = await until(() => hub!.jobs[0]!.epoch?.grantRoundTripMs === 8 && hub!.jobs[0]!.epoch, 3000, 'the measured round trip planned with')
    expect(hub.jobs[0]!.lastDecision!.reason).toMatch(/grants measured at 8\.00 ms a round trip \(planned with [0-9.]+ ms, modelled\)/)
    e.parts.forEach((p, k) => expect(p.modes!.grants.latencyMs).toBeGreaterThan(before[k]!))
    // a report with more round trips than granted since the last is refused: the figure stays
    await a.hb(2, { meanMs: 2, count: 5 })
    await new Promise((r) => setTimeout(r, 300))
    expect(hub.jobs[0]!.epoch!.grantRoundTripMs).toBe(8)
  })
})
