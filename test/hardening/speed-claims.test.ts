/**
 * A device floods heartbeats claiming its stages run ten times faster than its caps predict, to
 * draw the job's work onto itself (steering placement). Measured stage times may slow a device
 * down against its caps, never speed it up past them (hub/plausibility.ts MIN_SLOWDOWN): a
 * device is planned at most as fast as it claims, and its claim is bounded by the caps schema.
 * Real hub on the embedded broker, devices as real mqtt.js clients (EMULATION: their caps and
 * timings are synthetic).
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import type { Hub } from '../../src/hub/hub.js'
import { topics } from '../../src/protocol/topics.js'
import { jobDevice } from '../helpers/job-device.js'
import { cbor, heartbeat, startHub, until, stopHubAndClients } from '../helpers/hub.js'

// 11 requests a second of ResNet-18 need both devices (one would be over the 75% utilisation cap)
const JOB = { id: 'vision', model: 'resnet18', rateRps: 11, goal: 'latency', recostCron: '0 0 * * * *' }
let hub: Hub | null = null
const clients: MqttClient[] = []
afterEach(async () => {
  await stopHubAndClients(hub, clients)
  hub = null
})

const devicesOf = (hub: Hub) => Object.keys(hub.jobs[0]!.epoch?.assignments ?? {}).sort()

describe('speed claims', () => {
  it('a device flooding heartbeats with stage times 10x faster than its caps predict does not draw the job onto itself', async () => {
    hub = await startHub({ jobs: [JOB] })
    for (const id of ['dev-a', 'dev-b']) clients.push((await jobDevice(hub, id, JOB.id)).client)
    await until(() => devicesOf(hub!).length === 2, 20_000, 'a first epoch on both devices')
    const first = hub.jobs[0]!.epoch!
    const liar = 'dev-b'
    const stages = [...new Set(first.parts.flatMap((p) => p.plan.stages.flatMap((s, k) => (s.devices.includes(liar) ? [k] : []))))]
    expect(stages.length).toBeGreaterThan(0)
    const client = clients[1]!
    // 40 heartbeats as fast as the broker takes them, each stage "done" in 0.5 ms (10x faster counts, beyond is clamped)
    for (let seq = 1; seq <= 40; seq++) {
      const timings = stages.map((stage) => ({ jobId: JOB.id, stage, count: 10, meanMs: 0.5 }))
      await client.publishAsync(topics.device(liar, 'heartbeat'), cbor(heartbeat(seq, { epoch: first.epoch, stageTimings: timings })), { qos: 1 })
    }
    await until(() => hub!.registry.get(liar)!.lastHeartbeat?.seq === 40, 5000, 'the flood read')
    // the adapter has weighed the claims (a decision after the flood), or they moved nothing (no decision within 8 s)
    await until(() => /measured/.test(hub!.jobs[0]!.lastDecision?.reason ?? ''), 8000, 'a decision on the claims').catch(() => false)
    // both devices still carry the job (before: it went to dev-b alone, measured at 1/283 of its caps' stage time)
    expect(devicesOf(hub)).toEqual(['dev-a', 'dev-b'])
    expect(hub.jobs[0]!.epoch!.epoch).toBe(first.epoch)
  }, 60_000)
})
