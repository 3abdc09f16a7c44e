/**
 * Reports are plausible before they are used (issue 16, "Trusting reports"): caps bounded per op
 * class and link standard; a 0 ms stage time is refused; a device claiming far more FLOP/s than it
 * runs loses the job once its measured stage times come in; only a job's sources report its
 * request latencies. Real hub on the embedded broker, devices as real mqtt.js clients (emulated:
 * their caps and timings are synthetic).
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import type { Hub } from '../../src/hub/hub.js'
import { topics } from '../../src/protocol/topics.js'
import type { Caps, PlanEpochPayload } from '../../src/protocol/payloads.js'
import { jobDevice, type JobDevice } from '../helpers/job-device.js'
import { cbor, heartbeat, startHub, until, stopHubAndClients } from '../helpers/hub.js'

const JOB = { id: 'vision', model: 'resnet18', rateRps: 1, goal: 'latency', recostCron: '0 0 * * * *' }
let hub: Hub | null = null
const clients: MqttClient[] = []
afterEach(async () => {
  await stopHubAndClients(hub, clients)
  hub = null
})

async function device(id: string, patch: Partial<Caps> = {}): Promise<JobDevice> {
  const d = await jobDevice(hub!, id, 'vision', patch)
  clients.push(d.client)
  return d
}

const onDevice = (e: PlanEpochPayload, id: string) => e.parts.some((p) => p.weight > 0.05 && p.stages.some((s) => s.devices.includes(id)))

describe('caps are bounded', () => {
  it('refuses 1e30 FLOP/s and a Wi-Fi 5 link of 1 Tbit/s; the device is not registered', async () => {
    hub = await startHub()
    const liar = await device('dev-a', { compute: { cores: 4, flopsPerSec: { conv: 1e30, matmul: 1e30, elementwise: 1e30 }, accelerators: [] } })
    const fibber = await device('dev-b', { network: { linkRateBps: 1e12, interface: 'wifi', standard: 'wifi5' } })
    await until(() => liar.errors.length && fibber.errors.length, 3000, 'both refused')
    expect(JSON.parse(liar.errors[0]!.payload.toString()).message).toMatch(/compute\.flopsPerSec\.conv/)
    expect(JSON.parse(fibber.errors[0]!.payload.toString()).message).toMatch(/network\.linkRateBps: 1000000000000 bit\/s is above what wifi5 carries/)
    expect(hub.registry.online()).toEqual([])
  })
})

describe('stage times', () => {
  it('a stage time of 0 ms is refused: the job stays planned (before: pinned infeasible until the device left)', async () => {
    hub = await startHub({ jobs: [JOB], hub: { metrics: { host: '127.0.0.1', port: 0 } } })
    const a = await device('dev-a')
    const first = await until(() => a.assignments.find((x) => x.stages.length), 8000, 'an assignment')
    const timings = first.stages.map((s) => ({ jobId: 'vision', stage: s.stage, meanMs: 0, count: 10 }))
    for (let seq = 0; seq < 3; seq++) await a.client.publishAsync(topics.device('dev-a', 'heartbeat'), cbor(heartbeat(seq, { epoch: first.epoch, stageTimings: timings })), { qos: 1 })
    await new Promise((r) => setTimeout(r, 500))
    const job = hub.jobs[0]!
    expect(job.lastDecision?.action).not.toBe('infeasible')
    expect(job.epoch?.epoch).toBe(first.epoch)
    const metrics = await (await fetch(`http://127.0.0.1:${hub.metricsPort}/metrics`)).text()
    expect(metrics).toMatch(/dora_hub_bad_messages_total\{kind="report",code="DORA_REPORT_IMPLAUSIBLE"\} [1-9]/)
  })

  it('a device claiming the largest FLOP/s allowed but running slowly loses the job once measured', async () => {
    hub = await startHub({ jobs: [JOB] })
    const max = { compute: { cores: 4, flopsPerSec: { conv: 1e15, matmul: 1e15, elementwise: 1e14 }, accelerators: [] } }
    const liar = await device('dev-b', max)
    const honest = await device('dev-a', { compute: { cores: 8, flopsPerSec: { conv: 5e11, matmul: 5e11, elementwise: 1e11 }, accelerators: [] } })
    const drawn = await until(() => liar.epochs.find((e) => onDevice(e, 'dev-b')), 8000, 'the liar drawing the job at first')
    // it really runs at 1 GFLOP/s: its heartbeats report what its stages take
    let seq = 0
    for (let i = 0; i < 40 && onDevice(honest.epochs.at(-1) ?? drawn, 'dev-b'); i++) {
      const a = liar.assignments.at(-1)
      const stageTimings = (a?.stages ?? []).map((s) => ({ jobId: 'vision', stage: s.stage, meanMs: ((s.flops?.conv ?? 0) + (s.flops?.matmul ?? 0) + (s.flops?.elementwise ?? 0)) / 1e9 * 1000, count: 5 }))
      await liar.client.publishAsync(topics.device('dev-b', 'heartbeat'), cbor(heartbeat(seq++, { epoch: a?.epoch ?? null, stageTimings })), { qos: 1 })
      await new Promise((r) => setTimeout(r, 250))
    }
    const now = await until(() => honest.epochs.at(-1), 1000, 'an epoch')
    expect(onDevice(now, 'dev-b')).toBe(false)
    expect(onDevice(now, 'dev-a')).toBe(true)
    expect(now.reason).toMatch(/dev-b measured/)
  })
})

describe('request latencies', () => {
  it("only the job's sources report its latency: another device's 100,000 ms is ignored", async () => {
    hub = await startHub({ jobs: [{ ...JOB, source: 'dev-a' }] })
    const a = await device('dev-a')
    const b = await device('dev-b')
    await until(() => a.epochs.at(-1), 8000, 'first epoch')
    await b.client.publishAsync(topics.device('dev-b', 'heartbeat'), cbor(heartbeat(1, { requestLatencies: [{ jobId: 'vision', meanMs: 100_000, p95Ms: 100_000, count: 50 }] })), { qos: 1 })
    await new Promise((r) => setTimeout(r, 400))
    const job = hub.jobs[0]!
    expect(job.measuredFigures(Date.now())).toBeNull()
    expect(job.lastDecision?.reason ?? '').not.toMatch(/100000 ms/)
    await a.client.publishAsync(topics.device('dev-a', 'heartbeat'), cbor(heartbeat(1, { requestLatencies: [{ jobId: 'vision', meanMs: 120, p95Ms: 150, count: 10 }] })), { qos: 1 })
    const m = await until(() => job.measuredFigures(Date.now()), 3000, 'the source measurement')
    expect(m.latencyMs).toBe(120)
  })
})
