/**
 * Watching `dora demo` while it runs (README § The demo): its live status page in headless
 * Chromium (devices, the job, a latency chart that fills with points without a reload), and its
 * read-only dashboard login over MQTT (every device and the job, Home Assistant discovery, the
 * emulated devices' own load, nothing it may publish).
 */
import { describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { connect, until } from '../helpers/hub.js'
import { filters, ha, parseTopic, topics } from '../../src/protocol/topics.js'
import { decodeCbor } from '../../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../../src/protocol/cbor-budgets.js'
import { planEpochSchema } from '../../src/protocol/payloads.js'

const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const DEVICES = ['ha-hub', 'laptop', 'tv', 'phone', 'nas']

describe('dora demo, watched while it runs', () => {
  it.skipIf(!existsSync(CHROMIUM))('serves a live status page and a dashboard login that see every device and the job', async () => {
    const child = spawn(process.execPath, [bin, 'demo', '--status-port', '0', '--port', '0', '--duration', '40', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    let stdout = ''
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] })
    const clients: Array<Awaited<ReturnType<typeof connect>>> = []
    try {
      const pageUrl = (await until(() => /status page: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr), 60_000, 'the status page line'))[1]!
      const login = await until(() => /dashboard login \(read-only MQTT observer\): (mqtt:\/\/127\.0\.0\.1:\d+) username (\S+) password (\S+)/.exec(stderr), 10_000, 'the dashboard login')
      const [, brokerUrl, username, password] = login as unknown as [string, string, string, string]

      // the dashboard login reads the hub's state, every device's and the job's, and discovery
      const dash = await connect(brokerUrl, { username, password, clientId: 'dashboard-test' })
      clients.push(dash)
      const got = new Map<string, string>()
      // every device any epoch gave a stage, and every load each device reported
      const everStaged = new Set<string>()
      const loads = new Map<string, number[]>()
      dash.on('message', (t, p) => {
        const parsed = parseTopic(t)
        if (parsed?.scope === 'job' && parsed.kind === 'plan' && p.length) {
          const d = decodeCbor(p, CBOR_BUDGETS.plan)
          const plan = d.ok ? planEpochSchema.safeParse(d.value) : null
          if (plan?.success) for (const id of plan.data.parts.flatMap((q) => q.stages.flatMap((st) => st.devices))) everStaged.add(id)
          return
        }
        got.set(t, p.toString())
        const id = DEVICES.find((x) => t === ha.deviceState(x))
        if (id) loads.set(id, [...(loads.get(id) ?? []), (JSON.parse(p.toString()) as { loadPct: number | null }).loadPct ?? 0])
      })
      // what dashboards read (not the tensors: dora/v1/# would carry every frame's chunks too)
      const granted = await dash.subscribeAsync([topics.hubState, 'dora/v1/ha/#', 'dora/v1/devices/+/availability', filters.allJobPlans, 'homeassistant/#'], { qos: 1 })
      expect(granted.map((g) => g.qos)).not.toContain(128)
      await until(() => {
        const s = got.get(topics.hubState)
        return s && (JSON.parse(s) as { devices: Array<{ id: string; status: string }> }).devices.filter((d) => d.status === 'online').length === DEVICES.length
      }, 120_000, 'every device online in the hub state')
      for (const id of DEVICES) await until(() => [...got.keys()].some((t) => t.startsWith(`homeassistant/sensor/dora_${id}/`)), 10_000, `${id}'s discovery configs`)

      await until(() => /epoch \d+ ready: /.test(stderr), 180_000, 'the fleet to be ready')
      // while requests run: the page, in a browser
      const page = await browser.newPage({ viewport: { width: 1100, height: 1000 } })
      await page.goto(pageUrl)
      await page.evaluate(() => ((window as unknown as { loadedOnce: boolean }).loadedOnce = true))
      expect(await page.locator('tr.device').count()).toBe(DEVICES.length)
      for (const id of DEVICES) await expect(page.locator('#fleet').innerText()).resolves.toContain(id)
      await expect(page.locator('section.job h2').first().innerText()).resolves.toMatch(/job \S+/)
      // the latency chart fills with points as the page takes events (no reload)
      await page.waitForFunction(() => document.querySelectorAll('svg.latency circle.point').length >= 2, undefined, { timeout: 120_000 })
      expect(await page.locator('svg.latency polyline.predicted').count()).toBeGreaterThan(0)
      expect(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true)
      expect(Number(await page.locator('body').getAttribute('data-updates'))).toBeGreaterThan(1)
      await expect(page.locator('#live').innerText()).resolves.toBe('live')

      // each emulated device's load is the emulation's own: 0 with no stage, above 0 with one
      const jobId = (/job (\S+)/.exec(await page.locator('section.job h2').first().innerText()))![1]!
      const states = await until(() => {
        const all = DEVICES.map((id) => got.get(ha.deviceState(id))).filter((x): x is string => !!x).map((x) => JSON.parse(x) as { loadPct: number | null; stage: string; emulated: boolean })
        return all.length === DEVICES.length && all.some((s) => s.stage !== 'none' && (s.loadPct ?? 0) > 0) ? all : null
      }, 90_000, 'device states with a busy stage')
      for (const s of states) expect(s.emulated).toBe(true)
      // a device no epoch ever gave a stage did no emulated work: 0%, whatever this host's CPU does
      const idle = DEVICES.filter((id) => !everStaged.has(id))
      for (const id of idle) expect(loads.get(id), id).toEqual(loads.get(id)!.map(() => 0))
      await expect(page.locator('#fleet td.load').first().innerText()).resolves.toMatch(/emulated/)
      const job = await until(() => {
        const s = got.get(ha.jobState(jobId))
        return s && (JSON.parse(s) as { measured: boolean }).measured ? JSON.parse(s) as { latencyMs: number } : null
      }, 90_000, 'the job state with measured latency')
      expect(job.latencyMs).toBeGreaterThan(0)

      // Home Assistant sends its birth message on connecting: the login may, and gets every config again
      let again = 0
      dash.on('message', (t, _p, packet) => { if (t.startsWith('homeassistant/') && t.endsWith('/config') && !packet.retain) again++ })
      await dash.publishAsync(ha.status('homeassistant'), 'online', { qos: 1 })
      await until(() => again >= DEVICES.length * 5 || null, 30_000, 'the configs again after the birth message')
      expect(dash.connected).toBe(true)

      // otherwise the login is read-only: a publish closes its connection (MQTT 3.1.1 has no negative PUBACK)
      const writer = await connect(brokerUrl, { username, password, clientId: 'dashboard-writer' })
      clients.push(writer)
      const closed = new Promise<void>((r) => writer.once('close', () => r()))
      writer.publish(topics.job(jobId, 'spec'), '', { qos: 1, retain: true })
      await closed
    } finally {
      for (const c of clients) c.end(true)
      await browser.close()
      if (child.exitCode === null) {
        // let it finish (the summary), or stop it
        const done = await Promise.race([exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 90_000))])
        if (done === 'late') child.kill('SIGTERM')
      }
    }
    // it ends with its summary (whether every request made it on this machine is test/device/demo.test.ts's matter)
    await exited
    expect((JSON.parse(stdout) as { emulated: boolean }).emulated).toBe(true)
  }, 400_000)
})
