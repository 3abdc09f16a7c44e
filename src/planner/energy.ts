/**
 * The energy a plan spends per request (the cost model's figure; inference.ts): every device of the
 * plan idles for its share of time, each replica draws active power over its busy time, and each
 * hop's radio costs per byte sent and received.
 */
import type { Hop } from './cost.js'
import type { Fleet, Plan } from './types.js'
import { replicaLoad, type Routing } from './routing.js'

/** Energy per request at the delivered rate: idle power, active power over busy time, radio per byte. */
export function energyPerRequest(plan: Plan, routing: Routing, hops: ReadonlyArray<Hop & { weight: number }>, fleet: Fleet, throughputRps: number): number {
  const b = plan.microBatch
  const dev = (id: string) => fleet.devices.get(id)!
  let joules = 0
  for (const id of new Set(plan.stages.flatMap((s) => s.devices))) joules += dev(id).idleW / throughputRps
  routing.stages.forEach((st, j) => st.replicas.forEach((r, ri) => (joules += (replicaLoad(routing, j, ri) * (r.d.activeW - r.d.idleW) * r.ms) / 1000 / b)))
  for (const h of hops) {
    if (h.txDevice) joules += (h.weight * h.bytes * dev(h.txDevice).txJPerByte) / b
    if (h.rxDevice) joules += (h.weight * h.bytes * dev(h.rxDevice).rxJPerByte) / b
  }
  return joules
}
