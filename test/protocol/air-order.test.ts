/**
 * The grant desk's order (protocol/air-order.ts), shared by the hub's desk and the simulator's
 * granted air: shortest ask first, ties in order of asking, and an ask overtaken MAX_OVERTAKEN
 * times goes first, so every ask waits at most for the asks before it, MAX_OVERTAKEN grants, and
 * one grant per other device.
 */
import { describe, expect, it } from 'vitest'
import { MAX_OVERTAKEN, granted, nextAsk, type AirAskOrder } from '../../src/protocol/air-order.js'

const ask = (device: string, airMs: number): AirAskOrder & { name: string } => ({ device, airMs, overtaken: 0, name: `${device}${airMs}` })

/** Serves `queue` to the end (asks joining at given grant counts), returns the names in order of grant. */
function serve(queue: Array<AirAskOrder & { name: string }>, joins: ReadonlyArray<readonly [number, AirAskOrder & { name: string }]> = [], lastGrant = new Map<string, number>()): string[] {
  const out: string[] = []
  for (let n = 0; queue.length || joins.some(([at]) => at >= n); n++) {
    for (const [at, a] of joins) if (at === n) queue.push(a)
    if (!queue.length) continue
    const k = nextAsk(queue, (d) => lastGrant.get(d) ?? -Infinity)
    granted(queue, k)
    const a = queue.splice(k, 1)[0]!
    lastGrant.set(a.device, n)
    out.push(a.name)
  }
  return out
}

describe('the grant desk\'s order', () => {
  it('grants the shortest ask first, ties in order of asking', () => {
    expect(nextAsk([], () => 0)).toBe(-1)
    expect(serve([ask('a', 30), ask('b', 10), ask('c', 20), ask('d', 10)]).slice(0, 2)).toEqual(['b10', 'd10'])
  })

  it('counts an overtake for every older ask passed over, none for a younger one', () => {
    const q = [ask('a', 30), ask('b', 20), ask('c', 10), ask('d', 40)]
    const k = nextAsk(q, () => 0)
    expect(k).toBe(2)
    granted(q, k)
    expect(q.map((a) => a.overtaken)).toEqual([1, 1, 0, 0])
  })

  it(`a long ask is overtaken at most ${MAX_OVERTAKEN} times however many shorter asks keep coming`, () => {
    // one short ask joins after every grant: in shortest-first order the long one would never go
    const joins = Array.from({ length: 20 }, (_, n) => [n, ask('s', 1 + n / 100)] as const)
    const order = serve([ask('big', 500)], joins)
    expect(order.indexOf('big500')).toBe(MAX_OVERTAKEN)
    expect(order).toHaveLength(21)
  })

  it('among asks due, the device that got the air longest ago goes first, then the oldest', () => {
    const q = [ask('a', 50), ask('a', 40), ask('b', 60)].map((x) => ({ ...x, overtaken: MAX_OVERTAKEN }))
    // a got the air at grant 7, b never: b's ask goes first though it is the longest and the youngest
    expect(nextAsk(q, (d) => (d === 'a' ? 7 : -Infinity))).toBe(2)
    // both devices equal: the oldest due ask, not the shortest
    expect(nextAsk(q.slice(0, 2), () => 0)).toBe(0)
    // a due ask goes before a shorter one not yet due
    expect(nextAsk([ask('c', 1), q[0]!], () => 0)).toBe(1)
  })

  it('every ask waits at most for the asks before it, the bound, and one grant per other device (random queues)', () => {
    let seed = 7
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    for (let trial = 0; trial < 200; trial++) {
      const queue: Array<AirAskOrder & { name: string; at: number; ahead: number; own: number }> = []
      const lastGrant = new Map<string, number>()
      for (let n = 0; n < 60; n++) {
        for (let j = Math.floor(rand() * 3); j > 0; j--) {
          const device = `d${Math.floor(rand() * 4)}`
          queue.push({ device, airMs: rand() * 100, overtaken: 0, name: `${n}`, at: n, ahead: queue.length, own: queue.filter((x) => x.device === device).length })
        }
        if (!queue.length) continue
        const k = nextAsk(queue, (d) => lastGrant.get(d) ?? -Infinity)
        granted(queue, k)
        const a = queue.splice(k, 1)[0]!
        lastGrant.set(a.device, n)
        // once due, it waits for each other device (4 here) at most once between two grants to its own device
        expect(n - a.at).toBeLessThanOrEqual(a.ahead + MAX_OVERTAKEN + 3 * (1 + a.own))
      }
    }
  })
})
