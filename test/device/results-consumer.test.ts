/**
 * Results go to the job's consumer (issue 15; topics.md § Results and receipts), on a real hub
 * and Aedes broker with real device agents running their stages in onnxruntime: by default the
 * hub receives every result, counts it and measures its latency; the camera that sent the frame
 * gets a receipt, not the results. With `results: source` the camera gets its own results and
 * the hub none. A dashboard (observer) sees which topics carried what.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { DEVICE_PASSWORD, connect, deviceUrl, startHub, until } from '../helpers/hub.js'
import type { Hub } from '../../src/hub/hub.js'
import { smallBoard } from '../helpers/devices.js'
import { filters, parseTopic } from '../../src/protocol/topics.js'

let hub: Hub | null = null
let watcher: MqttClient | null = null
const agents: DeviceAgent[] = []

afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop()
  await watcher?.endAsync()
  watcher = null
  await hub?.stop()
  hub = null
})

async function device(id: string, errors: string[]): Promise<DeviceAgent> {
  const a = new DeviceAgent({ url: deviceUrl(hub!), id, password: DEVICE_PASSWORD, profile: smallBoard(id), heartbeatMs: 200, cacheDir: mkdtempSync(join(tmpdir(), 'dora-models-')), onError: (m) => errors.push(`${id}: ${m}`) })
  agents.push(a)
  await a.start()
  return a
}

/** A hub with a job whose source is the camera dev-a, both devices joined and the plan open; a dashboard counting results and receipts by consumer. */
async function setUp(results: unknown): Promise<{ cam: DeviceAgent; errors: string[]; seen: Map<string, number> }> {
  hub = await startHub({ jobs: [{ id: 'det', model: 'mlp', sources: [{ device: 'dev-a', rateRps: 2 }], results, goal: 'latency', qoe: { latencyMs: 5000 }, recostCron: '0 0 * * * *' }] })
  const errors: string[] = []
  const cam = await device('dev-a', errors)
  const other = await device('dev-b', errors)
  await until(() => [cam, other].some((d) => d.assignments.get('det')?.stages.length) && cam.assignments.has('det'), 15_000, 'the plan on the devices')
  await until(() => agents.every((a) => !a.assignments.get('det')?.stages.length || a.sessions.size > 0), 20_000, 'stage sessions')
  const seen = new Map<string, number>()
  watcher = await connect(deviceUrl(hub), { username: 'dash', password: 'dash-secret' })
  watcher.on('message', (topic) => {
    const t = parseTopic(topic)
    if (t?.scope === 'results') seen.set(`${t.kind}/${t.toId}`, (seen.get(`${t.kind}/${t.toId}`) ?? 0) + 1)
  })
  await watcher.subscribeAsync([filters.allJobResults, filters.allJobReceipts], { qos: 1 })
  return { cam, errors, seen }
}

describe('results go to the job\'s consumer', () => {
  it('by default the hub: it counts every request and measures its latency; the camera gets receipts, not results', async () => {
    const { cam, errors, seen } = await setUp(undefined)
    const r = await cam.startSource('det', 4)
    await until(() => r.stats.completed >= 5 || null, 30_000, 'five requests answered')
    await until(() => (hub!.results.consumed('det')?.completed ?? 0) >= 5 || null, 10_000, 'five results at the hub')
    const atHub = hub!.results.consumed('det')!
    expect(atHub.bySource['dev-a']).toBeGreaterThanOrEqual(5)
    expect(atHub.duplicates).toBe(0)
    expect(atHub.latenciesMs.length).toBe(atHub.completed)
    for (const ms of atHub.latenciesMs) expect(ms).toBeGreaterThan(0)
    // results crossed only the hub's topic; the camera got a receipt for each
    expect(seen.get('results/hub') ?? 0).toBeGreaterThanOrEqual(5)
    expect(seen.get('results/dev-a') ?? 0).toBe(0)
    expect(seen.get('receipts/dev-a') ?? 0).toBeGreaterThanOrEqual(5)
    expect(r.stats).toMatchObject({ failed: 0, duplicates: 0 })
    expect(errors).toEqual([])
  }, 90_000)

  it('with results: source the camera asks for its own results, and the hub gets none', async () => {
    const { cam, errors, seen } = await setUp('source')
    const r = await cam.startSource('det', 4)
    await until(() => r.stats.completed >= 5 || null, 30_000, 'five requests answered')
    expect(seen.get('results/dev-a') ?? 0).toBeGreaterThanOrEqual(5)
    expect(seen.get('results/hub') ?? 0).toBe(0)
    expect(seen.get('receipts/dev-a') ?? 0).toBe(0)
    expect(hub!.results.consumed('det')).toBeNull()
    expect(r.stats).toMatchObject({ failed: 0, duplicates: 0 })
    expect(errors).toEqual([])
  }, 90_000)

  it('a job spec naming a consumer that is no device of the fleet, or a reserved name, is refused', async () => {
    const { scenarioSchema } = await import('../../src/scenario/schema.js')
    const base = { name: 's', network: { standard: 'wifi5' }, devices: [{ id: 'cam', kind: 'pi', flopsPerSec: { conv: 1e10, matmul: 1e10, elementwise: 1e9 }, memoryBytes: 1e9, idleW: 1, activeW: 2, linkRateBps: 1e8 }] }
    const job = { id: 'j', model: 'mlp', source: 'cam', rateRps: 1, goal: 'latency' }
    const issues = (results: unknown) => { const r = scenarioSchema.safeParse({ ...base, job: { ...job, results } }); return r.success ? [] : r.error.issues.map((i) => i.message) }
    expect(issues({ device: 'nobody' })).toEqual(['no device nobody in this scenario'])
    expect(issues({ device: 'hub' })[0]).toMatch(/reserved/)
    expect(issues('elsewhere').length).toBeGreaterThan(0)
    expect(issues({ device: 'cam' })).toEqual([])
    expect(issues(undefined)).toEqual([])
    expect(scenarioSchema.parse({ ...base, job }).job.results).toBe('hub')
  })
})
