import { describe, expect, it } from 'vitest'
import { progressLine } from '../../src/demo/progress.js'
import { heartbeatWallMs } from '../../src/demo/demo.js'

describe("the demo's per-second progress line", () => {
  const stats = (latenciesMs: number[]) => ({ sent: 30, completed: 28, resent: 1, latenciesMs })

  it('prints latency in emulated ms (wall-clock divided by the clock), as the summary does', () => {
    // 20 answers of 300 ms wall-clock on a x3 clock are 100 ms of emulated time
    const line = progressLine(12.2, 4, stats(Array(20).fill(300)), 41.6, 3)
    expect(line).toBe('t=12s epoch 4 sent 30 done 28 resent 1 latency 100 ms (p95 100; emulated, wall-clock / 3) energy 42 J (emulated)')
  })

  it('takes the last 20 answers, and their p95', () => {
    const wall = [...Array(10).fill(9000), ...Array(19).fill(40), 400]
    const line = progressLine(5, 1, stats(wall), 0, 4)
    // mean (19 x 40 + 400) / 20 / 4 = 14.5; p95 of the last 20 is the 400 ms one: 100
    expect(line).toContain('latency 15 ms (p95 100; emulated, wall-clock / 4)')
  })

  it('on a real-time clock says emulated without a divisor, and without answers yet prints dashes', () => {
    expect(progressLine(1, 1, stats([50, 70]), 0, 1)).toContain('latency 60 ms (p95 70; emulated)')
    expect(progressLine(1, 1, stats([]), 0, 2)).toContain('latency - ms (p95 -; emulated, wall-clock / 2)')
  })

  it("for the cameras' requests prints what the hub received as their consumer, in emulated ms", () => {
    expect(progressLine(9, 2, null, 3, 10, { completed: 4, latenciesMs: [500, 700] })).toBe('t=9s epoch 2 answered at the hub 4 latency 60 ms (p95 70; emulated, wall-clock / 10) energy 3 J (emulated)')
  })

  it('without a hub source prints the epoch and energy only', () => {
    expect(progressLine(3, 2, null, 7, 3)).toBe('t=3s epoch 2 energy 7 J (emulated)')
  })
})

describe("the emulated devices' heartbeat", () => {
  it('is 1 s of profile time, stretched by the clock up to 10 s of wall time', () => {
    expect(heartbeatWallMs(1)).toBe(1000)
    expect(heartbeatWallMs(3.5)).toBe(3500)
    expect(heartbeatWallMs(131)).toBe(10_000)
    expect(heartbeatWallMs(0.5)).toBe(1000)
  })
})
