/** Jobs submitted at run time over MQTT (`dora job submit|list|cancel`), as an operator. */
import { afterEach, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { loadModelBytes } from '../../src/model/load.js'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { caps, cbor, connect, deviceUrl, DEVICE_PASSWORD, startHub, until } from '../helpers/hub.js'
import type { Hub } from '../../src/hub/hub.js'
import { topics } from '../../src/protocol/topics.js'
import { decodeCbor } from '../../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../../src/protocol/cbor-budgets.js'

const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const dora = (...args: string[]) =>
  promisify(execFile)(process.execPath, [bin, 'job', ...args]).then((r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }), (e: { code: number; stdout: string; stderr: string }) => e)
let hub: Hub | null = null

afterEach(async () => {
  await hub?.stop()
  hub = null
})

describe('dora job', () => {
  it('submits, lists and cancels a job; the hub plans it on the devices online', async () => {
    hub = await startHub({ auth: { operators: [{ username: 'ops', password: 'ops-secret-1' }] } })
    const url = deviceUrl(hub)
    const as = ['--broker', url, '--username', 'ops', '--password', 'ops-secret-1', '--timeout-ms', '15000']
    const dir = mkdtempSync(join(tmpdir(), 'dora-job-'))
    const spec = join(dir, 'doorbell.yaml')
    writeFileSync(spec, 'id: doorbell\nmodel: mobilenetv2\nrateRps: 2\ngoal: latency\nqoe: { latencyMs: 2000 }\n')
    const device = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD, clientId: 'dev-a' })
    await device.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a')), { qos: 1, retain: true })
    await device.subscribeAsync(topics.job('doorbell', 'plan'), { qos: 1 })
    const plans: Buffer[] = []
    device.on('message', (_t, p) => plans.push(p))

    const ok = await dora('submit', spec, ...as)
    expect(ok.stdout).toMatch(/job doorbell accepted/)
    expect(hub.jobs.map((j) => j.id)).toEqual(['doorbell'])
    await until(() => plans.some((p) => p.length > 0), 8000, 'a plan epoch of the submitted job')

    const listed = await dora('list', ...as)
    expect(listed.stdout).toMatch(/doorbell +accepted +submitted/)

    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'id: broken\nmodel: mobilenetv2\nrateRps: 2\ngoal: fastest\n')
    const rejected = await dora('submit', bad, ...as)
    expect(rejected.code).toBe(1)
    expect(rejected.stderr).toMatch(/job broken rejected: .*goal/)
    const missing = join(dir, 'missing.yaml')
    writeFileSync(missing, 'id: ghost\nmodel: no-such-model.onnx\nrateRps: 2\ngoal: latency\n')
    expect((await dora('submit', missing, ...as)).stderr).toMatch(/job ghost rejected: .*no-such-model\.onnx/)

    const cancelled = await dora('cancel', 'doorbell', ...as)
    expect(cancelled.stdout).toMatch(/job doorbell cancelled/)
    expect(hub.jobs).toEqual([])
    device.end(true)
  })

  it('takes a training job with its data device, and names the source when it has none', async () => {
    hub = await startHub({ auth: { operators: [{ username: 'ops', password: 'ops-secret-1' }] } })
    const url = deviceUrl(hub)
    const as = ['--broker', url, '--username', 'ops', '--password', 'ops-secret-1', '--timeout-ms', '15000']
    const dir = mkdtempSync(join(tmpdir(), 'dora-job-'))
    const body = 'model: bert-tiny\nrateRps: 10\ngoal: throughput\ntraining: { microBatchesPerStep: 4, optimizerStateFactor: 2 }\n'
    writeFileSync(join(dir, 'nosrc.yaml'), `id: nosrc\n${body}`)
    expect((await dora('submit', join(dir, 'nosrc.yaml'), ...as)).stderr).toMatch(/job nosrc rejected: .*source: a training job needs one source device/)
    writeFileSync(join(dir, 'ft.yaml'), `id: ft\nsource: dev-a\n${body}`)
    const device = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD, clientId: 'dev-a' })
    await device.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a', { memory: { totalBytes: 2e9, availableBytes: 2e9 } })), { qos: 1, retain: true })
    expect((await dora('submit', join(dir, 'ft.yaml'), ...as)).stdout).toMatch(/job ft accepted/)
    // the plan says training, and the device's assignment names a forward and a backward model
    await until(() => hub!.jobs.find((j) => j.id === 'ft')?.epoch, 20_000, 'a plan of the training job')
    const assignment = await new Promise<Buffer>((resolve) => {
      device.on('message', (t, p) => t === topics.device('dev-a', 'assignment') && p.length && resolve(p))
      void device.subscribeAsync(topics.device('dev-a', 'assignment'), { qos: 1 })
    })
    const a = decodeCbor(assignment, CBOR_BUDGETS.assignment)
    expect(a.ok).toBe(true)
    const stage = (a as { value: { stages: Array<{ backward?: unknown; params?: string[] }> } }).value.stages[0]!
    expect(stage.backward).toBeTruthy()
    expect(stage.params!.length).toBeGreaterThan(0)
    device.end(true)
  })

  it('only operators may submit: an observer gets no answer and no job starts', async () => {
    hub = await startHub({ auth: { operators: [{ username: 'ops', password: 'ops-secret-1' }] } })
    const dir = mkdtempSync(join(tmpdir(), 'dora-job-'))
    const spec = join(dir, 'j.yaml')
    writeFileSync(spec, 'id: j\nmodel: mlp\nrateRps: 1\ngoal: latency\n')
    const r = await dora('submit', spec, '--broker', deviceUrl(hub), '--username', 'dash', '--password', 'dash-secret', '--timeout-ms', '1500')
    expect(r.code).toBe(1)
    expect(hub.jobs).toEqual([])
  })

  it('uploads an ONNX file named in the spec; the hub verifies it and plans the job on it', async () => {
    const uploads = mkdtempSync(join(tmpdir(), 'dora-uploads-'))
    hub = await startHub({ hub: { uploads: { dir: uploads, timeoutMs: 1500 } }, auth: { operators: [{ username: 'ops', password: 'ops-secret-1' }] } })
    const url = deviceUrl(hub)
    const as = ['--broker', url, '--username', 'ops', '--password', 'ops-secret-1', '--timeout-ms', '20000']
    const dir = mkdtempSync(join(tmpdir(), 'dora-job-'))
    // a model file only the operator's machine has
    writeFileSync(join(dir, 'my-detector.onnx'), (await loadModelBytes('mobilenetv2')).bytes)
    writeFileSync(join(dir, 'cam.yaml'), 'id: cam\nmodel: my-detector.onnx\nrateRps: 2\ngoal: latency\nqoe: { latencyMs: 2000 }\n')
    const device = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD, clientId: 'dev-a' })
    await device.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a')), { qos: 1, retain: true })
    const ok = await dora('submit', join(dir, 'cam.yaml'), ...as)
    expect(ok.stderr).toMatch(/uploaded .*my-detector\.onnx \([\d.]+ MB, \d+ chunks, sha256 [0-9a-f]{12}/)
    expect(ok.stdout).toMatch(/job cam accepted/)
    // the hub kept the file under its sha256 and planned the job on the uploaded model
    expect(readdirSync(uploads).filter((f) => f.endsWith('.onnx'))).toHaveLength(1)
    await until(() => hub!.jobs.find((j) => j.id === 'cam')?.epoch, 8000, 'an epoch of the uploaded job')
    // a file that is not ONNX is refused before anything is published
    writeFileSync(join(dir, 'broken.onnx'), 'not a model')
    writeFileSync(join(dir, 'bad.yaml'), 'id: bad\nmodel: broken.onnx\nrateRps: 2\ngoal: latency\nqoe: { latencyMs: 2000 }\n')
    const bad = await dora('submit', join(dir, 'bad.yaml'), ...as)
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toMatch(/broken\.onnx is not an ONNX model/)
    // a spec naming an upload that was never made is rejected with the reason
    const none = `upload:${'0'.repeat(64)}`
    writeFileSync(join(dir, 'ghost.json'), JSON.stringify({ id: 'ghost', model: none, rateRps: 1, goal: 'latency', qoe: { latencyMs: 2000 } }))
    const ghost = await dora('submit', join(dir, 'ghost.json'), ...as)
    expect(ghost.code).not.toBe(0)
    expect(ghost.stderr).toMatch(/job ghost rejected: uploaded model 0{64}: 0 chunks after 1500 ms/)
    await device.endAsync()
  }, 60_000)
})
