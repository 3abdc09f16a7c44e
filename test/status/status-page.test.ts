/**
 * The hub's status page (issue 7): the fleet, each job's QoE and its plan as a picture (stages on
 * devices, a Gantt chart of one transfer cycle), from a running hub; rendered in headless Chromium
 * (Debian's `chromium`, driven by playwright-core) with a screenshot check that the chart draws.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'
import { PNG } from 'pngjs'
import { caps, cbor, connect, deviceUrl, DEVICE_PASSWORD, heartbeat, startHub, until } from '../helpers/hub.js'
import type { Hub } from '../../src/hub/hub.js'
import { topics } from '../../src/protocol/topics.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
let hub: Hub | null = null
afterEach(async () => {
  await hub?.stop()
  hub = null
})

async function hubWithPlan(): Promise<{ url: string; close: () => void }> {
  hub = await startHub({
    hub: { metrics: { host: '127.0.0.1', port: 0 } },
    jobs: [{ id: 'doorbell', model: 'resnet18', rateRps: 2, goal: 'latency', qoe: { latencyMs: 2000 }, recostCron: '0 0 * * * *' }],
  })
  const clients: Array<Awaited<ReturnType<typeof connect>>> = []
  for (const id of ['dev-a', 'dev-b']) {
    const d = await connect(deviceUrl(hub), { username: id, password: DEVICE_PASSWORD, clientId: id })
    // small memories: the model must be split over both
    await d.publishAsync(topics.device(id, 'caps'), cbor(caps(id, { memory: { totalBytes: 5e7, availableBytes: 5e7 } })), { qos: 1, retain: true })
    await d.publishAsync(topics.device(id, 'heartbeat'), cbor(heartbeat(0, { load: 0.3 })), { qos: 1 })
    clients.push(d)
  }
  await until(() => hub!.jobs[0]!.epoch?.parts[0]?.schedule, 8000, 'a plan with a schedule')
  return { url: `http://127.0.0.1:${hub.metricsPort}/`, close: () => clients.forEach((c) => c.end(true)) }
}

describe('status page', () => {
  it('shows the fleet, the job\'s QoE, its stages on devices and a Gantt chart of one cycle', async () => {
    const { url, close } = await hubWithPlan()
    const res = await fetch(url)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/text\/html/)
    const html = await res.text()
    expect(html).toMatch(/<h2>Fleet<\/h2>/)
    expect(html).toMatch(/dev-a/)
    expect(html).toMatch(/job doorbell/)
    expect(html).toMatch(/QoE bounds: latency &lt;= 2000 ms/)
    expect(html).toMatch(/<span class="stage">stage 0: layers \d+-\d+ on <b>dev-[ab]<\/b><\/span> &rarr; <span class="stage">stage 1: layers \d+-\d+ on <b>dev-[ab]<\/b>/)
    expect((html.match(/class="slot"/g) ?? []).length).toBeGreaterThan(0)
    expect((html.match(/class="compute"/g) ?? []).length).toBeGreaterThanOrEqual(2)
    expect(html).toMatch(/EMULATION/)
    close()
  })

  it('updates live: /events streams the page\'s sections (server-sent events), no reload', async () => {
    const { url, close } = await hubWithPlan()
    const html = await (await fetch(url)).text()
    expect(html).not.toMatch(/http-equiv="refresh"/)
    expect(html).toMatch(/new EventSource\('events'\)/)
    const ac = new AbortController()
    const res = await fetch(`${url}events`, { signal: ac.signal })
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = res.body!.getReader()
    let text = ''
    const events = () => [...text.matchAll(/event: status\ndata: (.*)\n\n/g)].map((m) => JSON.parse(m[1]!) as { fleet: string; jobs: string; stamp: string })
    while (events().length < 2) text += new TextDecoder().decode((await reader.read()).value)
    const [first, second] = events()
    expect(first!.fleet).toMatch(/dev-a/)
    expect(first!.jobs).toMatch(/job doorbell/)
    expect(first!.jobs).toMatch(/<h3>Request latency<\/h3>/)
    expect(second!.stamp > first!.stamp).toBe(true)
    ac.abort()
    close()
  })

  it.skipIf(!existsSync(CHROMIUM))('renders in headless Chromium: the chart draws its lanes, slots and compute blocks', async () => {
    const { url, close } = await hubWithPlan()
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] })
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 900 } })
      await page.goto(url)
      const chart = page.locator('svg.gantt').first()
      await chart.waitFor()
      expect(await page.locator('svg.gantt rect.slot').count()).toBeGreaterThan(0)
      expect(await page.locator('svg.gantt rect.compute').count()).toBeGreaterThanOrEqual(2)
      const box = await chart.boundingBox()
      expect(box!.width).toBeGreaterThan(800)
      // the screenshot: coloured (non-grey) pixels where the blocks are drawn
      // of the page where the chart is: the live page may redraw the chart element meanwhile
      const png = PNG.sync.read(await page.screenshot({ clip: box! }))
      let coloured = 0
      for (let i = 0; i < png.data.length; i += 4) {
        const [r, g, b] = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!]
        if (Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++
      }
      expect(coloured / (png.width * png.height)).toBeGreaterThan(0.01)
    } finally {
      await browser.close()
      close()
    }
  }, 60_000)
})
