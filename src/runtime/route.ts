/**
 * Which devices a request visits (pure). A source picks, per request, one plan of the epoch's mix
 * (by weight) and one replica per stage (by the stage's shares), with smooth weighted round robin
 * so that the split follows the weights closely over any window, not only on average. A source
 * that holds a replica of the first stage keeps its requests when every replica of that stage is
 * a source (local routing, as the cost model assumes: cameras run the first layers on their own
 * frames); beside replicas that are not sources it spreads its requests by capacity.
 */
import type { PlanEpochPayload } from '../protocol/payloads.js'

export type PlanPart = PlanEpochPayload['parts'][number]

export interface Route {
  readonly planId: string
  /** The device of each stage. */
  readonly devices: string[]
}

/** Smooth weighted round robin (as nginx balances upstreams): deterministic, bounded error. */
export class WeightedTurns {
  private readonly credit = new Map<string, number[]>()

  pick(key: string, weights: readonly number[]): number {
    if (!weights.length) throw new RangeError(`nothing to choose from for ${key}`)
    let c = this.credit.get(key)
    if (!c || c.length !== weights.length) this.credit.set(key, (c = weights.map(() => 0)))
    const w = weights.map((x) => (Number.isFinite(x) && x > 0 ? x : 0))
    const sum = w.reduce((a, x) => a + x, 0)
    const use = sum > 0 ? w : w.map(() => 1)
    const total = sum > 0 ? sum : w.length
    let best = 0
    for (let i = 0; i < use.length; i++) {
      c[i]! += use[i]!
      if (c[i]! > c[best]!) best = i
    }
    c[best]! -= total
    return best
  }
}

export class Router {
  private readonly turns = new WeightedTurns()

  /** `localFirst`: stage 0 runs on the source itself when it holds it (inference); training spreads by shares. */
  constructor(private readonly source: string, private readonly localFirst = true) {}

  route(plan: PlanEpochPayload): Route {
    const part = plan.parts[this.turns.pick(`e${plan.epoch}`, plan.parts.map((p) => p.weight))]!
    const devices = part.stages.map((st, k) => {
      // stage 0 is local when every replica is a source (each keeps its own requests); a source
      // beside replicas that are not sources spreads by capacity like any other (the cost model's
      // rule, planner/routing.ts); an epoch without its sources list keeps the source local
      const local = !plan.sources || st.devices.every((id) => plan.sources!.includes(id))
      if (k === 0 && this.localFirst && local && st.devices.includes(this.source)) return this.source
      const shares = st.shares && st.shares.length === st.devices.length ? st.shares : st.devices.map(() => 1)
      return st.devices[this.turns.pick(`e${plan.epoch}/${part.planId}/${k}`, shares)]!
    })
    return { planId: part.planId, devices }
  }
}
