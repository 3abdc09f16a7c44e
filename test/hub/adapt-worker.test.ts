/**
 * The adapter's search in a worker thread (src/hub/adapt-worker.ts): the same decisions as the
 * call in the hub's thread on several fleets (48 devices, random inference and training fleets,
 * a follow-up decision on the state of the first, a baseline); and its faults: a crash is
 * retried once in a fresh worker and then run in the hub's thread, a hung search is stopped at
 * its budget, an unusable reply runs in the hub's thread, stop() gives up what is in flight.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AdaptWorker, type SearchOutcome } from '../../src/hub/adapt-worker.js'
import { decide, type AdaptRequest } from '../../src/planner/adapt/decide.js'
import { INITIAL_STATE } from '../../src/planner/adapt/adapter.js'
import { jitteredFleet48, job48, network48 } from '../../bench/fleet48.js'
import { randomCase } from '../helpers/random-fleets.js'
import { captureLog } from '../helpers/log-capture.js'

const workers: AdaptWorker[] = []
const dirs: string[] = []
afterEach(async () => {
  for (const w of workers.splice(0)) await w.stop()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const FAULTS = new URL('../helpers/adapt-thread-faults.ts', import.meta.url)

function worker(o: { budgetMs?: number; faults?: boolean } = {}) {
  const captured = captureLog('info')
  const w = new AdaptWorker({ budgetMs: o.budgetMs ?? 60_000, log: captured.log, ...(o.faults ? { module: FAULTS } : {}) })
  workers.push(w)
  return { w, captured }
}

function request(seed: number, patch: Partial<AdaptRequest> = {}, training = false): AdaptRequest {
  const c = randomCase(seed, training ? { training: true } : {})
  return { planner: 'dora', state: INITIAL_STATE, job: c.job, fleet: c.fleet, network: c.network, nowMs: 1000, why: 'a test', ...(training ? {} : { microBatches: [1] }), ...patch }
}

function decided(o: SearchOutcome) {
  if (o.kind !== 'decided') throw new Error(`expected a decision, got ${o.kind}`)
  return o
}

describe('adapter searches in a worker thread', () => {
  it('decide as the hub\'s thread does, on several fleets', async () => {
    const { w } = worker()
    const first = request(1001)
    const after = decide(first)
    const fewer = new Map(first.fleet.devices)
    fewer.delete(after.epoch!.parts[0]!.plan.stages[0]!.devices[0]!)
    const requests: AdaptRequest[] = [
      { planner: 'dora', state: INITIAL_STATE, job: job48(), fleet: jitteredFleet48(7), network: network48, nowMs: 5000, why: '48 devices', microBatches: [1] },
      first,
      request(1002),
      request(1003, {}, true),
      // a follow-up on the state of the first: re-costing and composing its candidates
      { ...first, state: after.state, fleet: { devices: fewer }, nowMs: 9000, why: 'a device left', measuredLatencyMs: 40 },
      // the same, decided quickly from the kept plans (as the hub asks on a join or a leave)
      { ...first, state: after.state, fleet: { devices: fewer }, nowMs: 9000, why: 'a device left, quick', quick: true },
      { ...request(1004), planner: 'hybrid-dp' },
    ]
    for (const r of requests) {
      const o = decided(await w.run(r))
      expect(o.thread, r.why).toBe('worker')
      expect(o.decision, r.why).toStrictEqual(decide(r))
    }
    expect(w.spawned).toBe(1)
  }, 180_000)

  it('a crash is logged and retried once in a fresh worker', async () => {
    const { w, captured } = worker({ faults: true })
    const dir = mkdtempSync(join(tmpdir(), 'dora-adapt-worker-'))
    dirs.push(dir)
    const r = request(1005, { why: `exit-once:${join(dir, 'crashed')}` })
    const o = decided(await w.run(r))
    expect(o.thread).toBe('worker')
    expect(o.decision).toStrictEqual(decide(r))
    expect(w.spawned).toBe(2)
    expect(captured.find(/worker thread crashed; it is restarted and the search tried again there/)).toHaveLength(1)
  }, 60_000)

  it('a search that crashes the worker twice runs in the hub\'s thread; the next one in the respawned worker', async () => {
    const { w, captured } = worker({ faults: true })
    const r = request(1006, { why: 'crash' })
    const o = decided(await w.run(r))
    expect(o.thread).toBe('hub')
    expect(o.decision).toStrictEqual(decide(r))
    const crashes = captured.find(/worker thread crashed/)
    expect(crashes.map((l) => l.err)).toEqual(['a fault injected in the worker', 'a fault injected in the worker'])
    expect(crashes[1]!.msg).toMatch(/runs in the hub's thread/)
    expect(decided(await w.run(request(1007))).thread).toBe('worker')
    expect(w.spawned).toBe(3)
  }, 60_000)

  it('a search past its budget is stopped: the outcome says so and the next search runs in a fresh worker', async () => {
    // (a budget a small search keeps on a busy machine)
    const { w, captured } = worker({ faults: true, budgetMs: 3000 })
    const t0 = Date.now()
    const o = await w.run(request(1008, { why: 'hang' }))
    expect(o).toEqual({ kind: 'timeout', budgetMs: 3000 })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000)
    expect(captured.find(/ran past its time budget/)).toHaveLength(1)
    const next = request(1009)
    expect(decided(await w.run(next)).decision).toStrictEqual(decide(next))
    expect(w.spawned).toBe(2)
  }, 60_000)

  it('an unusable reply runs the search in the hub\'s thread; a search that throws fails as in the hub\'s thread', async () => {
    const { w, captured } = worker({ faults: true })
    const r = request(1010, { why: 'garbage' })
    const o = decided(await w.run(r))
    expect(o.thread).toBe('hub')
    expect(o.decision).toStrictEqual(decide(r))
    expect(captured.find(/replied with something unusable/)[0]!.problem).toMatch(/not a decision/)
    await expect(w.run(request(1011, { why: 'throw' }))).rejects.toThrow('the search failed')
    expect(w.spawned).toBe(1)
  }, 60_000)

  it('a request given up, or stop(), ends its search at once', async () => {
    const { w } = worker({ faults: true })
    const ctl = new AbortController()
    const hung = w.run(request(1012, { why: 'hang' }), ctl.signal)
    const queued = w.run(request(1013), ctl.signal)
    await new Promise((r) => setTimeout(r, 200))
    ctl.abort()
    expect(await hung).toEqual({ kind: 'aborted' })
    expect(await queued).toEqual({ kind: 'aborted' })
    const again = w.run(request(1014, { why: 'hang' }))
    await new Promise((r) => setTimeout(r, 200))
    const t0 = Date.now()
    await w.stop()
    expect(await again).toEqual({ kind: 'aborted' })
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(await w.run(request(1015))).toEqual({ kind: 'aborted' })
  }, 60_000)
})
