/** The device agent (issue 6, first part): real onnxruntime micro-benchmark, real hub and broker. */
import { afterEach, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { measureFlops } from '../../device-firmware-bridge/benchmark.js'
import { readScenario } from '../../src/scenario/load.js'
import { DEVICE_PASSWORD, deviceUrl, startHub, until } from '../helpers/hub.js'
import type { Hub } from '../../src/hub/hub.js'
import type { DeviceProfile } from '../../src/planner/types.js'

const scenarioFile = fileURLToPath(new URL('../../config/scenarios/smart-home.yaml', import.meta.url))
const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
let hub: Hub | null = null
const agents: DeviceAgent[] = []

afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop()
  await hub?.stop()
  hub = null
})

async function profile(scenarioId: string, id: string): Promise<DeviceProfile> {
  const s = await readScenario(scenarioFile)
  return { ...s.devices.find((d) => d.id === scenarioId)!, id, emulated: true }
}

describe('device agent', () => {
  it('measures this machine\'s effective FLOP/s per op class with onnxruntime', async () => {
    const f = await measureFlops(2)
    for (const v of Object.values(f)) {
      expect(Number.isFinite(v)).toBe(true)
      expect(v).toBeGreaterThan(1e8)
    }
    // convolutions and matrix products run far above memory-bound element-wise work
    expect(f.matmul).toBeGreaterThan(f.elementwise)
  })

  it('joins a hub with an emulated profile, gets its assignment, and the hub moves the work when a device crashes', async () => {
    hub = await startHub({ jobs: [{ id: 'doorbell', model: 'resnet18', rateRps: 2, goal: 'latency', qoe: { latencyMs: 2000 }, recostCron: '0 0 * * * *' }] })
    const errors = new Map<string, string[]>([['dev-a', []], ['dev-b', []]])
    const mk = async (id: string, from: string) => {
      const a = new DeviceAgent({ url: deviceUrl(hub!), id, password: DEVICE_PASSWORD, profile: await profile(from, id), heartbeatMs: 200, cacheDir: mkdtempSync(join(tmpdir(), 'dora-models-')), onError: (m) => errors.get(id)!.push(m) })
      agents.push(a)
      await a.start()
      return a
    }
    const laptop = await mk('dev-a', 'laptop')
    const tv = await mk('dev-b', 'tv')
    const busy = await until(() => [laptop, tv].find((a) => (a.assignments.get('doorbell')?.stages.length ?? 0) > 0), 8000, 'an assignment with stages')
    const other = busy === laptop ? tv : laptop
    const epoch = busy.assignments.get('doorbell')!.epoch
    busy.crash()
    agents.splice(agents.indexOf(busy), 1)
    const next = await until(() => {
      const a = other.assignments.get('doorbell')
      return a && a.epoch > epoch && a.stages.length > 0 ? a : null
    }, 8000, 'the other device to take the work')
    // sending slots when the plan runs in slots (the transfer mode predicted faster), none at once
    const e = hub!.jobs[0]!.epoch!
    expect(e.epoch).toBeGreaterThanOrEqual(next.epoch)
    if (e.parts.every((p) => p.modes?.mode === 'at-once')) expect(next.slots).toEqual([])
    else expect(next.slots.length).toBeGreaterThan(0)
    // the device fetched its stage models over MQTT, verified them, and opened onnxruntime sessions
    const shas = next.stages.map((s) => s.model!.sha256)
    await until(() => shas.every((h) => other.sessions.has(h)), 15_000, 'the stage sessions')
    expect(other.sessions.get(shas[0]!)!.inputNames.length).toBeGreaterThan(0)
    // the device that stayed saw nothing wrong (the crashed one may have been mid-fetch)
    const stayed = errors.get(other === laptop ? 'dev-a' : 'dev-b')!
    expect(stayed, stayed.join('\n')).toEqual([])
    // the hub's state lists the device that crashed as offline
    expect(hub.registry.snapshot().find((d) => d.id === (busy === laptop ? 'dev-a' : 'dev-b'))!.status).toBe('offline')
  })

  it('caches stage models on disk: a restarted device opens them without fetching a chunk', async () => {
    hub = await startHub({ jobs: [{ id: 'doorbell', model: 'mobilenetv2', rateRps: 2, goal: 'latency', qoe: { latencyMs: 2000 }, recostCron: '0 0 * * * *' }] })
    const cacheDir = mkdtempSync(join(tmpdir(), 'dora-models-'))
    const ready: string[] = []
    const first = new DeviceAgent({ url: deviceUrl(hub), id: 'dev-a', password: DEVICE_PASSWORD, profile: await profile('laptop', 'dev-a'), cacheDir, onStageReady: (x) => ready.push(x.sha256) })
    agents.push(first)
    await first.start()
    await until(() => ready.length > 0, 15_000, 'the first stage session')
    expect(first.models.chunksFetched).toBeGreaterThan(0)
    const files = readdirSync(cacheDir)
    expect(files).toContain(`${ready[0]}.onnx`)
    await first.stop()
    agents.splice(agents.indexOf(first), 1)
    const again = new DeviceAgent({ url: deviceUrl(hub), id: 'dev-a', password: DEVICE_PASSWORD, profile: await profile('laptop', 'dev-a'), cacheDir, onStageReady: (x) => ready.push(x.sha256) })
    agents.push(again)
    await again.start()
    await until(() => again.sessions.size > 0, 15_000, 'the session after the restart')
    expect(again.models.chunksFetched).toBe(0)
  })

  it('dora device names what is wrong with its arguments', async () => {
    const run = (...args: string[]) => promisify(execFile)(process.execPath, [bin, 'device', ...args]).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e)
    const none = await run('--id', 'dev-a')
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(/give either --scenario FILE .* or --measure/)
    const missing = await run('--id', 'dev-a', '--scenario', scenarioFile, '--profile', 'toaster')
    expect(missing.stderr).toMatch(/has no device toaster \(it has ha-hub, laptop/)
    const bad = await run('--id', 'bad id!', '--measure')
    expect(bad.stderr).toMatch(/--id must be 1-64 characters/)
  })
})
