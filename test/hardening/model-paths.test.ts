/**
 * Model paths in submitted job specs (README § Security): only zoo names, uploads, or regular
 * files under hub.modelsDir; one message for "not found" and "not allowed". Run against a real
 * `dora hub` process: it stays responsive and exits on SIGTERM. Issue 16: "Operator specs reach
 * any path on the hub".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { MqttClient } from 'mqtt'
import { freePort } from '../helpers/mosquitto.js'
import { connect } from '../helpers/hub.js'
import { topics } from '../../src/protocol/topics.js'
import { onnx } from '../../src/model/onnx.js'
import { zooModel } from '../../src/model/zoo/index.js'
import { readModelFile } from '../../src/model/model-file.js'

const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const OPS = { username: 'ops', password: 'ops-secret-1' }
let dir: string
let models: string
let hub: ChildProcess
let url: string
let ops: MqttClient

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dora-modelpaths-'))
  models = join(dir, 'models')
  mkdirSync(join(models, 'sub'), { recursive: true })
  writeFileSync(join(models, 'sub', 'mlp.onnx'), onnx.ModelProto.encode(zooModel('mlp')!.build()).finish())
  execFileSync('mkfifo', [join(models, 'pipe.onnx')])
  execFileSync('mkfifo', [join(dir, 'outside-pipe.onnx')])
  symlinkSync('/etc/passwd', join(models, 'passwd.onnx'))
  symlinkSync('/dev/zero', join(models, 'zero.onnx'))
  writeFileSync(join(dir, 'secret.onnx'), 'not for specs')
  const port = await freePort()
  const config = join(dir, 'hub.yaml')
  writeFileSync(config, `hub:\n  modelsDir: ${models}\n  stateDir: ${join(dir, 'state')}\nauth:\n  operators: [{ username: ops, password: ops-secret-1 }]\n`)
  hub = spawn(process.execPath, [bin, 'hub', '--config', config, '--host', '127.0.0.1', '--port', String(port), '--ws-port', '0', '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  await new Promise<void>((resolve, reject) => {
    hub.stderr!.on('data', (b: Buffer) => {
      log += b.toString()
      if (log.includes('"msg":"hub started"')) resolve()
    })
    hub.once('exit', () => reject(new Error(`the hub exited: ${log}`)))
  })
  url = `mqtt://127.0.0.1:${port}`
  for (const deadline = Date.now() + 15_000; !ops; ) {
    ops = (await connect(url, OPS).catch(() => null))!
    if (!ops && Date.now() > deadline) throw new Error('the hub did not start listening')
    if (!ops) await new Promise((r) => setTimeout(r, 100))
  }
})

afterAll(async () => {
  ops?.end(true)
  if (hub.exitCode === null) hub.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

/** Submits a spec naming `model`; resolves the hub's answer. */
async function submit(jobId: string, model: string): Promise<{ state: string; error?: string }> {
  await ops.subscribeAsync(topics.job(jobId, 'status'), { qos: 1 })
  let handler: ((t: string, p: Buffer) => void) | null = null
  const answer = new Promise<{ state: string; error?: string }>((resolve) => {
    handler = (t, p) => t === topics.job(jobId, 'status') && p.length > 0 && resolve(JSON.parse(p.toString()) as { state: string; error?: string })
    ops.on('message', handler)
  })
  await ops.publishAsync(topics.job(jobId, 'spec'), JSON.stringify({ id: jobId, model, rateRps: 1, goal: 'latency' }), { qos: 1, retain: false })
  try {
    return await Promise.race([answer, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer for ${jobId} (${model})`)), 10_000))])
  } finally {
    ops.off('message', handler!)
  }
}

describe('model paths in submitted specs', () => {
  it('refuses paths outside the models folder, escaping symlinks, FIFOs and devices with one message; the hub stays responsive', async () => {
    const hostile = [
      '/etc/passwd', '../../../../etc/passwd', '/etc/shadow', '/proc/self/environ', '/dev/zero',
      join(dir, 'secret.onnx'), '../secret.onnx', join(dir, 'outside-pipe.onnx'),
      'pipe.onnx', 'passwd.onnx', 'zero.onnx', 'missing.onnx', 'sub/../../secret.onnx', 'sub',
    ]
    const messages = new Set<string>()
    let i = 0
    for (const model of hostile) {
      const t0 = Date.now()
      const s = await submit(`bad-${i++}`, model)
      expect(s.state, model).toBe('rejected')
      expect(Date.now() - t0, `${model} answered promptly`).toBeLessThan(5000)
      messages.add(s.error!.replace(JSON.stringify(model), '<model>'))
    }
    // no existence oracle: a missing file, a forbidden file and a FIFO read the same
    expect([...messages]).toEqual([`model <model>: not a zoo model, an upload, or a model file under the hub's models folder (${models})`])

    // still responsive: a regular file in the folder (by relative and absolute path) and a zoo name are accepted
    expect((await submit('good-file', 'sub/mlp.onnx')).state).toBe('accepted')
    expect((await submit('good-abs', join(models, 'sub', 'mlp.onnx'))).state).toBe('accepted')
    expect((await submit('good-zoo', 'mlp')).state).toBe('accepted')
  })

  it('the hub exits within 5 s of SIGTERM after all that', async () => {
    const t0 = Date.now()
    const exited = new Promise<number | null>((r) => hub.once('exit', (code) => r(code)))
    hub.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(Date.now() - t0).toBeLessThan(5000)
  })
})

describe('reading a model file', () => {
  it('neither blocks on a FIFO nor reads a device, and checks the size before reading', async () => {
    await expect(readModelFile(join(models, 'pipe.onnx'), 1e6)).rejects.toThrow(/not a regular file/)
    await expect(readModelFile('/dev/zero', 1e6)).rejects.toThrow(/not a regular file/)
    await expect(readModelFile(join(models, 'sub', 'mlp.onnx'), 100)).rejects.toThrow(/larger than the 100-byte limit/)
    await expect(readModelFile(join(models, 'passwd.onnx'), 1e6, { noFollow: true })).rejects.toThrow(/symbolic link/)
  })
})
