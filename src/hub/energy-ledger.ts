/**
 * A job's predicted-energy ledger: energy per request of the running epoch x the job's rate x
 * the time it ran, summed between summaries, with the epochs begun. Predicted, not measured:
 * devices report their own energy in heartbeats.
 */
import type { PlanEpoch } from '../planner/adapt/adapter.js'

export class EnergyLedger {
  private joules = 0
  private sinceMs = 0
  private epochs = 0

  /** Starts counting at `nowMs` (the job started). */
  start(nowMs: number): void {
    this.sinceMs = nowMs
  }

  /** Counts the running epoch's energy up to `nowMs`. */
  count(nowMs: number, running: PlanEpoch | null, rateRps: number): void {
    if (running && this.sinceMs > 0) {
      const from = Math.max(this.sinceMs, running.activateAtMs)
      if (nowMs > from) this.joules += (running.predicted.energyJPerRequest * rateRps * (nowMs - from)) / 1000
    }
    this.sinceMs = nowMs
  }

  /** A new epoch begins (after count() up to its start). */
  epochBegun(): void {
    this.epochs++
  }

  /** The energy and epochs since the last take, then starts afresh at `nowMs`. */
  take(nowMs: number): { predictedJ: number; epochs: number; fromMs: number } {
    const out = { predictedJ: this.joules, epochs: this.epochs, fromMs: this.sinceMs }
    this.joules = 0
    this.epochs = 0
    this.sinceMs = nowMs
    return out
  }
}
