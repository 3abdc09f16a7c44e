/**
 * Every Dora process exits within 5 s of SIGTERM whatever its broker does, and no device outlives
 * `dora demo` however it dies (issue 16 § Processes). Real processes (`bin/dora.mjs`), a real
 * Mosquitto that goes away (SIGKILL) or freezes (SIGSTOP: connections open, nothing answered).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js'

const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const scenario = fileURLToPath(new URL('../../config/scenarios/smart-home.yaml', import.meta.url))

interface Proc {
  child: ChildProcess
  out: string
  err: string
  exited: Promise<{ code: number | null; signal: string | null; atMs: number }>
}

const procs: Proc[] = []
let mosq: Mosquitto | null = null
let mosqPid: number | null = null
const dirs: string[] = []

afterEach(async () => {
  if (mosqPid) process.kill(mosqPid, 'SIGCONT')
  for (const p of procs.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
  await mosq?.stop()
  mosq = null
  mosqPid = null
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function dora(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Proc {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } })
  const p: Proc = {
    child, out: '', err: '',
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, atMs: Date.now() }))),
  }
  child.stdout!.on('data', (b: Buffer) => (p.out += b.toString()))
  child.stderr!.on('data', (b: Buffer) => (p.err += b.toString()))
  procs.push(p)
  return p
}

async function waitFor(p: Proc, re: RegExp, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!re.test(p.out) && !re.test(p.err)) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${re}; stdout: ${p.out.slice(-500)}; stderr: ${p.err.slice(-500)}`)
    if (p.child.exitCode !== null) throw new Error(`exited with ${p.child.exitCode} before ${re}; stderr: ${p.err.slice(-800)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Sends SIGTERM and returns how long the process took to exit (ms). */
async function termTime(p: Proc): Promise<number> {
  const t0 = Date.now()
  p.child.kill('SIGTERM')
  const r = await Promise.race([p.exited, new Promise<null>((r) => setTimeout(() => r(null), 8000))])
  if (!r) throw new Error(`still running 8 s after SIGTERM; stderr: ${p.err.slice(-800)}`)
  console.info(`${p.child.spawnargs.slice(2, 3).join(' ')} exited ${r.atMs - t0} ms after SIGTERM`)
  return r.atMs - t0
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !/^\d+ \(.*\) Z/.test(stat) // a zombie has exited
  } catch {
    return false
  }
}

/** Pids whose parent is `ppid` (from /proc). */
function childrenOf(ppid: number): number[] {
  const out: number[] = []
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) === ppid) out.push(Number(e))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

const deviceArgs = (url: string, cache: string) => ['device', '--id', 'laptop', '--scenario', scenario, '--broker', url, '--heartbeat-ms', '300', '--cache-dir', cache]

describe('every Dora process exits within 5 s of SIGTERM whatever its broker does', () => {
  for (const fault of ['gone', 'frozen'] as const) {
    it(`dora hub on an external broker that is ${fault}`, async () => {
      mosq = await startMosquitto()
      const hub = dora(['hub', '--broker', mosq.url, '--log-level', 'warn'])
      await waitFor(hub, /Dora hub .* running on external broker/, 30_000)
      if (fault === 'gone') await mosq.stop()
      else process.kill((mosqPid = mosq.pid), 'SIGSTOP')
      await new Promise((r) => setTimeout(r, 500))
      expect(await termTime(hub)).toBeLessThan(5000)
    }, 60_000)

    it(`dora device whose broker is ${fault}`, async () => {
      mosq = await startMosquitto()
      const cache = mkdtempSync(join(tmpdir(), 'dora-models-'))
      dirs.push(cache)
      const dev = dora(deviceArgs(mosq.url, cache))
      await waitFor(dev, /device laptop joined/, 30_000)
      if (fault === 'gone') await mosq.stop()
      else process.kill((mosqPid = mosq.pid), 'SIGSTOP')
      // heartbeats pile up unanswered meanwhile
      await new Promise((r) => setTimeout(r, 1500))
      expect(await termTime(dev)).toBeLessThan(5000)
    }, 60_000)
  }

  it('dora device whose broker is frozen before it connects', async () => {
    mosq = await startMosquitto()
    process.kill((mosqPid = mosq.pid), 'SIGSTOP')
    const cache = mkdtempSync(join(tmpdir(), 'dora-models-'))
    dirs.push(cache)
    const dev = dora(deviceArgs(mosq.url, cache))
    await new Promise((r) => setTimeout(r, 4000))
    expect(dev.child.exitCode).toBe(null)
    expect(await termTime(dev)).toBeLessThan(5000)
  }, 60_000)

  it('dora device whose broker refuses the connection exits at once with a clear message', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'dora-models-'))
    dirs.push(cache)
    const dev = dora(deviceArgs(`mqtt://127.0.0.1:${await freePort()}`, cache))
    const r = await dev.exited
    expect(r.code).toBe(1)
    expect(dev.err).toMatch(/dora: device laptop cannot connect to mqtt:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED.*\[DORA_BROKER_CONNECT\]/)
  }, 60_000)
})

describe('no device outlives dora demo', () => {
  const tinyScenario = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'dora-demo-scenario-'))
    dirs.push(dir)
    const board = (id: string) => `  - { id: ${id}, kind: board, flopsPerSec: { conv: 2.0e10, matmul: 2.0e10, elementwise: 5.0e9 }, stageOverheadMs: 1, memoryBytes: 2.0e9, idleW: 2, activeW: 8, linkRateBps: 3.0e8 }`
    writeFileSync(join(dir, 'tiny.yaml'), ['name: tiny', 'network: { standard: wifi6 }', 'devices:', board('board-1'), board('board-2'), board('board-3'),
      'job: { id: cls, model: mlp, rateRps: 2, goal: latency, qoe: { latencyMs: 2000 } }', ''].join('\n'))
    return join(dir, 'tiny.yaml')
  }

  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`${signal} of the demo: its device processes are gone within 5 s`, async () => {
      const demo = dora(['demo', '--scenario', tinyScenario(), '--duration', '120', '--status-port', '0'])
      await waitFor(demo, /3 device processes started/, 60_000)
      // the devices are up: all three joined and the plan is being opened on them
      await waitFor(demo, /epoch \d+: waiting for|epoch \d+ ready/, 90_000)
      const kids = childrenOf(demo.child.pid!)
      expect(kids.length).toBe(3)
      const t0 = Date.now()
      demo.child.kill(signal)
      const exited = await demo.exited
      if (signal === 'SIGTERM') {
        expect(exited.atMs - t0).toBeLessThan(5000)
        expect(demo.err).toMatch(/dora demo: stopped by SIGTERM/)
      }
      const until = t0 + 5000
      while (kids.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
      const left = kids.filter(alive)
      console.info(`demo ${signal}: its devices gone ${Date.now() - t0} ms after`)
      for (const pid of left) process.kill(pid, 'SIGKILL')
      expect(left).toEqual([])
    }, 120_000)
  }
})
