/**
 * When a device may send (pure): the hub gives each device sending slots for each receiver,
 * relative to its plan's cycle (cycle k starts at activateAtMs + k x cycleMs; a slot's offset
 * may exceed the cycle: a micro-batch whose transfers run on into the next cycle, so its first
 * time is activateAtMs + offset, never a cycle before; one slot per transfer). A transfer takes
 * the earliest slot toward its receiver that no earlier transfer took, work-conserving: a slot
 * that began before the transfer was ready (within the last cycle) and went untaken is taken at
 * once, as the simulator's medium lets data late for its slot go as soon as it is ready, rather
 * than waiting up to a cycle for the next one. A receiver with no slots (or a plan without a
 * schedule) is sent to at once. Shared: a device's transfer gate (runtime/slot-gate.ts), the
 * simulator, and the planner's prediction of the slots as they run (planner/network/turn-replay.ts)
 * take slots by this one rule.
 */
import { justAfter } from './just-after.js'

export interface Slot {
  readonly offsetMs: number
  readonly durationMs: number
}

/** Keys kept before the ones no take can need any more are dropped (re-plans make new keys). */
const PRUNE_ABOVE = 256

export class SlotGate {
  /** Per (plan, receiver): the start of the last slot taken, and its plan's cycle. */
  private readonly taken = new Map<string, { t: number; cycleMs: number }>()

  /** Keys held (tests). */
  get size(): number {
    return this.taken.size
  }

  /** The time the transfer may start (>= nowMs), and takes that slot. */
  take(key: string, nowMs: number, slots: readonly Slot[], cycleMs: number | null, activateAtMs: number): number {
    if (!slots.length || !cycleMs || cycleMs <= 0) return nowMs
    if (this.taken.size > PRUNE_ABOVE) this.prune(nowMs)
    // strictly after the last slot taken (shared/just-after.ts)
    const after = Math.max(nowMs - cycleMs, justAfter(this.taken.get(key)?.t ?? -Infinity))
    // slot o recurs at activateAtMs + o + k cycles, k >= 0: the earliest of them at or after `after`
    let t = Infinity
    for (const s of slots) {
      const k = Math.max(0, Math.floor((after - activateAtMs - s.offsetMs) / cycleMs))
      let at = activateAtMs + s.offsetMs + k * cycleMs
      // (rounding puts k at most one short: never a start before `after`)
      for (let i = 0; at < after && i < 3; i++) at += cycleMs
      if (at < after) at = after // (a cycle below the doubles' spacing)
      if (at < t) t = at
    }
    this.taken.set(key, { t, cycleMs })
    return Math.max(t, nowMs)
  }

  /** Drops the keys whose last slot began over a cycle ago: a take never looks back further. */
  private prune(nowMs: number): void {
    for (const [key, v] of this.taken) if (v.t < nowMs - v.cycleMs) this.taken.delete(key)
  }
}

/** A schedule's slots by link, keyed `{station}|{receiver}` (the planner's turn replay and the simulator send through them). */
export function slotsByLink(byDevice: Readonly<Record<string, ReadonlyArray<{ readonly to: string; readonly offsetMs: number; readonly durationMs: number }>>>): Map<string, Slot[]> {
  const slots = new Map<string, Slot[]>()
  for (const [station, list] of Object.entries(byDevice)) {
    for (const x of list) {
      const key = `${station}|${x.to}`
      if (!slots.has(key)) slots.set(key, [])
      slots.get(key)!.push({ offsetMs: x.offsetMs, durationMs: x.durationMs })
    }
  }
  return slots
}
