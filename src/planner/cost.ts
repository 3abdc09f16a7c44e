/**
 * The cost model: what a plan costs on a fleet, in time, air, energy and memory. Pure.
 *
 * Per micro-batch of b requests:
 * - Compute of stage k on device d: overhead_d + b x sum over its layers and op classes of
 *   FLOPs / FLOP/s_d,class. A replicated stage spreads micro-batches over its replicas in
 *   proportion to their speed (routing.ts), so its capacity is the sum of the replicas' rates.
 * - Transfers, where the run makes them (routing.ts): a source's requests to stage 0 (none when
 *   the source runs it), each stage boundary, and model outputs to the job's consumer (the hub
 *   by default, or the request's own source: routing.ts consumerOf). A transfer goes through the hub's broker (its relay: network/transport.ts): an air hop per
 *   wireless endpoint (sender to access point, access point to receiver), a wired hop on its own
 *   link per wired endpoint, none at all when both ends are one device. The air and the wires
 *   carry framed bytes (MQTT chunks over TCP/IP). Its chunks pipeline through the hops and the
 *   relay (network/pipeline.ts): its latency is the slowest stage's whole time plus about one
 *   chunk's time on the others, its air occupancy each air hop's whole time. Granted (the hub's default): each hop alone on
 *   the air at its station's rate and single-sender efficiency, first come first served.
 *   Contended (no coordination): all hops overlap and share the channel per the DCF model.
 * - The air is one shared resource: capacity 1 / (air time per request).
 * - Capacity = min over replicas and the air; latency = batching wait + compute + transfers +
 *   queueing (inference.ts, latency.ts); every resource's utilisation is reported.
 * - Energy per request: idle power of every device the plan uses over 1 / rate, plus
 *   (active - idle) power over each device's busy time, plus radio energy per byte sent and
 *   received.
 * - Memory per device: for each stage it holds, parameters + 2 x b x the stage's largest
 *   activation (double-buffered micro-batches).
 */
import { planOutputError } from './compression.js'
import { jobSources, outputBytesOf, type Fleet, type Network, type Compliance, type DeviceProfile, type Job, type Plan, type Prediction, type Violation } from './types.js'
import { contendedThroughputsBps, shortFrameAirS, soloAirtimeS, soloEfficiency } from './network/wifi.js'
import { predictTraining } from './training.js'
import { predictInference } from './inference.js'
import { DEFAULT_TRANSPORT, PUBACK_WIRE_BYTES, chunkMessages, framedBytes, relayS, wiredHopS } from './network/transport.js'
import { grantHoldS } from './network/grants.js'
import { chunkSizes, runPipeline, splitAroundAir, type AirSplit, type PipeStage } from './network/pipeline.js'
import type { Flops } from '../shared/compute-time.js'

export interface Hop {
  /** Tensor data bytes (framing is added where the hop is timed: network/transport.ts). */
  bytes: number
  /** The station's PHY rate for an air hop; Infinity for a wired hop (its own link, no air). */
  rateBps: number
  /** Device that sends (or null for the hub) and receives on this hop. */
  txDevice: string | null
  rxDevice: string | null
}

/**
 * Seconds of air the hops occupy together: scheduled, one after another at each station's solo
 * rate; contended, all at once, sharing the channel per the DCF model. Wired hops take none.
 */
export function airSeconds(hops: ReadonlyArray<Hop & { weight: number }>, network: Network): number {
  const each = hopAirSeconds(hops, network)
  return hops.reduce((a, h, i) => a + h.weight * each[i]!, 0)
}

/** Seconds of air each hop occupies, as in airSeconds (0 for a wired hop). */
export function hopAirSeconds(hops: ReadonlyArray<Hop>, network: Network): number[] {
  const out = hops.map(() => 0)
  const airborne = hops.map((h, i) => ({ h, i })).filter(({ h }) => Number.isFinite(h.rateBps))
  const t = network.transport ?? DEFAULT_TRANSPORT
  if (network.coordination === 'scheduled') {
    for (const { h, i } of airborne) out[i] = transferS(h, network) + grantHoldS(h, network)
  } else {
    const shares = contendedThroughputsBps(network.standard, airborne.map(({ h }) => h.rateBps))
    airborne.forEach(({ h, i }, k) => (out[i] = hopAirBits(h, network) / shares[k]! / network.availableAirtime))
  }
  return out
}

/**
 * Bits an air hop puts on the air: its framed bytes, and its chunk messages' PUBACKs (QoS 1: one
 * a chunk, back over the same station's link as one short frame; network/wifi.ts shortFrameAirS)
 * counted as the payload bits that take the same air at the station's solo efficiency. The
 * emulated Wi-Fi carries them alike (emulation/wifi-proxy.ts). 0 for a wired hop.
 */
export function hopAirBits(h: Hop, network: Network): number {
  if (!Number.isFinite(h.rateBps) || h.bytes <= 0) return 0
  return framedBytes(h.bytes, network.transport ?? DEFAULT_TRANSPORT) * 8 + acksAirS(h, network) * h.rateBps * soloEfficiency(network.standard, h.rateBps)
}

/** Air time of an air hop's PUBACKs alone on the air (hopAirBits), s. */
function acksAirS(h: Hop, network: Network): number {
  return chunkMessages(h.bytes, network.transport ?? DEFAULT_TRANSPORT) * shortFrameAirS(network.standard, PUBACK_WIRE_BYTES, h.rateBps)
}

/** One hop's own transfer time, seconds: alone on the air (its acknowledgements included), or on its wired link. */
export function transferS(h: Hop, network: Network): number {
  const t = network.transport ?? DEFAULT_TRANSPORT
  if (!Number.isFinite(h.rateBps)) return wiredHopS(h.bytes, t)
  if (h.bytes <= 0) return 0
  return (soloAirtimeS(network.standard, framedBytes(h.bytes, t), h.rateBps) + acksAirS(h, network)) / network.availableAirtime
}

/**
 * The stages a transfer's chunks pass (network/pipeline.ts): the sender's hop, the broker's
 * relay, the receiver's hop. An air hop's chunk takes its share of the hop's whole air time (so
 * the chunks' air adds up to the hop's); a wired hop and the relay take their time per chunk message.
 */
export function transferStages(hops: readonly Hop[], network: Network): PipeStage[] {
  if (!hops.length) return []
  const t = network.transport ?? DEFAULT_TRANSPORT
  const stage = (h: Hop): PipeStage => {
    const i = hops.indexOf(h)
    if (!Number.isFinite(h.rateBps)) return { air: false, hop: i, chunkS: (b) => wiredHopS(b, t) }
    const whole = transferS(h, network)
    return { air: true, hop: i, chunkS: (b) => (whole * b) / h.bytes }
  }
  const relay: PipeStage = { air: false, hop: -1, chunkS: (b) => relayS(b, t) }
  return [...hops.filter((h) => h.txDevice !== null).map(stage), relay, ...hops.filter((h) => h.txDevice === null).map(stage)]
}

/** A transfer's pipelined latency split around its air hops (network/pipeline.ts), grants apart. */
export function pipelinedTransfer(hops: readonly Hop[], network: Network): AirSplit {
  if (!hops.length) return { totalS: 0, airHops: [], gapsS: [], tailS: 0 }
  const stages = transferStages(hops, network)
  const run = runPipeline(stages, chunkSizes(hops[0]!.bytes, (network.transport ?? DEFAULT_TRANSPORT).chunkBytes))!
  return splitAroundAir(stages, run, stages.filter((s) => s.air).map((s) => transferS(hops[s.hop]!, network)))
}

/**
 * Time of one whole transfer besides its air hops' queueing, s: its chunks pipelined through the
 * sender's hop, the broker's relay and the receiver's hop (network/pipeline.ts), each hop alone,
 * plus the grant a device's air hop waits for (if any).
 */
export function transferLatencyS(hops: readonly Hop[], network: Network): number {
  if (!hops.length) return 0
  const stages = transferStages(hops, network)
  const run = runPipeline(stages, chunkSizes(hops[0]!.bytes, (network.transport ?? DEFAULT_TRANSPORT).chunkBytes))!
  return run.endS + hops.reduce((a, h) => a + grantHoldS(h, network), 0)
}

/**
 * Memory a stage needs on each device that holds it. Inference: parameters + 2 x b x the largest
 * activation (double-buffered micro-batches). Training: parameters, their gradients and the
 * optimizer state, plus `stash` micro-batches of every activation the stage produces (1F1B keeps
 * one per micro-batch in flight for the backward pass).
 */
export function stageMemoryBytes(job: Job, layers: readonly [number, number], microBatch: number, stash = 1): number {
  let params = 0
  let peak = 0
  let acts = 0
  for (let i = layers[0]; i < layers[1]; i++) {
    const l = job.model.layers[i]!
    params += l.paramBytes
    peak = Math.max(peak, l.peakActivationBytes)
    acts += l.activationBytes ?? l.peakActivationBytes
  }
  if (!job.training) return params + 2 * microBatch * peak
  return params * (2 + job.training.optimizerStateFactor) + stash * microBatch * acts
}

/**
 * Micro-batch sizes the device runtime executes for `job`: any for training (a step's micro-batch
 * is one batched run, device-firmware-bridge/training-source.ts), but 1 for inference (the executor
 * runs each request alone, one sample a run: it does not batch). The hub plans live jobs with these.
 */
export function runtimeMicroBatches(job: Job): readonly number[] | undefined {
  return job.training ? undefined : [1]
}

/** Samples one stage run of `plan` takes on a device running `job` (see runtimeMicroBatches). */
export function runtimeMicroBatch(job: Job, plan: Plan): number {
  return job.training ? plan.microBatch : 1
}

export function stageComputeMs(job: Job, device: DeviceProfile, layers: readonly [number, number], microBatch: number): number {
  let s = 0
  for (let i = layers[0]; i < layers[1]; i++) {
    const f = job.model.layers[i]!.flops
    s += f.conv / device.flopsPerSec.conv + f.matmul / device.flopsPerSec.matmul + f.elementwise / device.flopsPerSec.elementwise
  }
  return device.stageOverheadMs + microBatch * s * 1000
}

/** Floating-point operations per request of a layer range, by op class. */
export function stageFlops(job: Job, layers: readonly [number, number]): Flops {
  const f = { conv: 0, matmul: 0, elementwise: 0 }
  for (let i = layers[0]; i < layers[1]; i++) {
    const l = job.model.layers[i]!.flops
    f.conv += l.conv
    f.matmul += l.matmul
    f.elementwise += l.elementwise
  }
  return f
}

/**
 * The hops of sending `bytes` from one endpoint to another (null = the hub) through the hub's
 * broker: a wireless device's hop to or from the access point on the air, a wired device's on its
 * own link (rateBps Infinity); none when both ends are one device or the hub.
 */
export function hopsBetween(from: DeviceProfile | null, to: DeviceProfile | null, bytes: number): Hop[] {
  if (bytes <= 0 || (from && to && from.id === to.id) || (!from && !to)) return []
  const hops: Hop[] = []
  if (from) hops.push({ bytes, rateBps: from.linkRateBps ?? Infinity, txDevice: from.id, rxDevice: null })
  if (to) hops.push({ bytes, rateBps: to.linkRateBps ?? Infinity, txDevice: null, rxDevice: to.id })
  return hops
}

/** `p95: false` (inference): the p95 and its uncertainty left out as NaN (predictInference); the search's costing only. */
export function predict(plan: Plan, job: Job, fleet: Fleet, network: Network, p95 = true): Prediction {
  const p = job.training ? predictTraining(plan, job, fleet, network) : predictInference(plan, job, fleet, network, p95)
  return job.model.boundaryErrors ? { ...p, outputError: planOutputError(job.model, plan) } : p
}

/** Memory per device of a plan (training: stage k of S stashes min(S - k, M) micro-batches). */
export function planMemoryBytes(plan: Plan, job: Job): Record<string, number> {
  const memoryBytes: Record<string, number> = {}
  const S = plan.stages.length
  plan.stages.forEach((s, k) => {
    const stash = job.training ? Math.min(S - k, job.training.microBatchesPerStep) : 1
    const bytes = stageMemoryBytes(job, s.layers, plan.microBatch, stash)
    for (const id of s.devices) memoryBytes[id] = (memoryBytes[id] ?? 0) + bytes
  })
  return memoryBytes
}

/** Default highest busy fraction of any resource (QoE.utilisationCap). */
export const DEFAULT_UTILISATION_CAP = 0.75

/**
 * Which QoE bounds a prediction breaks, and by how much. Inference plans need headroom: no
 * resource busier than the utilisation cap, and the p95 bound outside the estimate's uncertainty.
 */
export function compliance(job: Job, fleet: Fleet, p: Prediction): Compliance {
  const v: Violation[] = []
  const q = job.qoe
  if (!job.training && p.capacityRps <= job.rateRps) v.push({ bound: 'overload', device: null, limit: job.rateRps, predicted: p.capacityRps })
  if (q.latencyMs !== undefined && !(p.latencyMs <= q.latencyMs)) v.push({ bound: 'latencyMs', device: null, limit: q.latencyMs, predicted: p.latencyMs })
  const p95WithMargin = p.p95LatencyMs + p.p95UncertaintyMs
  if (q.p95LatencyMs !== undefined && !(p95WithMargin <= q.p95LatencyMs)) v.push({ bound: 'p95LatencyMs', device: null, limit: q.p95LatencyMs, predicted: p95WithMargin })
  if (q.throughputRps !== undefined && p.throughputRps < q.throughputRps) v.push({ bound: 'throughputRps', device: null, limit: q.throughputRps, predicted: p.throughputRps })
  if (q.energyJPerRequest !== undefined && p.energyJPerRequest > q.energyJPerRequest) v.push({ bound: 'energyJPerRequest', device: null, limit: q.energyJPerRequest, predicted: p.energyJPerRequest })
  const maxError = job.model.maxOutputError
  // compression errors add over cuts: the bound is on the whole path's sum
  if (maxError !== undefined && p.outputError !== undefined && p.outputError > maxError) v.push({ bound: 'outputError', device: null, limit: maxError, predicted: p.outputError })
  const fraction = q.memoryFraction ?? 0.8
  for (const [id, bytes] of Object.entries(p.memoryBytes)) {
    const d = fleet.devices.get(id)!
    if (bytes > d.memoryBytes * fraction) v.push({ bound: 'memory', device: id, limit: d.memoryBytes * fraction, predicted: bytes })
    if (d.battery && d.battery.levelPct < d.battery.minPct) v.push({ bound: 'battery', device: id, limit: d.battery.minPct, predicted: d.battery.levelPct })
  }
  const cap = q.utilisationCap ?? DEFAULT_UTILISATION_CAP
  let busiest = 0
  // training: a plan whose steps and checkpoints need more air than a step lasts cannot keep its
  // checkpoint cadence (each would queue behind the last for ever; devices drop the ones not begun)
  const air = p.utilisation.air ?? 0
  if (job.training && air > 1) v.push({ bound: 'utilisation', device: 'air', limit: 1, predicted: air })
  if (!job.training) {
    for (const [id, u] of Object.entries(p.utilisation)) {
      busiest = Math.max(busiest, u)
      // an overloaded plan is reported as such already
      if (u > cap && u < 1) v.push({ bound: 'utilisation', device: id, limit: cap, predicted: u })
    }
  }
  return {
    compliant: v.length === 0,
    violations: v,
    p95MarginMs: q.p95LatencyMs === undefined ? null : q.p95LatencyMs - p95WithMargin,
    utilisationMargin: job.training ? null : cap - busiest,
  }
}


/**
 * How far a plan is from its bounds: each broken bound's gap relative to its limit (an upper
 * bound's excess, a lower bound's shortfall), summed; an unbounded prediction counts 1e6.
 * Zero for a compliant plan. Ranks the closest plans when nothing complies.
 */
export function distanceToBounds(c: Compliance): number {
  return c.violations.reduce((a, v) => a + boundGap(v), 0)
}

/** One violation's gap relative to its limit (see distanceToBounds). */
export function boundGap(v: Violation): number {
  const lower = v.bound === 'throughputRps' || v.bound === 'overload' || v.bound === 'battery'
  const gap = lower ? (v.limit - v.predicted) / Math.max(Math.abs(v.limit), 1e-12) : (v.predicted - v.limit) / Math.max(Math.abs(v.limit), 1e-12)
  return Number.isFinite(gap) ? Math.max(0, Math.min(gap, 1e6)) : 1e6
}
