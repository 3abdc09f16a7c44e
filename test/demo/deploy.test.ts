/**
 * Deployment as the demo's setup (src/demo/demo.ts deployBeforeRun, hub/job-service.ts
 * installModels): the hub hands an epoch's stage models to the installer before any assignment
 * names them; the demo writes them into the devices' model cache, where a device finds and
 * verifies them and fetches nothing; once the run has begun, nothing more is installed (a
 * re-plan's models are fetched over the emulated Wi-Fi). No broker: the job service's publishes
 * are captured, and the device's model cache has no MQTT client at all.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ModelCache } from '../../device-firmware-bridge/model-cache.js'
import { loadConfig } from '../../src/config/load.js'
import { deployBeforeRun } from '../../src/demo/demo.js'
import { JobService } from '../../src/hub/job-service.js'
import { silentLogger } from '../../src/log.js'
import { decodeCbor } from '../../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../../src/protocol/cbor-budgets.js'
import { assignmentSchema } from '../../src/protocol/payloads.js'
import type { DeviceRecord } from '../../src/registry/registry.js'
import { caps, until } from '../helpers/hub.js'

const services: JobService[] = []
const dirs: string[] = []
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const record = (id: string): DeviceRecord => ({
  id, caps: caps(id), status: 'online', lastSeenMs: Date.now(), lastHeartbeat: null,
  measurements: { heartbeats: 0, missedHeartbeats: 0, loadEwma: null, linkThroughputBpsEwma: null, clockOffsetMs: null },
})

describe('deployment before the run', () => {
  it('installs every stage model in the devices\' cache before its assignment; a device reads it from there; nothing after the run begins', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dora-deploy-'))
    dirs.push(dir)
    const lines: string[] = []
    const hub: { installModels: ((m: ReadonlyArray<{ sha256: string; bytes: Uint8Array }>) => Promise<void>) | null } = { installModels: null }
    const deployed = deployBeforeRun(hub, dir, (l) => lines.push(l))
    const events: string[] = []
    const config = await loadConfig(undefined, { jobs: [{ id: 'j', model: 'mlp', rateRps: 1, goal: 'latency', qoe: { latencyMs: 5000 } }] })
    const online = { ids: ['dev-a', 'dev-b'] }
    const assignments: Array<{ sha256: string; bytes: number; chunks: number }> = []
    const s = new JobService(config.jobs[0]!, {
      publish: async (topic, payload) => {
        if (!topic.endsWith('/assignment')) return
        events.push('assignment')
        const d = decodeCbor(payload, CBOR_BUDGETS.assignment)
        for (const st of assignmentSchema.parse(d.ok ? d.value : null).stages) assignments.push(st.model!)
      },
      online: () => online.ids.map(record),
      log: silentLogger, clock: Date.now, baseDir: process.cwd(), debounceMs: 10, chunkBytes: 16 * 1024,
      installModels: async (models) => {
        events.push('install')
        await hub.installModels?.(models)
      },
    })
    services.push(s)
    await s.start()
    await until(() => s.epoch && assignments.length > 0, 20_000, 'the first epoch')
    expect(events.indexOf('install')).toBeGreaterThanOrEqual(0)
    expect(events.indexOf('install')).toBeLessThan(events.indexOf('assignment'))
    expect(deployed.bytes()).toBeGreaterThan(0)
    expect(lines.join('\n')).toMatch(/deploying: \d+ stage model\(s\).*not carried over the emulated Wi-Fi/)
    // a device with no connection at all finds each model in the cache and verifies it
    const cache = new ModelCache(dir, () => null)
    for (const ref of assignments) {
      const bytes = await cache.get(ref)
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(ref.sha256)
    }
    expect(cache.chunksFetched).toBe(0)
    // the run begins: a re-plan's models are no longer installed (devices fetch them over the air)
    deployed.end()
    expect(hub.installModels).toBeNull()
  }, 60_000)
})
