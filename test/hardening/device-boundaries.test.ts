/**
 * Hostile devices against the ACL and the registry (README § Security), real hub on the embedded
 * broker, real mqtt.js clients:
 * - a device subscribes to wildcards and to other devices' topics to read their tensors, results
 *   and grants: every such subscription is refused and nothing of theirs is delivered to it, while
 *   the addressee gets every message;
 * - a device claims another device's id: it publishes on that device's caps, heartbeat,
 *   availability, air, grant and assignment topics, leaves a last will on its availability, and
 *   sends caps naming it on its own topic: every one refused; the other device stays online with
 *   its own caps and keeps its stages.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import type { Hub } from '../../src/hub/hub.js'
import type { HubSource } from '../../src/hub/hub-source.js'
import { topics } from '../../src/protocol/topics.js'
import { decodeCbor } from '../../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../../src/protocol/cbor-budgets.js'
import { deviceClientId } from '../../src/broker/connection-policy.js'
import { topicMatches } from '../../src/shared/topic-filter.js'
import { jobDevice } from '../helpers/job-device.js'
import { captureLog } from '../helpers/log-capture.js'
import { DEVICE_PASSWORD, caps, cbor, connect, deviceUrl, heartbeat, startHub, stopHubAndClients, until } from '../helpers/hub.js'

const JOB = { id: 'vision', model: 'resnet18', rateRps: 1, goal: 'latency', recostCron: '0 0 * * * *' }
const DEVICES = ['dev-a', 'dev-b', 'dev-x']
let hub: Hub | null = null
let source: HubSource | null = null
const clients: MqttClient[] = []
afterEach(async () => {
  source?.stop()
  source = null
  await stopHubAndClients(hub, clients)
  hub = null
})
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('a device and what is not its own', () => {
  it('cannot read what is addressed to others: wildcard and foreign subscriptions refused, nothing delivered; the addressee gets every message', async () => {
    hub = await startHub({ jobs: [JOB], auth: { devices: DEVICES.map((id) => ({ id, password: DEVICE_PASSWORD })) } })
    const devs = new Map<string, Awaited<ReturnType<typeof jobDevice>>>()
    for (const id of DEVICES) {
      const d = await jobDevice(hub, id, JOB.id)
      clients.push(d.client)
      devs.set(id, d)
    }
    const epoch = await until(() => hub!.jobs[0]!.epoch, 15_000, 'a first epoch')
    // the hub's source sends each request to the device of the first stage: that device is the addressee
    const first = epoch.parts[0]!.plan.stages[0]!.devices[0]!
    const spy = DEVICES.find((id) => id !== first)!
    const seen: string[] = []
    devs.get(spy)!.client.on('message', (topic) => seen.push(topic))
    const addressed: string[] = []
    devs.get(first)!.client.on('message', (topic) => topic === topics.tensors(JOB.id, first) && addressed.push(topic))
    await devs.get(first)!.client.subscribeAsync(topics.tensors(JOB.id, first), { qos: 1 })
    const foreign = ['#', 'dora/#', 'dora/v1/#', 'dora/v1/jobs/#', 'dora/v1/jobs/+/tensors/+', `dora/v1/jobs/${JOB.id}/tensors/#`, topics.tensors(JOB.id, first), `dora/v1/jobs/${JOB.id}/+/${first}`,
      topics.results(JOB.id, 'hub'), topics.results(JOB.id, 'hub', 'receipts'), 'dora/v1/devices/#', `dora/v1/devices/${first}/#`, topics.device(first, 'grant'), topics.device(first, 'assignment'), 'dora/v1/devices/+/heartbeat', 'dora/v1/uploads/+/+', '$SYS/#']
    const answers = []
    for (const f of foreign) answers.push([f, await devs.get(spy)!.client.subscribeAsync(f, { qos: 1 }).then((g) => g[0]?.qos, () => 'refused')])
    expect(answers).toEqual(foreign.map((f) => [f, 'refused']))
    source = await hub.source(JOB.id, { timeoutMs: 60_000 })
    await until(() => source!.requester.current(), 5000, 'the plan at the source')
    source.drive(10)
    await until(() => addressed.length >= 5, 15_000, 'requests at the first stage')
    await sleep(300)
    // the spy got only what any device may read: plans, its own assignment and error topics, models
    const own = [topics.job(JOB.id, 'plan'), topics.device(spy, 'assignment'), topics.device(spy, 'error'), 'dora/v1/models/+/+']
    expect(seen.filter((t) => !own.some((f) => topicMatches(f, t)))).toEqual([])
    expect(seen.some((t) => t.includes('/tensors/'))).toBe(false)
    // refused subscriptions do not cost the spy its connection (it may go on as a device)
    expect(devs.get(spy)!.client.connected).toBe(true)
  }, 60_000)

  it("cannot speak for another device: its topics, a will on its availability and caps naming it are refused; that device stays online with its caps and stages", async () => {
    const captured = captureLog('warn')
    hub = await startHub({ jobs: [JOB], auth: { devices: ['dev-a', 'dev-x'].map((id) => ({ id, password: DEVICE_PASSWORD })) } }, captured.log)
    const a = await jobDevice(hub, 'dev-a', JOB.id)
    clients.push(a.client)
    const epoch = await until(() => hub!.jobs[0]!.epoch, 15_000, 'a first epoch')
    const capsBefore = hub.registry.get('dev-a')!.caps!
    const xOpts = { username: 'dev-x', password: DEVICE_PASSWORD }
    // dev-x's own connection: joins, then sends caps that name dev-a (and claim the largest compute) on its own topic
    const x = await jobDevice(hub, 'dev-x', JOB.id)
    clients.push(x.client)
    await until(() => hub!.registry.get('dev-x'), 5000, 'dev-x registered')
    const lie = caps('dev-a', { compute: { cores: 64, flopsPerSec: { conv: 1e15, matmul: 1e15, elementwise: 1e14 }, accelerators: [] } })
    await x.client.publishAsync(topics.device('dev-x', 'caps'), cbor(lie), { qos: 1 })
    await until(() => x.errors.length, 5000, 'an error reply to dev-x')
    expect(JSON.parse(x.errors[0]!.payload.toString())).toMatchObject({ code: 'DORA_DEVICE_ID_MISMATCH' })
    // on dev-a's own topics: each publish refused by the broker (which closes the connection); a fresh connection per try
    const attempts: Array<[string, Buffer, boolean]> = [
      [topics.device('dev-a', 'caps'), cbor(lie), true],
      [topics.device('dev-a', 'caps'), Buffer.alloc(0), true],
      [topics.device('dev-a', 'heartbeat'), cbor(heartbeat(99, { stageTimings: [{ jobId: JOB.id, stage: 0, count: 5, meanMs: 1e5 }] })), false],
      [topics.device('dev-a', 'availability'), Buffer.from('offline'), true],
      [topics.device('dev-a', 'air'), cbor({ v: 1, kind: 'ask', seq: 1, bytes: 100, airMs: 10_000 }), false],
      [topics.device('dev-a', 'grant'), cbor({ v: 1, seq: 1, leaseMs: 1, queuedMs: 0 }), false],
      [topics.device('dev-a', 'assignment'), cbor({ v: 1, jobId: JOB.id, epoch: 99, stages: [] }), true],
    ]
    for (const [i, [topic, payload, retain]] of attempts.entries()) {
      const c = await connect(deviceUrl(hub), { ...xOpts, clientId: `dev-x-try-${i}` })
      clients.push(c)
      const closed = new Promise<void>((r) => c.once('close', () => r()))
      c.publish(topic, payload, { qos: 1, retain })
      await closed
    }
    // a last will on dev-a's availability, then the connection drops
    const w = await connect(deviceUrl(hub), { ...xOpts, clientId: 'dev-x-will', will: { topic: topics.device('dev-a', 'availability'), payload: Buffer.from('offline'), qos: 1, retain: true } })
    ;(w as unknown as { stream: { destroy(): void } }).stream.destroy()
    await sleep(500)
    expect(captured.find(/publish refused by ACL/).filter((l) => String(l.topic).startsWith('dora/v1/devices/dev-a/')).length).toBe(attempts.length + 1)
    // dev-a: online, its own caps, no departure, the epoch unchanged
    expect(hub.registry.get('dev-a')).toMatchObject({ status: 'online', caps: capsBefore })
    expect(hub.jobs[0]!.epoch!.epoch).toBe(epoch.epoch)
    // what a newcomer reads retained on dev-a's topics: only dev-a's own caps
    const reader = await connect(deviceUrl(hub), { username: 'dash', password: 'dash-secret' })
    clients.push(reader)
    const retained: Array<[string, Buffer]> = []
    reader.on('message', (t, p, packet) => packet.retain && retained.push([t, p]))
    await reader.subscribeAsync('dora/v1/devices/dev-a/#', { qos: 1 })
    await sleep(300)
    // (the hub's own retained assignment of dev-a may be there too: the running epoch's, never dev-x's forged one)
    const byTopic = new Map(retained)
    expect([...byTopic.keys()].filter((t) => t !== topics.device('dev-a', 'assignment'))).toEqual([topics.device('dev-a', 'caps')])
    expect(decodeCbor(byTopic.get(topics.device('dev-a', 'caps'))!, CBOR_BUDGETS.caps)).toMatchObject({ ok: true, value: { deviceId: 'dev-a', compute: capsBefore.compute } })
    const assignment = byTopic.get(topics.device('dev-a', 'assignment'))
    if (assignment) expect(decodeCbor(assignment, CBOR_BUDGETS.assignment)).toMatchObject({ ok: true, value: { jobId: JOB.id, epoch: epoch.epoch } })
    // and dev-a still runs: a heartbeat from it is read, it is still assigned
    await a.client.publishAsync(topics.device('dev-a', 'heartbeat'), cbor(heartbeat(1)), { qos: 1 })
    await until(() => hub!.registry.get('dev-a')!.lastHeartbeat?.seq === 1, 3000, "dev-a's heartbeat read")
  }, 60_000)
})
