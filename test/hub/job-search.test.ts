/**
 * A job's searches in the adapter's worker thread (JobService with AdaptWorker): fleet changes
 * during a search are merged into one search after it, on the newest fleet; a search stopped at
 * its budget leaves the current epoch in place and says so; a search that crashes the worker
 * still gives the job its decision; stopping the job gives up its search at once.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { JobService } from '../../src/hub/job-service.js'
import { AdaptWorker, type Search } from '../../src/hub/adapt-worker.js'
import { loadConfig } from '../../src/config/load.js'
import type { AdaptRequest } from '../../src/planner/adapt/decide.js'
import type { DeviceRecord } from '../../src/registry/registry.js'
import { topics } from '../../src/protocol/topics.js'
import { caps, until } from '../helpers/hub.js'
import { captureLog } from '../helpers/log-capture.js'

const stops: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s()
})

const FAULTS = new URL('../helpers/adapt-thread-faults.ts', import.meta.url)

const record = (id: string): DeviceRecord => ({
  id, caps: caps(id), status: 'online', lastSeenMs: Date.now(), lastHeartbeat: null,
  measurements: { heartbeats: 0, missedHeartbeats: 0, loadEwma: null, linkThroughputBpsEwma: null, clockOffsetMs: null },
})

async function service(online: { ids: string[] }, o: { budgetMs?: number; hold?: { on: boolean } } = {}) {
  const config = await loadConfig(undefined, { jobs: [{ id: 'j', model: 'mlp', rateRps: 1, goal: 'latency', qoe: { latencyMs: 5000 } }] })
  const captured = captureLog('info')
  const worker = new AdaptWorker({ budgetMs: o.budgetMs ?? 60_000, log: captured.log, module: FAULTS })
  const requests: AdaptRequest[] = []
  const releases: Array<() => void> = []
  // the real worker; a held search answers only when the test releases it
  const search: Search = async (request, signal) => {
    requests.push(request)
    const outcome = await worker.run(request, signal)
    if (o.hold?.on) await new Promise<void>((r) => {
      releases.push(r)
      signal?.addEventListener('abort', () => r())
    })
    return outcome
  }
  const plans: number[] = []
  const s = new JobService(config.jobs[0]!, {
    publish: async (topic) => {
      if (topic === topics.job('j', 'plan')) plans.push(plans.length + 1)
    },
    online: () => online.ids.map(record), log: captured.log, clock: Date.now, baseDir: process.cwd(), debounceMs: 10, chunkBytes: 16 * 1024, search,
  })
  stops.push(() => worker.stop(), () => s.stop())
  await s.start()
  await until(() => s.epoch, 30_000, 'the first epoch')
  return { s, worker, requests, releases, plans, captured }
}

describe('a job\'s searches in the worker thread', () => {
  it('changes during a search are merged into one search after it, on the newest fleet', async () => {
    const online = { ids: ['dev-a', 'dev-b'] }
    const hold = { on: false }
    const { s, requests, releases } = await service(online, { hold })
    hold.on = true
    s.fleetChanged('dev-a: link changed')
    await until(() => releases.length === 1, 30_000, 'a search held')
    for (let k = 0; k < 40; k++) s.fleetChanged(`change ${k}`)
    online.ids = ['dev-a', 'dev-b', 'dev-c']
    s.fleetChanged('dev-c joined')
    await new Promise((r) => setTimeout(r, 200))
    expect(requests).toHaveLength(2)
    hold.on = false
    releases[0]!()
    await until(() => requests.length === 3 && s.lastDecision?.reason.includes('dev-c joined'), 30_000, 'the merged search')
    await new Promise((r) => setTimeout(r, 1000))
    // one search on the merged changes (and, after a quick decision on the join, the full search it asks for)
    expect(requests.slice(3).map((r) => r.why)).toEqual(requests.length > 3 ? ['the full search after a quick decision'] : [])
    expect([...requests[2]!.fleet.devices.keys()].sort()).toEqual(['dev-a', 'dev-b', 'dev-c'])
    expect(requests[2]!.why).toBe('change 33; change 34; change 35; change 36; change 37; change 38; change 39; dev-c joined (and 33 earlier)')
  }, 90_000)

  it('a search past its budget is stopped; the job keeps its epoch and says so; the next search runs', async () => {
    const online = { ids: ['dev-a', 'dev-b'] }
    const { s, plans, captured } = await service(online, { budgetMs: 3000 })
    const epoch = s.epoch!.epoch
    const published = plans.length
    s.fleetChanged('hang')
    await until(() => s.lastDecision?.action === 'timeout', 30_000, 'the search stopped at its budget')
    expect(s.lastDecision!.reason).toBe(`hang: the adapter's search ran past its time budget of 3000 ms and was stopped; the current epoch (${epoch}) stays`)
    expect(captured.find(/adapter search stopped at its time budget/)).toHaveLength(1)
    expect(s.epoch!.epoch).toBe(epoch)
    expect(plans.length).toBe(published)
    const holder = Object.keys(s.epoch!.assignments)[0]!
    online.ids = online.ids.filter((id) => id !== holder)
    s.fleetChanged(`${holder} left`)
    await until(() => s.epoch!.epoch > epoch, 30_000, 'a new epoch without the device that left')
    expect(Object.keys(s.epoch!.assignments)).not.toContain(holder)
  }, 90_000)

  it('a search that crashes the worker still gives the job its decision', async () => {
    const online = { ids: ['dev-a', 'dev-b'] }
    const { s, worker, captured } = await service(online)
    const epoch = s.epoch!.epoch
    online.ids = ['dev-a']
    s.fleetChanged('crash')
    await until(() => s.epoch!.epoch > epoch, 30_000, 'a new epoch')
    expect(Object.keys(s.epoch!.assignments)).toEqual(['dev-a'])
    expect(captured.find(/worker thread crashed/)).toHaveLength(2)
    expect(worker.spawned).toBe(3)
  }, 90_000)

  it('stopping the job gives up its search at once', async () => {
    const { s } = await service({ ids: ['dev-a', 'dev-b'] })
    s.fleetChanged('hang')
    await new Promise((r) => setTimeout(r, 300))
    const t0 = Date.now()
    await s.stop()
    expect(Date.now() - t0).toBeLessThan(2000)
  }, 90_000)
})
