/**
 * Scale-out on Redis (issue 7): two hubs share one fleet through Aedes's Redis back-ends
 * (mqemitter-redis, aedes-persistence-redis) with Debian's redis-server. A device on one hub is
 * planned by the other and receives its plans through its own; one hub plans each job (a lease in
 * Redis), and when that hub is killed the other takes over and goes on with the epochs.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { DEVICE_PASSWORD, deviceUrl, startHub, until } from '../helpers/hub.js'
import { freePort } from '../helpers/mosquitto.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import type { Hub } from '../../src/hub/hub.js'
import { smallBoard } from '../helpers/devices.js'

const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
let redis: RedisServer | null = null
let hubA: ChildProcess | null = null
let hubB: Hub | null = null
let agent: DeviceAgent | null = null

afterEach(async () => {
  await agent?.stop()
  await hubB?.stop()
  if (hubA && hubA.exitCode === null) hubA.kill('SIGKILL')
  await redis?.stop()
  agent = hubB = hubA = redis = null
})

const JOB = { id: 'cls', model: 'mobilenetv2', rateRps: 2, goal: 'latency', qoe: { latencyMs: 5000 }, recostCron: '0 0 * * * *' }
const profile = (id: string) => smallBoard(id, { flopsPerSec: { conv: 2e10, matmul: 2e10, elementwise: 5e9 }, memoryBytes: 4e9 })

describe('two hubs on Redis', () => {
  it('share the fleet; one plans the job; a killed planner is taken over', async () => {
    redis = await startRedis()
    const leaseMs = 2000
    const cluster = { redis: redis.url, leaseMs }
    const auth = { devices: [{ id: 'dev-a', password: DEVICE_PASSWORD }] }
    // hub A: its own process, so that it can be killed
    const dir = mkdtempSync(join(tmpdir(), 'dora-cluster-'))
    const portA = await freePort()
    writeFileSync(join(dir, 'hub-a.json'), JSON.stringify({ hub: { id: 'hub-a' }, broker: { embedded: { host: '127.0.0.1', port: portA, wsPort: null, ...cluster } }, auth, jobs: [JOB] }))
    hubA = spawn(process.execPath, [bin, 'hub', '--config', join(dir, 'hub-a.json')], { stdio: ['ignore', 'pipe', 'pipe'] })
    let outA = ''
    hubA.stdout!.on('data', (b: Buffer) => (outA += b.toString()))
    hubA.stderr!.on('data', (b: Buffer) => (outA += b.toString()))
    const r = new Redis(redis.url)
    try {
      await until(() => outA.includes(`:${portA}`) || null, 30_000, `hub A to start (${outA.slice(-300)})`)
      // hub A holds the job's lease
      let holder: string | null = null
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && holder !== 'hub-a'; await new Promise((res) => setTimeout(res, 100))) holder = await r.get('dora:lease:cls')
      expect(holder).toBe('hub-a')

      // hub B, in this process: standby for the job
      hubB = await startHub({ hub: { id: 'hub-b' }, broker: { embedded: cluster }, auth, jobs: [JOB] })
      expect(hubB.jobs[0]!.isLeader).toBe(false)

      // a device on hub B is planned by hub A, and gets its assignment through hub B
      agent = new DeviceAgent({ url: deviceUrl(hubB), id: 'dev-a', password: DEVICE_PASSWORD, profile: profile('dev-a'), heartbeatMs: 300, cacheDir: mkdtempSync(join(tmpdir(), 'dora-models-')) })
      await agent.start()
      // generous waits: these are liveness checks, and hub A is a tsx child process on a loaded CI host
      const withHubA = (e: Error) => { throw new Error(`${e.message}; hub A's output ends: ${outA.slice(-800)}`) }
      const first = await until(() => agent!.assignments.get('cls'), 45_000, 'an assignment through hub B').catch(withHubA)
      expect(first.stages.length).toBeGreaterThan(0)
      expect(hubB.jobs[0]!.isLeader).toBe(false)
      expect(hubB.registry.get('dev-a')?.status).toBe('online')
      // the stage model, published retained by hub A, reaches the device through hub B
      await until(() => agent!.sessions.size > 0 || null, 45_000, 'the stage model through hub B')

      // hub A crashes: no clean leave, its lease runs out, hub B takes over and goes on
      hubA.kill('SIGKILL')
      await until(() => hubB!.jobs[0]!.isLeader || null, leaseMs * 4, 'hub B to take the lease')
      expect(await r.get('dora:lease:cls')).toBe('hub-b')
      const next = await until(() => {
        const a = agent!.assignments.get('cls')
        return a && a.epoch > first.epoch ? a : null
      }, 45_000, 'a new epoch from hub B')
      expect(next.stages.length).toBeGreaterThan(0)
    } finally {
      r.disconnect()
    }
  }, 240_000)

  it('a hub with Redis, Home Assistant and a job exits cleanly on SIGTERM and gives up its lease', async () => {
    redis = await startRedis()
    const dir = mkdtempSync(join(tmpdir(), 'dora-cluster-stop-'))
    const port = await freePort()
    writeFileSync(join(dir, 'hub.json'), JSON.stringify({ hub: { id: 'hub-s' }, homeassistant: { enabled: true }, broker: { embedded: { host: '127.0.0.1', port, wsPort: null, redis: redis.url, leaseMs: 2000 } }, jobs: [JOB] }))
    hubA = spawn(process.execPath, [bin, 'hub', '--config', join(dir, 'hub.json'), '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    hubA.stdout!.on('data', (b: Buffer) => (out += b.toString()))
    hubA.stderr!.on('data', (b: Buffer) => (out += b.toString()))
    await until(() => out.includes(`:${port}`) || null, 30_000, `the hub banner (${out.slice(-400)})`)
    const r = new Redis(redis.url)
    try {
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && (await r.get('dora:lease:cls')) !== 'hub-s';) await new Promise((res) => setTimeout(res, 100))
      expect(await r.get('dora:lease:cls')).toBe('hub-s')
      const exited = new Promise<number | null>((res) => hubA!.once('exit', (code) => res(code)))
      hubA.kill('SIGTERM')
      const code = await Promise.race([exited, new Promise<string>((res) => setTimeout(() => res('still running after 10 s'), 10_000))])
      expect(code).toBe(0)
      // a clean stop gives the lease up at once: another hub need not wait for it to expire
      expect(await r.get('dora:lease:cls')).toBeNull()
    } finally {
      r.disconnect()
    }
  }, 120_000)
})
