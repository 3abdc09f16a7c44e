/**
 * Near-identical devices as one type for the partitioner's SEARCH (issues 14 and 18: measured
 * profiles are never exactly equal, and with every device a type of its own the search's states
 * multiply). Devices whose every figure lies within `tolerance` of each other (max / min <= 1 +
 * tolerance; the same link kind, emulation flag, and no battery) share a type whose
 * representative is conservative: the slowest speeds, the least memory, the highest powers and
 * overhead, the slowest link of its members. The search only ranks partial plans with it; the
 * complete plans it returns are costed exactly, each device with its own profile (partition-dp.ts
 * costed). Identical profiles group exactly as before (deviceTypes). Pure.
 */
import type { DeviceProfile } from './types.js'

/** Default tolerance of PartitionOptions.groupTolerance: figures within 5% of each other. */
export const DEFAULT_GROUP_TOLERANCE = 0.05

export interface DeviceTypeLike {
  readonly index: number
  readonly ids: readonly string[]
  readonly rep: DeviceProfile
}

/** The figures compared and combined, each with the direction that is conservative. */
const FIGURES: ReadonlyArray<{ get: (d: DeviceProfile) => number; worst: 'min' | 'max' }> = [
  { get: (d) => d.flopsPerSec.conv, worst: 'min' },
  { get: (d) => d.flopsPerSec.matmul, worst: 'min' },
  { get: (d) => d.flopsPerSec.elementwise, worst: 'min' },
  { get: (d) => d.stageOverheadMs, worst: 'max' },
  { get: (d) => d.memoryBytes, worst: 'min' },
  { get: (d) => d.idleW, worst: 'max' },
  { get: (d) => d.activeW, worst: 'max' },
  { get: (d) => d.txJPerByte, worst: 'max' },
  { get: (d) => d.rxJPerByte, worst: 'max' },
  { get: (d) => d.linkRateBps ?? 0, worst: 'min' },
]

/** True when every figure of a and b is within `tolerance` of each other (zero equals only zero). */
export function nearProfiles(a: DeviceProfile, b: DeviceProfile, tolerance: number): boolean {
  if (a.emulated !== b.emulated || (a.linkRateBps === null) !== (b.linkRateBps === null) || a.battery || b.battery) return false
  for (const f of FIGURES) {
    const x = f.get(a)
    const y = f.get(b)
    if (x === y) continue
    if (!(x > 0 && y > 0) || Math.max(x, y) / Math.min(x, y) > 1 + tolerance) return false
  }
  return true
}

/**
 * Merges exact types (in order) into groups of near-identical members: each type joins the first
 * group every member of which is near it, else starts one. Members are listed fastest first (so a
 * plan takes the fastest devices of a group first), the representative is the conservative one.
 */
export function mergeNearTypes<T extends DeviceTypeLike>(types: readonly T[], tolerance: number, make: (index: number, ids: string[], rep: DeviceProfile) => T): T[] {
  if (!(tolerance > 0)) return [...types]
  const groups: T[][] = []
  for (const t of types) {
    const g = groups.find((members) => members.every((m) => nearProfiles(m.rep, t.rep, tolerance)))
    if (g) g.push(t)
    else groups.push([t])
  }
  return groups.map((members, index) => {
    if (members.length === 1) return make(index, [...members[0]!.ids], members[0]!.rep)
    const bySpeed = [...members].sort((a, b) => speed(b.rep) - speed(a.rep))
    return make(index, bySpeed.flatMap((m) => m.ids), conservative(bySpeed.map((m) => m.rep)))
  })
}

function speed(d: DeviceProfile): number {
  return d.flopsPerSec.conv + d.flopsPerSec.matmul + d.flopsPerSec.elementwise
}

/** The worst of every figure of `ds` (all near, no battery), named after the first. */
function conservative(ds: readonly DeviceProfile[]): DeviceProfile {
  const worst = (get: (d: DeviceProfile) => number, dir: 'min' | 'max') => (dir === 'min' ? Math.min : Math.max)(...ds.map(get))
  const [conv, matmul, elementwise, stageOverheadMs, memoryBytes, idleW, activeW, txJPerByte, rxJPerByte, link] = FIGURES.map((f) => worst(f.get, f.worst)) as [number, number, number, number, number, number, number, number, number, number]
  const first = ds[0]!
  return {
    ...first,
    flopsPerSec: { conv, matmul, elementwise },
    stageOverheadMs, memoryBytes, idleW, activeW, txJPerByte, rxJPerByte,
    linkRateBps: first.linkRateBps === null ? null : link,
  }
}
