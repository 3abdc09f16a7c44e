/**
 * `dora demo` as a user runs it (EMULATION): the hub, the emulated Wi-Fi and five device
 * processes; a device holding a stage is killed mid-run; the adapter must re-plan and the
 * sources must lose nothing.
 */
import { describe, expect, it } from 'vitest'
import { execFile, execFileSync, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const run = promisify(execFile)

describe('dora demo', () => {
  it('runs the smart home for real, survives a killed device, and prints the summary as JSON', async () => {
    const { stdout, stderr } = await run(process.execPath, [bin, 'demo', '--status-port', '0', '--duration', '30', '--kill-device', 'auto', '--at', '8', '--json'], { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 })
    const s = JSON.parse(stdout) as Record<string, any>
    expect(Object.keys(s)).toEqual(expect.arrayContaining(['requests', 'completed', 'lost', 'latencyMs', 'predictedLatencyMs', 'throughputRps', 'energyJ', 'epochs']))
    expect(s.emulated).toBe(true)
    expect(stderr).toMatch(/EMULATION/)
    // no --time-scale: the demo measured this host and chose the clock, saying which and why
    expect(s.clock.source).toBe('measured')
    expect(s.timeScale).toBeGreaterThanOrEqual(1)
    expect(stderr).toMatch(new RegExp(`EMULATION CLOCK x${s.timeScale}\\b`))
    expect(s.clock.why.length).toBeGreaterThan(20)
    expect(s.clock.hostFlopsPerSec.conv).toBeGreaterThan(0)
    // Poisson arrivals at 2 a second of profile time (2 / timeScale of wall-clock) for 30 s: at
    // least the mean less three standard deviations, every one answered
    const m = (30 * 2) / s.timeScale
    expect(s.requests).toBeGreaterThanOrEqual(Math.max(1, Math.floor(m - 3 * Math.sqrt(m))))
    expect(s.completed).toBe(s.requests)
    expect(s.lost).toBe(0)
    expect(s.unfinished).toBe(0)
    expect(s.failures).toEqual([])
    // the killed device held a stage; a later epoch does without it
    expect(s.killed.device).toBeTruthy()
    expect(s.epochs.length).toBeGreaterThanOrEqual(2)
    const last = s.epochs[s.epochs.length - 1]
    expect(last.devices).not.toContain(s.killed.device)
    expect(s.epochs[0].devices).toContain(s.killed.device)
    expect(s.latencyMs.mean).toBeGreaterThan(0)
    expect(s.latencyMs.p95).toBeGreaterThanOrEqual(s.latencyMs.mean * 0.5)
    expect(s.energyJ).toBeGreaterThan(0)
    expect(s.throughputRps).toBeGreaterThan(0.5)
    // the first plan's stage models went into the devices' cache, not over the emulated Wi-Fi: the summary says how much
    expect(s.wifi.modelBytesInstalledOutsideWifi).toBeGreaterThan(0)
    expect(stderr).toMatch(/deploying: \d+ stage model\(s\).*not carried over the emulated Wi-Fi/)
  }, 300_000)

  it('trains a small encoder on a stretched emulation clock and summarises its optimizer steps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dora-train-demo-'))
    const board = (id: string) => `  - { id: ${id}, kind: board, flopsPerSec: { conv: 2.0e10, matmul: 2.0e10, elementwise: 5.0e9 }, stageOverheadMs: 1, memoryBytes: 2.0e9, idleW: 2, activeW: 8, linkRateBps: 3.0e8 }`
    writeFileSync(join(dir, 'tiny-train.yaml'), [
      'name: tiny-train',
      'network: { standard: wifi6 }',
      'devices:',
      board('board-1'),
      board('board-2'),
      'job: { id: ft, model: bert-tiny, rateRps: 100, goal: throughput, source: board-1, training: { microBatchesPerStep: 4, optimizerStateFactor: 2 }, qoe: { throughputRps: 1 } }',
      '',
    ].join('\n'))
    const { stdout, stderr } = await run(process.execPath, [bin, 'demo', '--status-port', '0', '--scenario', join(dir, 'tiny-train.yaml'), '--duration', '12', '--time-scale', '2', '--json'], { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 })
    const s = JSON.parse(stdout) as Record<string, any>
    expect(stderr).toMatch(/EMULATION CLOCK x2: .* 2x slower.*given \(--time-scale 2\)/)
    expect(s.timeScale).toBe(2)
    const t = s.training
    expect(t.steps).toBeGreaterThanOrEqual(2)
    expect(t.failedSteps).toBe(0)
    expect(t.replicasAgree).toBe(true)
    // 4 micro-batches of the plan's micro-batch size
    expect(t.samplesPerStep % 4).toBe(0)
    expect(t.samplesPerStep).toBeGreaterThanOrEqual(4)
    expect(s.completed).toBe(t.steps)
    expect(s.lost).toBe(0)
    expect(s.latencyMs.mean).toBe(t.stepMs.mean)
    expect(t.predictedStepMs).toBeGreaterThan(0)
    expect(t.samplesPerS).toBeGreaterThan(0)
    expect(t.energyJPerSample).toBeGreaterThan(0)
    expect(t.predictedEnergyJPerSample).toBeGreaterThan(0)
    // the parameters moved between the first and the last step
    expect(t.lossLast).not.toBe(t.lossFirst)
    expect(stderr).toMatch(/step 1 \(epoch \d+\) done in \d+ ms profile time/)
  }, 300_000)

  it('refuses a kill time after the end with a clear message', async () => {
    const err = await run(process.execPath, [bin, 'demo', '--duration', '5', '--kill-device', 'auto', '--at', '9']).catch((e: { stderr: string; code: number }) => e)
    expect((err as { code: number }).code).not.toBe(0)
    expect((err as { stderr: string }).stderr).toMatch(/--at 9 must be before the end/)
  })

  it('on SIGTERM stops within 5 s and leaves no device process behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dora-demo-term-'))
    const scenarioFile = join(dir, 'term-home.yaml')
    copyFileSync(fileURLToPath(new URL('../../config/scenarios/smart-home.yaml', import.meta.url)), scenarioFile)
    const child = spawn(process.execPath, [bin, 'demo', '--scenario', scenarioFile, '--time-scale', '2', '--duration', '120'], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    const devices = () => execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((l) => l.includes('device') && l.includes(scenarioFile))
    const deadline = Date.now() + 120_000
    while (devices().length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250))
    expect(devices().length).toBe(5)
    const t0 = Date.now()
    child.kill('SIGTERM')
    await new Promise<void>((resolve) => child.once('exit', () => resolve()))
    expect(Date.now() - t0).toBeLessThan(5500)
    // the devices leave with their parent (they watch its pipe too)
    const gone = Date.now() + 5000
    while (devices().length && Date.now() < gone) await new Promise((r) => setTimeout(r, 100))
    expect(devices()).toEqual([])
    rmSync(dir, { recursive: true, force: true })
    expect(stderr).toMatch(/EMULATION/)
  }, 180_000)
})
