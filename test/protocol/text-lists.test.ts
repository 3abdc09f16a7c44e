/**
 * The long text arrays a device may send (src/protocol/text-lists.ts: a training step's routes, a
 * restore request's parameter names) accept what zod's element-by-element schema accepted, and
 * refuse a hostile array with one issue, in about a millisecond instead of a second of issues.
 */
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { textList, textLists } from '../../src/protocol/text-lists.js'
import { trainingStepSchema } from '../../src/protocol/payloads.js'
import { restoreWantSchema } from '../../src/protocol/checkpoint.js'

const text = z.string().min(1).max(128)
const zodRoutes = z.array(z.array(text).min(1).max(64)).min(1).max(4096)
const routes = textLists({ min: 1, max: 4096 }, { min: 1, max: 64, maxChars: 128 })

describe('text lists', () => {
  it('accept and refuse what zod element by element does', () => {
    const cases: unknown[] = [
      [['a']], [Array(64).fill('x'.repeat(128))], Array(4096).fill(['d']), [['\u{1F600}'.repeat(64)]],
      [], [[]], [['']], [['x'.repeat(129)]], [Array(65).fill('a')], Array(4097).fill(['d']), [[1]], [['a', null]], ['a'], 'a', null, {}, [{ 0: 'a', length: 1 }],
    ]
    for (const c of cases) expect(routes.safeParse(c).success, JSON.stringify(c).slice(0, 80)).toBe(zodRoutes.safeParse(c).success)
    const names = textList({ min: 1, max: 3, maxChars: 4 })
    for (const c of [['a'], ['abcd', 'b', 'c'], [], ['abcde'], ['a', 'b', 'c', 'd'], [''], [7]]) {
      expect(names.safeParse(c).success).toBe(z.array(z.string().min(1).max(4)).min(1).max(3).safeParse(c).success)
    }
  })

  it('a training step of 262,144 numbers for device ids, and a restore request of 100,000: one issue each, quickly', () => {
    const start = { v: 1, kind: 'start', epoch: 1, planId: 'p', step: 0, startedAtMs: 0, routes: Array.from({ length: 4096 }, () => Array(64).fill(0)) }
    const want = { v: 1, kind: 'want', device: 'd', epoch: 1, step: 0, params: Array(100_000).fill(0) }
    for (const [schema, value] of [[trainingStepSchema, start], [restoreWantSchema, want]] as const) {
      const t0 = performance.now()
      const r = schema.safeParse(value)
      expect(r.success).toBe(false)
      expect(r.error!.issues).toHaveLength(1)
      // zod element by element: 0.4-1.4 s and an issue per element; not a timing assertion of speed
      expect(performance.now() - t0).toBeLessThan(300)
    }
  })
})
