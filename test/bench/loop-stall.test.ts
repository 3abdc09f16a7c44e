/**
 * The embedded broker keeps serving while a 48-device job re-plans in the adapter's worker thread
 * (bench/loop-stall.ts, one round): a real Aedes on loopback in this process, a real mqtt.js
 * client in another pinging itself through it. In the same run, the search in this process's
 * thread blocks the broker for the whole search; in the worker, the broker's longest stall and
 * the longest round trip are a small fraction of that.
 */
import { describe, expect, it } from 'vitest'
import { loopStallBench } from '../../bench/loop-stall.js'

describe('the broker during a re-plan', () => {
  it('stalls for the whole search in the hub\'s thread, and for a fraction of it with the worker thread', async () => {
    const runs = await loopStallBench(1, () => {})
    const hub = runs.find((r) => r.mode === 'hub thread (before)')!
    const worker = runs.find((r) => r.mode === 'worker thread (after)')!
    expect(worker.action).toBe(hub.action)
    // the probe sees the block: the timer waits out the whole search, and so do the pings
    expect(hub.timerGapMs).toBeGreaterThanOrEqual(0.9 * hub.searchMs)
    expect(hub.pingMs.at(-1)!).toBeGreaterThanOrEqual(0.5 * hub.searchMs)
    expect(worker.pingMs.length).toBeGreaterThan(0)
    expect(worker.timerGapMs).toBeLessThan(0.25 * hub.timerGapMs)
    expect(worker.pingMs.at(-1)!).toBeLessThan(0.25 * hub.pingMs.at(-1)!)
    expect(worker.unanswered).toBe(0)
  }, 180_000)
})
