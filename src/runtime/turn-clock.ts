/**
 * A periodic source's captures phased to its slots (pure). With slots, the network scheduler's
 * cycle gives each source turns: micro-batch m of the cycle leaves source routes[m] at
 * activateAtMs + k x cycleMs + m x periodMs. A camera's frame clock ticks at its rate; instead of
 * capturing at the tick and waiting for its turn, it captures at its next turn that no earlier
 * frame took, so a frame never waits for the air (its latency runs from the capture). The turns
 * come at least as often as the frames (the scheduler's period serves each source's rate), so
 * the camera keeps its rate; the capture moves by less than a turn gap.
 */
import type { PlanEpochPayload } from '../protocol/payloads.js'
import { justAfter } from '../shared/just-after.js'

export interface TurnPlan {
  readonly activateAtMs: number
  /** Wall-clock cycle and period (profile times times the emulation clock). */
  readonly cycleMs: number
  readonly periodMs: number
  /** The micro-batches of the cycle that are this source's turns. */
  readonly turns: readonly number[]
}

export class TurnClock {
  private lastTaken = -Infinity

  constructor(private readonly p: TurnPlan) {
    if (!(p.cycleMs > 0) || !(p.periodMs > 0) || !p.turns.length) throw new RangeError('a turn clock needs a positive cycle and period and at least one turn')
  }

  /**
   * When to capture a frame that is due at `nowMs`: the next turn at or after it that no earlier
   * frame took (and takes it). Should the frames outrun the turns (a clock that drifts), a frame
   * whose turn lies over a cycle ahead takes the next turn after its own tick instead.
   */
  take(nowMs: number): number {
    if (this.lastTaken > nowMs + this.p.cycleMs) this.lastTaken = -Infinity
    // strictly after the last turn taken (shared/just-after.ts)
    const after = Math.max(nowMs, justAfter(this.lastTaken))
    const offsets = [...this.p.turns].map((m) => m * this.p.periodMs).sort((a, b) => a - b)
    for (let k = Math.max(0, Math.floor((after - this.p.activateAtMs) / this.p.cycleMs)); ; k++) {
      for (const o of offsets) {
        const t = this.p.activateAtMs + k * this.p.cycleMs + o
        if (t >= after) {
          this.lastTaken = t
          return t
        }
      }
    }
  }
}

/** A source's turns in a plan epoch: when its one plan runs in slots and gives it turns; null otherwise (it captures at its ticks). */
export function turnPlanOf(plan: PlanEpochPayload, src: string, timeScale = 1): TurnPlan | null {
  if (plan.parts.length !== 1) return null
  const p = plan.parts[0]!
  if (p.transfers !== 'slots' || !p.schedule?.turns) return null
  const turns = p.schedule.turns.flatMap((s, m) => (s === src ? [m] : []))
  if (!turns.length) return null
  return { activateAtMs: plan.activateAtMs, cycleMs: p.schedule.cycleMs * timeScale, periodMs: p.schedule.periodMs * timeScale, turns }
}

/** A source's captures phased to its turns, following its newest plan epoch. */
export class PhasedCapture {
  private clock: TurnClock | null = null
  private epoch = -1

  constructor(private readonly src: string, private readonly timeScale = 1) {}

  /** How long to wait before capturing the frame due at `nowMs` (0: capture at once). */
  delayMs(plan: PlanEpochPayload | null, nowMs: number): number {
    if (!plan) return 0
    if (plan.epoch !== this.epoch) {
      this.epoch = plan.epoch
      const tp = turnPlanOf(plan, this.src, this.timeScale)
      this.clock = tp ? new TurnClock(tp) : null
    }
    return this.clock ? Math.max(0, this.clock.take(nowMs) - nowMs) : 0
  }
}
