/**
 * The hub's job service on its own (hub/job-service.ts), no broker: its publishes are captured.
 * An epoch goes out as the plan, then each stage model's chunks before the assignment that names
 * it; a device that leaves gets an empty assignment and the plan names it departed; a standby hub
 * plans nothing, and a hub that takes over (or restarts) numbers its epochs after the newest seen.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { JobService } from '../../src/hub/job-service.js'
import { loadConfig } from '../../src/config/load.js'
import { silentLogger } from '../../src/log.js'
import { decodeCbor } from '../../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../../src/protocol/cbor-budgets.js'
import { assignmentSchema, planEpochSchema, type PlanEpochPayload } from '../../src/protocol/payloads.js'
import { topics } from '../../src/protocol/topics.js'
import type { DeviceRecord } from '../../src/registry/registry.js'
import { caps, until } from '../helpers/hub.js'

const services: JobService[] = []
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop()
})

const record = (id: string): DeviceRecord => ({
  id, caps: caps(id), status: 'online', lastSeenMs: Date.now(), lastHeartbeat: null,
  measurements: { heartbeats: 0, missedHeartbeats: 0, loadEwma: null, linkThroughputBpsEwma: null, clockOffsetMs: null },
})

async function service(online: { ids: string[] }) {
  const config = await loadConfig(undefined, { jobs: [{ id: 'j', model: 'mlp', rateRps: 1, goal: 'latency', qoe: { latencyMs: 5000 } }] })
  const sent: Array<{ topic: string; value: unknown }> = []
  const s = new JobService(config.jobs[0]!, {
    publish: async (topic, payload) => {
      const d = decodeCbor(payload, topic.endsWith('/plan') ? CBOR_BUDGETS.plan : topic.startsWith('dora/v1/models/') ? CBOR_BUDGETS.modelChunk : CBOR_BUDGETS.assignment)
      sent.push({ topic, value: d.ok ? d.value : null })
    },
    online: () => online.ids.map(record),
    log: silentLogger, clock: Date.now, baseDir: process.cwd(), debounceMs: 10, chunkBytes: 16 * 1024,
  })
  services.push(s)
  return { s, sent }
}

const plans = (sent: ReadonlyArray<{ topic: string; value: unknown }>): PlanEpochPayload[] =>
  sent.filter((m) => m.topic === topics.job('j', 'plan')).map((m) => planEpochSchema.parse(m.value))

describe('job service', () => {
  it('publishes an epoch as its plan, then each stage model before the assignment that names it', async () => {
    const { s, sent } = await service({ ids: ['dev-a', 'dev-b'] })
    await s.start()
    await until(() => s.epoch && sent.some((m) => m.topic.endsWith('/assignment')), 20_000, 'the first epoch')
    expect(s.epoch!.epoch).toBe(1)
    expect(sent[0]!.topic).toBe(topics.job('j', 'plan'))
    const plan = plans(sent)[0]!
    expect(plan).toMatchObject({ jobId: 'j', epoch: 1, departed: [] })
    const assigned = Object.keys(s.epoch!.assignments)
    expect([...s.devices()].sort()).toEqual(assigned.sort())
    const modelsSent = new Set<string>()
    for (const m of sent) {
      const model = /^dora\/v1\/models\/([0-9a-f]{64})\/\d+$/.exec(m.topic)
      if (model) modelsSent.add(model[1]!)
      if (!m.topic.endsWith('/assignment')) continue
      const a = assignmentSchema.parse(m.value)
      expect(a.epoch).toBe(1)
      expect(assigned).toContain(m.topic.split('/')[3])
      for (const st of a.stages) expect(modelsSent.has(st.model!.sha256), `model of stage ${st.stage} sent before its assignment`).toBe(true)
    }
  }, 60_000)

  it('a device that leaves gets an empty assignment, and the next plan names it departed', async () => {
    const online = { ids: ['dev-a', 'dev-b'] }
    const { s, sent } = await service(online)
    await s.start()
    await until(() => s.epoch, 20_000, 'the first epoch')
    const holder = Object.keys(s.epoch!.assignments)[0]!
    online.ids = online.ids.filter((id) => id !== holder)
    s.fleetChanged(`${holder} left`)
    await until(() => (s.epoch!.epoch >= 2 ? s.epoch : null), 20_000, 'a second epoch')
    await s.stop()
    expect(plans(sent).at(-1)).toMatchObject({ epoch: 2, departed: [holder] })
    const last = sent.filter((m) => m.topic === topics.device(holder, 'assignment')).map((m) => assignmentSchema.parse(m.value)).at(-1)!
    expect(last).toMatchObject({ epoch: 2, stages: [] })
    expect(Object.keys(s.epoch!.assignments)).not.toContain(holder)
  }, 60_000)

  it('a standby plans nothing; taking over, it numbers its epochs after the newest it saw published', async () => {
    const { s, sent } = await service({ ids: ['dev-a'] })
    s.setLeader(false)
    s.resumeAfter(3)
    await s.start()
    await new Promise((r) => setTimeout(r, 300))
    expect(sent).toEqual([])
    s.observe({ ...planStub, epoch: 7 })
    s.setLeader(true)
    await until(() => s.epoch, 20_000, 'an epoch after taking over')
    expect(s.epoch!.epoch).toBe(8)
    expect(plans(sent).map((p) => p.epoch)).toEqual([8])
  }, 60_000)

  it('a goal from a dashboard is checked', async () => {
    const { s } = await service({ ids: ['dev-a'] })
    expect(s.setGoal('fastest')).toMatch(/goal must be latency, energy or throughput/)
    expect(s.setGoal('energy')).toBe('the job is not started')
  })
})

const planStub: PlanEpochPayload = {
  v: 1, jobId: 'j', epoch: 1, activateAtMs: 0, reason: 'another hub', emulated: true,
  parts: [{ planId: 'p', weight: 1, microBatch: 1, schedule: null, stages: [{ layers: [0, 1], nodes: null, devices: ['dev-a'] }] }],
  predicted: { latencyMs: 1, energyJPerRequest: 1 },
}
