/**
 * A job's predicted-energy ledger: energy per request of the running epoch x the job's rate x
 * the time it ran, summed between summaries, with the epochs begun. Predicted, not measured:
 * devices report their own energy in heartbeats. A new epoch activates some time after it is
 * published; until then the outgoing epoch still runs and is charged for it.
 */
import type { PlanEpoch } from '../planner/adapt/adapter.js'

export class EnergyLedger {
  private joules = 0
  private sinceMs = 0
  private windowFromMs = 0
  private epochs = 0
  private outgoing: PlanEpoch | null = null

  /** Starts counting at `nowMs` (the job started). */
  start(nowMs: number): void {
    this.sinceMs = nowMs
    this.windowFromMs = nowMs
  }

  /**
   * Charges the time since the last count up to `nowMs`: before `running` activates to the
   * outgoing epoch (if one was handed over), from then on to `running`.
   */
  count(nowMs: number, running: PlanEpoch | null, rateRps: number): void {
    if (this.sinceMs > 0 && nowMs > this.sinceMs) {
      const switchMs = running ? Math.min(nowMs, Math.max(this.sinceMs, running.activateAtMs)) : nowMs
      if (this.outgoing) this.charge(this.outgoing, this.sinceMs, switchMs, rateRps)
      if (running) this.charge(running, switchMs, nowMs, rateRps)
      if (running && nowMs >= running.activateAtMs) this.outgoing = null
    }
    this.sinceMs = Math.max(this.sinceMs, nowMs)
  }

  /** A new epoch begins (after count() up to now with the epoch it replaces, `outgoing`). */
  epochBegun(outgoing: PlanEpoch | null): void {
    this.epochs++
    this.outgoing = outgoing
  }

  /** The energy and epochs since the last take (from `fromMs`), then starts afresh at `nowMs`. */
  take(nowMs: number): { predictedJ: number; epochs: number; fromMs: number } {
    const out = { predictedJ: this.joules, epochs: this.epochs, fromMs: this.windowFromMs }
    this.joules = 0
    this.epochs = 0
    this.sinceMs = Math.max(this.sinceMs, nowMs)
    this.windowFromMs = nowMs
    return out
  }

  private charge(epoch: PlanEpoch, fromMs: number, toMs: number, rateRps: number): void {
    if (toMs > fromMs) this.joules += (epoch.predicted.energyJPerRequest * rateRps * (toMs - fromMs)) / 1000
  }
}
