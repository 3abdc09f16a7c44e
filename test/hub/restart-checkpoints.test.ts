/**
 * A hub restart keeps training checkpoints (issue 16 follow-up): the hub stores each job's newest
 * checkpoints in hub.stateDir, a new hub on the same folder answers a restore with the same bytes,
 * a damaged file is reported and ignored, a cancelled job's file goes, and so does the file of a
 * job cancelled while the hub was down (after hub.uploads.orphanTtlMs). Real hubs on the embedded
 * Aedes (loopback), real mqtt.js clients.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { MqttClient } from 'mqtt'
import type { Hub } from '../../src/hub/hub.js'
import { createLogger } from '../../src/log.js'
import { filters, topics } from '../../src/protocol/topics.js'
import { decodeCbor, encodeCbor } from '../../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../../src/protocol/cbor-budgets.js'
import { encodeTensorChunks } from '../../src/protocol/chunks.js'
import { checkpointReq, restoreAnswerSchema } from '../../src/protocol/checkpoint.js'
import { mlp } from '../../src/model/zoo/transformer.js'
import { DEVICE_PASSWORD, caps, connect, deviceUrl, startHub, tempStateDir, until, stopHubAndClients } from '../helpers/hub.js'

let hub: Hub | null = null
const clients: MqttClient[] = []
afterEach(async () => {
  await stopHubAndClients(hub, clients)
  hub = null
})

const SPEC = { id: 'ft', model: 'mlp', rateRps: 1, goal: 'throughput', source: 'dev-b', planner: 'equal-split', training: { microBatchesPerStep: 2, optimizerStateFactor: 2 }, qoe: { throughputRps: 0.1 }, recostCron: '0 0 * * * *' }
const ops = { auth: { operators: [{ username: 'ops', password: 'ops-secret-1' }] } }

/** A hub on `dir` with the job submitted (or restored from `dir`), dev-b planned in it, and the log's lines. */
async function hubWithJob(dir: string, submit: boolean): Promise<{ lines: string[]; dev: MqttClient; answers: Array<{ topic: string; value: unknown }> }> {
  const lines: string[] = []
  const sink = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) })
  hub = await startHub({ hub: { stateDir: dir }, ...ops }, createLogger('info', sink))
  if (submit) {
    const op = await connect(deviceUrl(hub), { username: 'ops', password: 'ops-secret-1' })
    clients.push(op)
    await op.publishAsync(topics.job('ft', 'spec'), JSON.stringify(SPEC), { qos: 1, retain: true })
  }
  const dev = await connect(deviceUrl(hub), { username: 'dev-b', password: DEVICE_PASSWORD, clientId: 'dora-device-dev-b' })
  clients.push(dev)
  const answers: Array<{ topic: string; value: unknown }> = []
  dev.on('message', (topic, payload) => {
    const d = decodeCbor(payload, CBOR_BUDGETS.restoreAnswer)
    if (d.ok) answers.push({ topic, value: d.value })
  })
  await dev.subscribeAsync([filters.restoresToDevice('dev-b'), filters.checkpointsToDevice('dev-b')], { qos: 1 })
  await dev.publishAsync(topics.device('dev-b', 'caps'), encodeCbor(caps('dev-b')), { qos: 1, retain: true })
  await until(() => hub!.jobs.find((j) => j.id === 'ft')?.devices().has('dev-b') || null, 20_000, 'dev-b planned')
  return { lines, dev, answers }
}

/** The smallest parameter of the job (one chunk). */
function smallestParam(): { name: string; dims: number[] } {
  const job = hub!.jobs.find((j) => j.id === 'ft')!
  // the job's trainable parameters are among the model's initializers
  const names = (mlp().graph?.initializer ?? []).map((t) => t.name ?? '').filter((n) => job.paramDims(n))
  const sized = names.map((name) => ({ name, dims: [...job.paramDims(name)!] })).sort((a, b) => a.dims.reduce((x, y) => x * y, 1) - b.dims.reduce((x, y) => x * y, 1))
  expect(sized.length).toBeGreaterThan(0)
  return sized[0]!
}

async function restore(dev: MqttClient, answers: Array<{ topic: string; value: unknown }>, name: string): Promise<{ from: unknown; data: Buffer }> {
  answers.length = 0
  await dev.publishAsync(topics.trainingState('ft', 'restore'), encodeCbor({ v: 1, kind: 'want', device: 'dev-b', epoch: 99, step: 3, params: [name] }), { qos: 1 })
  const a = await until(() => answers.find((x) => x.topic === topics.trainingState('ft', 'restore', 'dev-b')), 20_000, 'the restore answer')
  const from = restoreAnswerSchema.parse(a.value).params[0]!.from
  if (from === null) return { from, data: Buffer.alloc(0) }
  const chunks = await until(() => {
    const c = answers.filter((x) => x.topic === topics.trainingState('ft', 'checkpoint', 'dev-b')).map((x) => x.value as { idx: number; count: number; data: Uint8Array })
    return c.length > 0 && c.length === c[0]!.count ? c : null
  }, 10_000, 'the checkpoint tensor')
  return { from, data: Buffer.concat(chunks.sort((x, y) => x.idx - y.idx).map((c) => Buffer.from(c.data))) }
}

describe('training checkpoints across a hub restart', () => {
  it('a new hub on the same stateDir answers with the same bytes; a damaged file is ignored; a cancelled job loses its file', async () => {
    const dir = tempStateDir()
    const file = join(dir, 'checkpoints', 'ft.ckpt')
    let h = await hubWithJob(dir, true)
    const { name, dims } = smallestParam()
    const n = dims.reduce((a, b) => a * b, 1)
    const values = new Float32Array(3 * n).map((_, i) => i / 7 + 0.25)
    values.fill(0.125, 2 * n) // a second moment is never negative
    const bytes = new Uint8Array(values.buffer)
    const hop = { src: 'dev-b', plan: 'checkpoint', stage: 0, route: ['dev-b'], t0: Date.now() }
    for (const m of encodeTensorChunks({ req: checkpointReq(3, 3), name, dtype: 'float32', shape: [3, ...dims], epoch: 1, hop }, bytes, 64 * 1024)) {
      await h.dev.publishAsync(topics.trainingState('ft', 'checkpoint'), m, { qos: 1 })
    }
    await until(() => hub!.checkpoints!.held('ft', name)?.step === 3 || null, 10_000, 'the checkpoint held')
    await hub!.stop()
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readdirSync(join(dir, 'checkpoints'))).toEqual(['ft.ckpt'])
    for (const c of clients.splice(0)) await c.endAsync(true)

    // a new hub on the same folder: the restore brings back the very bytes
    h = await hubWithJob(dir, false)
    const back = await restore(h.dev, h.answers, name)
    expect(back.from).toEqual({ step: 3, t: 3 })
    expect(back.data.equals(Buffer.from(bytes))).toBe(true)
    await hub!.stop()
    for (const c of clients.splice(0)) await c.endAsync(true)

    // a damaged file: reported, ignored, the hub still answers (with nothing)
    writeFileSync(file, Buffer.from([0, 0, 0, 9, 1, 2, 3]))
    h = await hubWithJob(dir, false)
    expect((await restore(h.dev, h.answers, name)).from).toBeNull()
    expect(h.lines.some((l) => l.includes('checkpoints: stored file damaged; ignored') && l.includes('"level":50'))).toBe(true)

    // a new checkpoint is stored again; cancelling the job removes its file
    for (const m of encodeTensorChunks({ req: checkpointReq(4, 4), name, dtype: 'float32', shape: [3, ...dims], epoch: 1, hop }, bytes, 64 * 1024)) {
      await h.dev.publishAsync(topics.trainingState('ft', 'checkpoint'), m, { qos: 1 })
    }
    await until(() => hub!.checkpoints!.held('ft', name)?.step === 4 || null, 10_000, 'the new checkpoint held')
    await until(() => (existsSync(file) && statSync(file).size > 7) || null, 10_000, 'the new checkpoint written')
    const op = await connect(deviceUrl(hub!), { username: 'ops', password: 'ops-secret-1' })
    clients.push(op)
    await op.publishAsync(topics.job('ft', 'spec'), Buffer.alloc(0), { qos: 1, retain: true })
    await until(() => !existsSync(file) || null, 10_000, 'the cancelled job loses its checkpoint file')
  }, 120_000)

  it('removes the file of a job it has not known for hub.uploads.orphanTtlMs (cancelled while the hub was down), and keeps a known job\'s', async () => {
    const dir = tempStateDir()
    await hubWithJob(dir, true)
    await hub!.stop()
    for (const c of clients.splice(0)) await c.endAsync(true)
    // what a hub that was down finds: the file of a job whose spec is gone, beside the known job's
    const gone = join(dir, 'checkpoints', 'gone.ckpt')
    const kept = join(dir, 'checkpoints', 'ft.ckpt')
    mkdirSync(join(dir, 'checkpoints'), { recursive: true })
    writeFileSync(gone, Buffer.from([0, 0, 0, 1, 0]))
    writeFileSync(kept, Buffer.from([0, 0, 0, 1, 0]))
    const lines: string[] = []
    const sink = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) })
    const started = Date.now()
    hub = await startHub({ hub: { stateDir: dir, sweepCron: '* * * * * *', uploads: { orphanTtlMs: 2000 } }, ...ops }, createLogger('info', sink))
    await until(() => !existsSync(gone) || null, 15_000, 'the unknown job\'s checkpoint file removed')
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000)
    expect(existsSync(kept)).toBe(true)
    // (the hub logs the removal once the unlink has resolved: the file can be gone a moment before the line is written)
    await until(() => lines.some((l) => l.includes('removed the file of a job no longer known') && l.includes('"jobId":"gone"')) || null, 5000, 'the removal logged')
  }, 60_000)
})
