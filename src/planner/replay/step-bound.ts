/**
 * A lower bound on a training step as the replay runs it (replay/training.ts oneStepMs), which the
 * partitioner uses to skip replays of plans that cannot reach the front (partition-dp.ts
 * costTraining). Everything here is a least time of what the replay does, never more. Pure.
 *
 * - A device runs one task at a time and the step ends after its last: its own compute (forwards
 *   and backwards by the replay's micro-batch assignment), after its first micro-batch's input
 *   and the forwards and activations of the stages before it, and before its last one's
 *   gradients and backwards back to stage 0 (each at its quickest replica pair).
 * - With scheduled coordination (not at once: medium.ts airShared) one of the job's hops is on the air at a time: the step is no
 *   shorter than the air of every transfer of its micro-batches, the last one followed by a
 *   backward on stage 0 at least.
 * - After the flush, the all-reduce: each ring's rounds one after another (a round ends with its
 *   slowest transfer); scheduled, every ring's hops one at a time.
 * A transfer takes at least the waits off the air of its pipelined split (replay/medium.ts) plus,
 * per air hop, its grant and its bits at its station's rate alone on the air.
 */
import { hopAirBits, hopsBetween, stageComputeMs, type Hop } from '../cost.js'
import { soloEfficiency } from '../network/wifi.js'
import { grantHoldS } from '../network/grants.js'
import { stageParamBytes } from '../training.js'
import type { DeviceProfile, Fleet, Job, Network, Plan } from '../types.js'
import { airShared, transferSplit } from './medium.js'
import { replicaAssignment } from './training.js'
import { cutBytes } from '../compression.js'

/** A transfer's least duration and least air time, ms. */
interface Least { ms: number; airMs: number }

const NONE: Least = { ms: 0, airMs: 0 }

/** The least time of a transfer from `from` to `to` (the replay's medium), ms; per network. */
function leastTransfer(network: Network): (from: DeviceProfile | null, to: DeviceProfile | null, bytes: number) => Least {
  const bg = network.background
  // the medium's rate of a hop alone on the air (other traffic only lowers it)
  const airtime = bg ? Math.min(1, network.availableAirtime / (1 - bg.airShare)) : network.availableAirtime
  // (less a nanosecond: the medium ends a hop with that little left)
  const airS = (h: Hop) => Math.max(0, hopAirBits(h, network) / (h.rateBps * soloEfficiency(network.standard, h.rateBps) * airtime) - 1e-9) + grantHoldS(h, network)
  return (from, to, bytes) => {
    const hops = hopsBetween(from, to, bytes)
    if (!hops.length) return NONE
    const split = transferSplit(from, to, bytes, hops, network)
    let s = split.tailS
    let air = 0
    for (let j = 0; j < split.airHops.length; j++) {
      const a = airS(hops[split.airHops[j]!]!)
      s += split.gapsS[j]! + a
      air += a
    }
    return { ms: s * 1000, airMs: air * 1000 }
  }
}

/** A lower bound on oneStepMs (see above), lowered by a part in a million so that rounding never lifts it over the replay's figure. */
export function stepLowerBoundMs(plan: Plan, job: Job, fleet: Fleet, network: Network): number {
  const M = job.training!.microBatchesPerStep
  const b = plan.microBatch
  const S = plan.stages.length
  const dev = (id: string) => fleet.devices.get(id)!
  const source = job.sourceDevice ? dev(job.sourceDevice) : null
  const least = leastTransfer(network)
  const fwdMs = plan.stages.map((s) => new Map(s.devices.map((id) => [id, stageComputeMs(job, dev(id), s.layers, b)])))
  const assignment = replicaAssignment(plan, fwdMs, M)
  // a forward's and a backward's time, as the replay takes them
  const fMs = (k: number, id: string) => fwdMs[k]!.get(id)!
  const bMs = (k: number, id: string) => 2 * (fMs(k, id) - dev(id).stageOverheadMs) + dev(id).stageOverheadMs
  const bytesIn = (k: number) => b * cutBytes(job.model, plan, plan.stages[k]!.layers[0])
  const busy = new Map<string, number>()
  const stageOf = new Map<string, number>()
  assignment.forEach((ids, k) => {
    for (const id of ids) {
      busy.set(id, (busy.get(id) ?? 0) + fMs(k, id) + bMs(k, id))
      stageOf.set(id, stageOf.has(id) && stageOf.get(id) !== k ? -1 : k)
    }
  })
  const quickest = (xs: readonly string[], f: (id: string) => number) => Math.min(...xs.map(f))
  // each stage's transfers in (from the source; from replica a before it to its replica z, at
  // a x replicas + z) and gradients back
  const inputs = plan.stages[0]!.devices.map((id) => least(source, dev(id), bytesIn(0)))
  const fwd: Least[][] = [inputs]
  const back: Least[][] = [[]]
  for (let k = 1; k < S; k++) {
    fwd.push([])
    back.push([])
    for (const a of plan.stages[k - 1]!.devices) for (const z of plan.stages[k]!.devices) {
      fwd[k]!.push(least(dev(a), dev(z), bytesIn(k)))
      back[k]!.push(least(dev(z), dev(a), bytesIn(k)))
    }
  }
  const quickestOf = (ts: readonly Least[]) => {
    let ms = Infinity
    for (const t of ts) ms = Math.min(ms, t.ms)
    return ms
  }
  // before stage k's first forward and after its last backward: the input, then per stage before
  // it the quickest forward and activation, and back the quickest gradient and backward
  const input = quickestOf(inputs)
  const around = [input]
  for (let k = 1; k < S; k++) {
    const prev = plan.stages[k - 1]!.devices
    around.push(around[k - 1]! + quickest(prev, (id) => fMs(k - 1, id)) + quickestOf(fwd[k]!) + quickestOf(back[k]!) + quickest(prev, (id) => bMs(k - 1, id)))
  }
  let bound = 0
  for (const [id, ms] of busy) bound = Math.max(bound, ms + (stageOf.get(id)! >= 0 ? around[stageOf.get(id)!]! : input))
  // (at once the stations share the air as the contended medium does: replay/medium.ts airShared)
  const scheduled = !airShared(network)
  if (scheduled) {
    // the replica of each micro-batch per stage
    const replica = assignment.map((ids, k) => ids.map((id) => plan.stages[k]!.devices.indexOf(id)))
    let air = 0
    for (let mb = 0; mb < M; mb++) {
      air += inputs[replica[0]![mb]!]!.airMs
      for (let k = 1; k < S; k++) {
        const pair = replica[k - 1]![mb]! * plan.stages[k]!.devices.length + replica[k]![mb]!
        air += fwd[k]![pair]!.airMs + back[k]![pair]!.airMs
      }
    }
    if (air > 0) bound = Math.max(bound, air + quickest(plan.stages[0]!.devices, (id) => bMs(0, id)))
  }
  return (bound + allReduceLeastMs(plan, job, least, scheduled, dev)) * (1 - 1e-6)
}

/** The least time of the all-reduce after a step's flush (replay/training.ts allReduce), ms. */
function allReduceLeastMs(plan: Plan, job: Job, least: ReturnType<typeof leastTransfer>, scheduled: boolean, dev: (id: string) => DeviceProfile): number {
  let longest = 0
  let air = 0
  for (const s of plan.stages) {
    const m = s.devices.length
    if (m < 2) continue
    const chunk = stageParamBytes(job, s.layers) / m
    let slowest = 0
    let ringAir = 0
    s.devices.forEach((id, i) => {
      const t = least(dev(id), dev(s.devices[(i + 1) % m]!), chunk)
      slowest = Math.max(slowest, t.ms)
      ringAir += t.airMs
    })
    longest = Math.max(longest, 2 * (m - 1) * slowest)
    air += 2 * (m - 1) * ringAir
  }
  return scheduled ? Math.max(longest, air) : longest
}
