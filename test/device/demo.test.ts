/**
 * `dora demo` as a user runs it (EMULATION): the hub, the emulated Wi-Fi and five device
 * processes; a device holding a stage is killed mid-run; the adapter must re-plan and the
 * sources must lose nothing.
 */
import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const run = promisify(execFile)

describe('dora demo', () => {
  it('runs the smart home for real, survives a killed device, and prints the summary as JSON', async () => {
    const { stdout, stderr } = await run(process.execPath, [bin, 'demo', '--duration', '14', '--kill-device', 'auto', '--at', '5', '--json'], { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 })
    const s = JSON.parse(stdout) as Record<string, any>
    expect(Object.keys(s)).toEqual(expect.arrayContaining(['requests', 'completed', 'lost', 'latencyMs', 'predictedLatencyMs', 'throughputRps', 'energyJ', 'epochs']))
    expect(s.emulated).toBe(true)
    expect(stderr).toMatch(/EMULATION/)
    // about 2 requests a second for 14 s, every one answered
    expect(s.requests).toBeGreaterThanOrEqual(20)
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
    expect(s.throughputRps).toBeGreaterThan(1)
  }, 300_000)

  it('refuses a kill time after the end with a clear message', async () => {
    const err = await run(process.execPath, [bin, 'demo', '--duration', '5', '--kill-device', 'auto', '--at', '9']).catch((e: { stderr: string; code: number }) => e)
    expect((err as { code: number }).code).not.toBe(0)
    expect((err as { stderr: string }).stderr).toMatch(/--at 9 must be before the end/)
  })
})
