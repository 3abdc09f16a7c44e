/**
 * When a job plans again (src/hub/replan-gate.ts): changes close together are one run; changes
 * during a run are merged latest-wins into one run after it, however many arrive.
 */
import { describe, expect, it } from 'vitest'
import { ReplanGate } from '../../src/hub/replan-gate.js'
import { until } from '../helpers/hub.js'

function gate() {
  const runs: string[] = []
  let release: (() => void) | null = null
  const g = new ReplanGate({
    run: (why) => {
      runs.push(why)
      return new Promise<void>((r) => (release = r))
    },
    debounceMs: 20, clock: Date.now, failed: (err) => { throw err },
  })
  return { g, runs, release: () => release?.() }
}

describe('replan gate', () => {
  it('merges changes within the debounce into one run', async () => {
    const { g, runs, release } = gate()
    g.changed('a')
    g.changed('b')
    g.changed('a')
    await until(() => runs.length === 1, 2000, 'a run')
    expect(runs).toEqual(['b; a'])
    release()
    await g.stop()
  })

  it('runs once more after the run in flight, on every change that came meanwhile, and never queues', async () => {
    const { g, runs, release } = gate()
    g.changed('first')
    await until(() => g.busy, 2000, 'a run in flight')
    for (let k = 0; k < 50; k++) g.changed(`change ${k}`)
    await new Promise((r) => setTimeout(r, 100))
    expect(runs).toHaveLength(1)
    release()
    await until(() => runs.length === 2, 2000, 'the run after it')
    expect(runs[1]).toBe(['change 42', 'change 43', 'change 44', 'change 45', 'change 46', 'change 47', 'change 48', 'change 49'].join('; ') + ' (and 42 earlier)')
    release()
    await until(() => !g.busy, 2000, 'idle')
    await new Promise((r) => setTimeout(r, 100))
    expect(runs).toHaveLength(2)
    expect(g.runs).toBe(2)
    await g.stop()
  })

  it('stops: no run after stop()', async () => {
    const { g, runs } = gate()
    g.changed('a')
    await g.stop()
    g.changed('b')
    await new Promise((r) => setTimeout(r, 100))
    expect(runs).toEqual([])
  })
})
