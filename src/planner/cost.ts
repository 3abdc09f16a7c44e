/**
 * The cost model: what a plan costs on a fleet, in time, air, energy and memory. Pure.
 *
 * Per micro-batch of b requests:
 * - Compute of stage k on device d: overhead_d + b x sum over its layers and op classes of
 *   FLOPs / FLOP/s_d,class. A replicated stage spreads micro-batches over its replicas in
 *   proportion to their speed, so its capacity is the sum of the replicas' rates.
 * - Transfers: the input from the source to stage 0, each stage boundary, and the output back
 *   to the source. A transfer between two devices goes through the hub's broker: one air hop per
 *   wireless endpoint (sender to access point, access point to receiver), none for a wired one,
 *   none at all when both stages share a device. Scheduled (Dora's slots): each hop alone on the
 *   air at its station's rate and single-sender efficiency. Contended (no coordination): all hops
 *   of the pipeline overlap and share the channel per the DCF model (wifi.ts).
 * - The air is one shared resource: capacity 1 / (air time per request).
 * - Capacity = min over stages and the air; latency = batching wait + compute + transfers +
 *   queueing, M/D/1 per resource: mean wait rho S / (2 (1 - rho)); the p95 wait is approximated
 *   by an exponential tail, (W / rho) ln(rho / 0.05) (the simulator measures the real one).
 * - Energy per request: idle power of every device the plan uses over 1 / rate, plus
 *   (active - idle) power over each device's busy time, plus radio energy per byte sent and
 *   received.
 * - Memory per device: for each stage it holds, parameters + 2 x b x the stage's largest
 *   activation (double-buffered micro-batches).
 */
import { jobSources, outputBytesOf, type Compliance, type DeviceProfile, type Job, type Plan, type Prediction, type Violation } from './types.js'
import { contendedThroughputsBps, soloAirtimeS, type WifiStandard } from './network/wifi.js'
import { predictTraining } from './training.js'

export interface Network {
  readonly standard: WifiStandard
  /** Scheduled transfer slots (Dora) or uncoordinated sending. */
  readonly coordination: 'scheduled' | 'contended'
  /** Fraction of airtime left by other traffic (1 = the channel is ours), on average. */
  readonly availableAirtime: number
  /**
   * Other networks' traffic as random bursts (the simulator draws them; the cost model sees its
   * mean through availableAirtime, which already excludes `airShare`).
   */
  readonly background?: Readonly<{ airShare: number; burstBytes: number; rateBps: number }>
}

export interface Fleet {
  readonly devices: ReadonlyMap<string, DeviceProfile>
}

export interface Hop {
  bytes: number
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
  if (network.coordination === 'scheduled') {
    for (const { h, i } of airborne) out[i] = soloAirtimeS(network.standard, h.bytes, h.rateBps) / network.availableAirtime
  } else {
    const shares = contendedThroughputsBps(network.standard, airborne.map(({ h }) => h.rateBps))
    airborne.forEach(({ h, i }, k) => (out[i] = (h.bytes * 8) / shares[k]! / network.availableAirtime))
  }
  return out
}

/** One hop's own transfer time, seconds, alone on the air. */
export function transferS(h: Hop, network: Network): number {
  return Number.isFinite(h.rateBps) ? soloAirtimeS(network.standard, h.bytes, h.rateBps) / network.availableAirtime : 0
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

export function stageComputeMs(job: Job, device: DeviceProfile, layers: readonly [number, number], microBatch: number): number {
  let s = 0
  for (let i = layers[0]; i < layers[1]; i++) {
    const f = job.model.layers[i]!.flops
    s += f.conv / device.flopsPerSec.conv + f.matmul / device.flopsPerSec.matmul + f.elementwise / device.flopsPerSec.elementwise
  }
  return device.stageOverheadMs + microBatch * s * 1000
}

export interface Flops {
  conv: number
  matmul: number
  elementwise: number
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

/** A device's time for a request of `flops` (a stage as an emulated device runs it): overhead + work, ms. */
export function flopsTimeMs(device: DeviceProfile, flops: Flops): number {
  return device.stageOverheadMs + 1000 * (flops.conv / device.flopsPerSec.conv + flops.matmul / device.flopsPerSec.matmul + flops.elementwise / device.flopsPerSec.elementwise)
}

/** The air hops of sending `bytes` from one endpoint to another (null = the hub, wired). */
export function hopsBetween(from: DeviceProfile | null, to: DeviceProfile | null, bytes: number): Hop[] {
  if (bytes <= 0 || (from && to && from.id === to.id)) return []
  const hops: Hop[] = []
  if (from?.linkRateBps) hops.push({ bytes, rateBps: from.linkRateBps, txDevice: from.id, rxDevice: null })
  if (to?.linkRateBps) hops.push({ bytes, rateBps: to.linkRateBps, txDevice: null, rxDevice: to.id })
  // A wired-to-wired transfer never touches the air, but the radios still move the bytes:
  if (!hops.length) hops.push({ bytes, rateBps: Infinity, txDevice: from?.id ?? null, rxDevice: to?.id ?? null })
  return hops
}

export function predict(plan: Plan, job: Job, fleet: Fleet, network: Network): Prediction {
  if (job.training) return predictTraining(plan, job, fleet, network)
  const b = plan.microBatch
  const dev = (id: string): DeviceProfile => {
    const d = fleet.devices.get(id)
    if (!d) throw new RangeError(`plan ${plan.id} uses unknown device ${id}`)
    return d
  }

  // Compute: per stage, replica rates (micro-batches per second) and shares. A replicated
  // stage spreads micro-batches in proportion to replica speed; stage 0 first keeps a source's
  // requests on the source itself when it is a replica (local routing, a camera running the first
  // layers on its own frames). The stage's rate is what its busiest replica allows.
  const src = jobSources(job).map((x) => ({ d: x.device ? dev(x.device) : null, share: x.share }))
  const stages = plan.stages.map((st, k) => {
    const reps = st.devices.map((id) => {
      const d = dev(id)
      const ms = stageComputeMs(job, d, st.layers, b)
      return { d, ms }
    })
    const speed = reps.reduce((s, r) => s + 1000 / r.ms, 0)
    const routes = k === 0 ? routeInputs(src, reps.map((r) => ({ d: r.d, share: 1000 / r.ms / speed }))) : null
    const shares = routes ? reps.map((_, r) => routes.reduce((a, x) => a + (x.to === r ? x.weight : 0), 0)) : reps.map((r) => 1000 / r.ms / speed)
    const rate = Math.min(...reps.map((r, i) => (shares[i]! > 0 ? 1000 / r.ms / shares[i]! : Infinity)))
    return { st, reps: reps.map((r, i) => ({ ...r, share: shares[i]! })), rate, routes }
  })

  // Transfers per micro-batch, expected over replica choices.
  const hops: Array<Hop & { weight: number }> = []
  const addTransfer = (from: Array<{ d: DeviceProfile | null; share: number }>, to: Array<{ d: DeviceProfile | null; share: number }>, bytes: number) => {
    for (const f of from) for (const t of to) for (const h of hopsBetween(f.d, t.d, bytes)) hops.push({ ...h, weight: f.share * t.share })
  }
  const L = job.model.layers.length
  stages.forEach((s, k) => {
    const bytes = b * job.model.boundaryBytes[s.st.layers[0]]!
    if (s.routes) for (const r of s.routes) for (const h of hopsBetween(src[r.from]!.d, s.reps[r.to]!.d, bytes)) hops.push({ ...h, weight: r.weight })
    else addTransfer(stages[k - 1]!.reps, s.reps, bytes)
  })
  // model outputs go to the results from the stage that produces them
  for (const s of stages) addTransfer(s.reps, src, b * outputBytesOf(job.model, s.st.layers))

  // Air time per micro-batch.
  const airS = airSeconds(hops, network)

  // Capacity and bottleneck (requests per second).
  let capacity = Infinity
  let bottleneck = 'none'
  let bottleneckMs = 0
  stages.forEach((s, k) => {
    const c = s.rate * b
    if (c < capacity) {
      capacity = c
      bottleneck = `stage ${k} (${s.st.devices.join('+')})`
      bottleneckMs = 1000 / c
    }
  })
  if (airS > 0 && b / airS < capacity) {
    capacity = b / airS
    bottleneck = 'wifi'
    bottleneckMs = 1000 / capacity
  }

  // Latency of one request.
  const lambda = job.rateRps
  const overloaded = lambda >= capacity
  const batchingMs = b > 1 ? ((b - 1) / (2 * lambda)) * 1000 : 0
  const computeMs = stages.reduce((s, st) => s + st.reps.reduce((t, r) => t + r.share * r.ms, 0), 0)
  const transferMs = hops.reduce((s, h) => s + h.weight * transferS(h, network) * 1000, 0)
  let waitMs = 0
  let waitP95Ms = 0
  const queue = (serviceMs: number, rho: number) => {
    if (rho <= 0) return
    const w = (rho * serviceMs) / (2 * (1 - rho))
    waitMs += w
    if (rho > 0.05) waitP95Ms += (w / rho) * Math.log(rho / 0.05)
  }
  // The air serves each hop of a micro-batch as a separate visit, first come first served, so
  // every visit waits for the air's residual work (Pollaczek-Khinchine, M/G/1 over the mix of hop
  // times): W = rate x E[s^2] / (2 (1 - rho)) per visit. A later visit of the same micro-batch
  // also finds the hops of micro-batches that arrived while its earlier visit waited and was
  // served: about rate x E[s] x (W + E[s]) more. (Checked against the simulator: on the traffic
  // scenario's energy plan, air at 64% busy, 325-332 ms simulated over 1,200 s vs 317 ms
  // predicted; without the second term 282 ms.)
  const airQueue = (hs: ReadonlyArray<Hop & { weight: number }>, net: Network, batchesPerS: number, airPerBatchS: number) => {
    const rho = batchesPerS * airPerBatchS
    const each = hopAirSeconds(hs, net)
    let visits = 0
    let second = 0
    hs.forEach((h, i) => {
      if (each[i]! > 0) {
        visits += h.weight
        second += h.weight * each[i]! ** 2
      }
    })
    if (visits <= 0) return
    const perVisit = (batchesPerS * second) / (2 * (1 - rho))
    const mean = airPerBatchS / visits
    const w = (visits * perVisit + Math.max(0, visits - 1) * batchesPerS * mean * (perVisit + mean)) * 1000
    waitMs += w
    if (rho > 0.05) waitP95Ms += (w / rho) * Math.log(rho / 0.05)
  }
  if (!overloaded) {
    for (const s of stages) queue(1000 / s.rate, (lambda / b) / s.rate)
    if (airS > 0) airQueue(hops, network, lambda / b, airS)
  }
  const baseMs = batchingMs + computeMs + transferMs
  const latencyMs = overloaded ? Infinity : baseMs + waitMs
  const p95LatencyMs = overloaded ? Infinity : baseMs + batchingMs * 0.8 + waitP95Ms

  // Energy per request at the delivered rate.
  const throughput = Math.min(lambda, capacity)
  const used = new Set<string>(plan.stages.flatMap((s) => s.devices))
  let joules = 0
  for (const id of used) joules += dev(id).idleW / throughput
  for (const s of stages) for (const r of s.reps) joules += (r.share * (r.d.activeW - r.d.idleW) * r.ms) / 1000 / b
  for (const h of hops) {
    if (h.txDevice) joules += (h.weight * h.bytes * dev(h.txDevice).txJPerByte) / b
    if (h.rxDevice) joules += (h.weight * h.bytes * dev(h.rxDevice).rxJPerByte) / b
  }

  const memoryBytes = planMemoryBytes(plan, job)

  return {
    latencyMs,
    p95LatencyMs,
    capacityRps: capacity,
    throughputRps: throughput,
    energyJPerRequest: joules,
    bottleneckMs,
    bottleneck,
    memoryBytes,
    airtimeMsPerRequest: (airS / b) * 1000,
  }
}

/**
 * Where stage 0's inputs go: a source that is one of the replicas keeps its requests (weight =
 * its share); the others spread over the replicas by their speed shares. Indices into the lists.
 */
export function routeInputs(
  sources: ReadonlyArray<{ d: DeviceProfile | null; share: number }>,
  replicas: ReadonlyArray<{ d: DeviceProfile; share: number }>,
): Array<{ from: number; to: number; weight: number }> {
  const routes: Array<{ from: number; to: number; weight: number }> = []
  sources.forEach((s, k) => {
    const local = replicas.findIndex((r) => r.d.id === s.d?.id)
    if (local >= 0) routes.push({ from: k, to: local, weight: s.share })
    else replicas.forEach((r, i) => routes.push({ from: k, to: i, weight: s.share * r.share }))
  })
  return routes
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

/** Which QoE bounds a prediction breaks, and by how much. */
export function compliance(job: Job, fleet: Fleet, p: Prediction): Compliance {
  const v: Violation[] = []
  const q = job.qoe
  if (!job.training && p.capacityRps <= job.rateRps) v.push({ bound: 'overload', device: null, limit: job.rateRps, predicted: p.capacityRps })
  if (q.latencyMs !== undefined && !(p.latencyMs <= q.latencyMs)) v.push({ bound: 'latencyMs', device: null, limit: q.latencyMs, predicted: p.latencyMs })
  if (q.p95LatencyMs !== undefined && !(p.p95LatencyMs <= q.p95LatencyMs)) v.push({ bound: 'p95LatencyMs', device: null, limit: q.p95LatencyMs, predicted: p.p95LatencyMs })
  if (q.throughputRps !== undefined && p.throughputRps < q.throughputRps) v.push({ bound: 'throughputRps', device: null, limit: q.throughputRps, predicted: p.throughputRps })
  if (q.energyJPerRequest !== undefined && p.energyJPerRequest > q.energyJPerRequest) v.push({ bound: 'energyJPerRequest', device: null, limit: q.energyJPerRequest, predicted: p.energyJPerRequest })
  const fraction = q.memoryFraction ?? 0.8
  for (const [id, bytes] of Object.entries(p.memoryBytes)) {
    const d = fleet.devices.get(id)!
    if (bytes > d.memoryBytes * fraction) v.push({ bound: 'memory', device: id, limit: d.memoryBytes * fraction, predicted: bytes })
    if (d.battery && d.battery.levelPct < d.battery.minPct) v.push({ bound: 'battery', device: id, limit: d.battery.minPct, predicted: d.battery.levelPct })
  }
  return { compliant: v.length === 0, violations: v }
}

