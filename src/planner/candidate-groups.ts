/**
 * The replica groups the partitioner's search tries for one stage (partition-dp.ts): every
 * replica degree of each device type that fits, and mixed groups of the fastest devices across
 * types. Allocation-free in the search's inner loop: scratch arrays, and mixed groups interned
 * per search on its Run (partition-step.ts). Pure.
 */
import type { DeviceType } from './partition-dp.js'
import { REPLICAS, singleGroups, type Group, type Run } from './partition-step.js'

const BY_SPEED: DeviceType[] = []

/**
 * Replica groups for one stage, into `out` (cleared first): r devices of a single type (r from
 * REPLICAS), and mixed groups of the k fastest available devices across types (k = 2 .. 4), which
 * a heterogeneous fleet needs to spread a heavy stage. Mixed groups are interned per run.
 */
export function candidateGroups(run: Run, fits: readonly DeviceType[], counts: readonly number[], ms: Float64Array, out: Group[]): Group[] {
  out.length = 0
  for (const t of fits) {
    const avail = t.ids.length - counts[t.index]!
    const singles = singleGroups(t.index)
    for (let k = 0; k < REPLICAS.length && REPLICAS[k]! <= avail; k++) out.push(singles[k]!)
  }
  if (fits.length > 1) {
    // fastest first, ties in the order of fits (a stable insertion sort into scratch)
    const bySpeed = BY_SPEED
    bySpeed.length = 0
    for (const t of fits) {
      let k = bySpeed.length
      bySpeed.push(t)
      for (; k > 0 && ms[bySpeed[k - 1]!.index]! > ms[t.index]!; k--) bySpeed[k] = bySpeed[k - 1]!
      bySpeed[k] = t
    }
    // the k fastest devices (at most 4 of a type), taken one by one in speed order: after the
    // k-th (k = 2 .. 4), the group of those k when they span two types or more
    // (the parts picked so far in PICKED[0, parts), their shape's code built alongside)
    const radix = run.shapeRadix
    let parts = 0
    let code = 0
    let k = 0
    for (const t of bySpeed) {
      const n = Math.min(4, t.ids.length - counts[t.index]!)
      for (let c = 0; c < n && k < 4; c++) {
        k++
        if (c === 0) {
          const p = PICKED[parts++]!
          p.type = t.index
          p.replicas = 1
          code = code * radix + t.index * 5 + 1
        } else {
          PICKED[parts - 1]!.replicas++
          code++
        }
        if (k >= 2 && parts >= 2) out.push(internMixed(run, parts, radix ? code : PICKED.slice(0, parts).map((g) => `${g.type}x${g.replicas}`).join('+')))
      }
      if (k >= 4) break
    }
  }
  return out
}

/** Scratch for candidateGroups: the parts of the mixed group being built. */
const PICKED = Array.from({ length: 4 }, () => ({ type: 0, replicas: 0 }))

/** The mixed group of PICKED[0, parts) of shape `code`, interned per search. */
function internMixed(run: Run, parts: number, code: number | string): Group {
  const { mixed, mixedKeys } = run.memo
  let group = mixed.get(code)
  if (!group) {
    group = PICKED.slice(0, parts).map((g) => ({ type: g.type, replicas: g.replicas }))
    mixed.set(code, group)
    mixedKeys.set(group, { key: group.map((g) => `${g.type}x${g.replicas}`).join('+'), id: mixedKeys.size })
  }
  return group
}
