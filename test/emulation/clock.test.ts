/**
 * The emulation clock: chosen so that every profile can be dilated on this host with margin,
 * and so that the device processes leave CPU for the hub, broker and proxy; the host measured
 * with the devices' own micro-benchmark in several processes at once (real onnxruntime).
 */
import { describe, expect, it } from 'vitest'
import { chooseTimeScale } from '../../src/emulation/clock.js'
import { measureHost } from '../../src/emulation/host-probe.js'

const host = { conv: 40e9, matmul: 40e9, elementwise: 4e9 }
const model = { conv: 8e9, matmul: 0, elementwise: 0.08e9 } // host: 200 + 20 = 220 ms
const profile = (id: string, conv: number, elementwise: number, stageOverheadMs = 0) => ({ id, flopsPerSec: { conv, matmul: conv, elementwise }, stageOverheadMs })

describe('chooseTimeScale', () => {
  it('stretches the clock by the fastest profile\'s lead over the host, with margin, and names it', () => {
    // fast: 8e9/160e9 + 0.08e9/16e9 = 50 + 5 = 55 ms; 220 / 55 = 4
    const c = chooseTimeScale({ profiles: [profile('slow', 10e9, 1e9), profile('fast', 160e9, 16e9)], modelFlops: model, hostFlopsPerSec: host, cores: 2, processes: 2, rateRps: 1, margin: 1.25 })
    expect(c.slowest.device).toBe('fast')
    expect(c.slowest.ratio).toBeCloseTo(4, 6)
    expect(c.timeScale).toBe(5)
    expect(c.why).toMatch(/fast's profile runs the model 4\.0x faster/)
  })

  it('counts a profile\'s fixed stage overhead as time the host does not need to compute', () => {
    const c = chooseTimeScale({ profiles: [profile('fast', 160e9, 16e9, 55)], modelFlops: model, hostFlopsPerSec: host, cores: 2, processes: 1, rateRps: 1, margin: 1 })
    expect(c.slowest.ratio).toBeCloseTo(2, 6)
    expect(c.timeScale).toBe(2)
  })

  it('runs in real time when the host outruns every profile, and says so', () => {
    const c = chooseTimeScale({ profiles: [profile('slow', 10e9, 1e9)], modelFlops: model, hostFlopsPerSec: host, cores: 2, processes: 1, rateRps: 1 })
    expect(c.timeScale).toBe(1)
    expect(c.why).toMatch(/real time/)
  })

  it('slows the clock when the fleet\'s compute would keep the cores too busy', () => {
    // 20 requests/s x 220 ms = 4.4 cores of work; at most 50% of 2 cores -> x4.4
    const c = chooseTimeScale({ profiles: [profile('slow', 10e9, 1e9)], modelFlops: model, hostFlopsPerSec: host, cores: 2, processes: 4, rateRps: 20 })
    expect(c.cpuK).toBeCloseTo(4.4, 6)
    expect(c.timeScale).toBe(4.4)
    expect(c.why).toMatch(/at most 50% of 2 cores/)
  })

  it('keeps the scenario\'s floor when it is higher', () => {
    const c = chooseTimeScale({ profiles: [profile('slow', 10e9, 1e9)], modelFlops: model, hostFlopsPerSec: host, cores: 2, processes: 1, rateRps: 1, floor: 20 })
    expect(c.timeScale).toBe(20)
    expect(c.why).toMatch(/at least x20/)
  })
})

describe('measureHost', () => {
  it('runs the devices\' micro-benchmark in two processes at once and keeps the slower figure of each op class', async () => {
    const m = await measureHost(2)
    expect(m.each).toHaveLength(2)
    for (const k of ['conv', 'matmul', 'elementwise'] as const) {
      for (const f of m.each) expect(f[k]).toBeGreaterThan(1e8)
      expect(m.slowest[k]).toBe(Math.min(m.each[0]![k], m.each[1]![k]))
    }
    await expect(measureHost(0)).rejects.toThrow(/processes/)
  }, 60_000)
})
