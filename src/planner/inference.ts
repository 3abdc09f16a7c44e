/**
 * The cost model of an inference plan: latency (mean, p95), capacity, energy, air, memory and the
 * utilisation of every resource. Pure. See cost.ts for the figures it builds on.
 *
 * Transfers are where the run makes them (routing.ts): each source's requests to the replica of
 * stage 0 it routes them to, each stage boundary from the replica that ran the micro-batch to the
 * next one, and every stage's model outputs from the replica that produced them to the job's
 * consumer (routing.ts consumerOf: the hub by default, or the request's own source when the job
 * says so). A transfer costs its hops (air: framed
 * bytes at the station's rate; wired: its link and per-message latency) and the broker's relay,
 * its chunks pipelined through them (network/pipeline.ts).
 * The transfer mode is the hub's grants: one own transfer on the air at a time, in the grant desk's
 * order (air-desk.ts; what `dora simulate` runs by default), or scheduled slots, first come, first
 * served; contended mode shares the air per the DCF model.
 * At once (Network.dcf), overlapping micro-batches share the air (dcfShare), and device sources on
 * frame clocks (Job.frameClocks) are periodic streams at random phases (sourceStreams).
 */
import { hopAirSeconds, hopsBetween, pipelinedTransfer, planMemoryBytes, transferLatencyS, type Hop } from './cost.js'
import { outputBytesOf, type Fleet, type Network, type DeviceProfile, type Job, type Plan, type Prediction } from './types.js'
import { planRouting, replicaLoad, type Replica, type Routing } from './routing.js'
import { departureScv, kingman, mergedScv, p95Ms, splitScv, waitShape, type RequestPaths, type Wait } from './latency.js'
import { airWaitS, batchAirScv, type AirRoute, type AirTransfer } from './air-queue.js'
import { cutBytes } from './compression.js'
import { energyPerRequest } from './energy.js'
import { deskTail, FORWARD_KEY } from './air-desk.js'

/** Coefficient of variation of compute times the model assumes (the simulator's default jitter). */
export const COMPUTE_CV = 0.05

type Weighted = Hop & { weight: number }

/**
 * `p95: false`: the p95 (and its uncertainty) left out as NaN, for the search's costing of plans
 * that may never be shown (partition-dp.ts): its numerical integration is a third of a
 * prediction's time; every other figure is the same.
 */
export function predictInference(plan: Plan, job: Job, fleet: Fleet, network: Network, p95 = true): Prediction {
  const b = plan.microBatch
  const routing = planRouting(plan, job, fleet)
  const { sources, stages, weights } = routing
  const { hops, moveMs, spans } = planTransfers(plan, job, routing, network)
  const airEach = hopAirSeconds(hops, network)
  const airS = hops.reduce((a, h, i) => a + h.weight * airEach[i]!, 0)
  const lambda = job.rateRps
  const { capacity, bottleneck, utilisation } = capacityOf(plan, routing, lambda / b, airS)
  const overloaded = lambda >= capacity
  const streams = sourceStreams(routing, job, b)
  const queues = replicaQueues(routing, lambda / b, streams)
  const routes = airRoutes(routing, hops, airEach, spans, queues.waits, network)
  const dcf = network.dcf === true && network.coordination === 'scheduled' && !network.grants
  const self = selfShare(routes.map((x) => x.share), routes.map((x) => x.share * routeAirS(x)), streams.clocked)
  const air = airWait(hops, airEach, lambda / b, airS, routes, airArrivalScv(routing, routes, queues.departScv, streams.scv, lambda / b, airS), dcf, self)
  const waitMs = queues.meanMs + air.meanMs

  // Latency: batching, compute, transfers and waits along each source's routes.
  const batchingMs = sources.map((s) => (b > 1 ? ((b - 1) / (2 * lambda * s.share)) * 1000 : 0))
  const along = (k: number, f: (j: number, r: Replica, ri: number) => number) => stages.reduce((a, st, j) => a + st.replicas.reduce((t, r, ri) => t + weights[k]![j]![ri]! * f(j, r, ri), 0), 0)
  const meanBase = sources.reduce((a, s, k) => a + s.share * (batchingMs[k]! + along(k, (j, r, ri) => r.ms + moveMs[k]![j]![ri]!)), 0)
  const meanBatchingMs = sources.reduce((a, s, k) => a + s.share * batchingMs[k]!, 0)
  // the air's waits as one (airWaitShape); under grants the desk's mean with first come, first served's tail (deskTail)
  const airShape = (meanMs: number) => airWaitShape(meanMs, (1 - self) * air.rho, air.visits, ((1 - self) * 2 * (lambda / b) * (meanBase - meanBatchingMs)) / 1000, air.shared)
  const paths = (): RequestPaths => ({
    sources: sources.map((s, k) => ({
      share: s.share,
      baseMs: 0,
      batchWait: { others: b - 1, rateRps: lambda * s.share, ...(streams.clocked[k] ? { periodic: true } : {}) },
      steps: stages.map((st, j) => st.replicas.map((r, ri) => ({ weight: weights[k]![j]![ri]!, ms: r.ms + moveMs[k]![j]![ri]!, wait: queues.waits[j]![ri]!, sdMs: COMPUTE_CV * r.ms }))),
    })),
    // the other micro-batches whose flights overlap this one's (Poisson: 2 x arrivals x the
    // flight time off the queues, from its source's send to its results; see airWaitShape)
    shared: [deskTail(airShape(air.meanMs), airShape(air.fcfsMs))],
  })
  const p95LatencyMs = overloaded ? Infinity : p95 ? p95Ms(paths()) : NaN
  const throughput = Math.min(lambda, capacity)
  return {
    latencyMs: overloaded ? Infinity : meanBase + waitMs,
    p95LatencyMs,
    capacityRps: capacity,
    throughputRps: throughput,
    energyJPerRequest: energyPerRequest(plan, routing, hops, fleet, throughput),
    bottleneckMs: 1000 / capacity,
    bottleneck,
    memoryBytes: planMemoryBytes(plan, job),
    airtimeMsPerRequest: (airS / b) * 1000,
    transferMode: network.coordination === 'scheduled' ? 'granted' : 'contended',
    utilisation,
    p95UncertaintyMs: overloaded ? Infinity : 0.1 * p95LatencyMs + 0.5 * waitMs,
  }
}

/**
 * Air hops per micro-batch with their weights, and moveMs[k][j][r]: source k's mean transfer time
 * into replica r of stage j (from the previous stage's replicas as k's requests reach them) plus
 * that replica's results to k's consumer.
 */
function planTransfers(plan: Plan, job: Job, routing: Routing, network: Network): { hops: Weighted[]; moveMs: number[][][]; spans: Spans } {
  const { sources, stages, weights } = routing
  const b = plan.microBatch
  const hops: Weighted[] = []
  const moveMs = sources.map(() => stages.map((st) => st.replicas.map(() => 0)))
  const spans: Spans = sources.map(() => stages.map((st) => st.replicas.map(() => ({ into: [], out: null }))))
  const add = (from: DeviceProfile | null, to: DeviceProfile | null, bytes: number, weight: number, given: number, k: number, j: number, r: number, q = -1) => {
    const span = { start: hops.length, end: hops.length, bytes }
    if (q >= 0) spans[k]![j]![r]!.into[q] = span
    else spans[k]![j]![r]!.out = span
    if (weight <= 0) return
    const hs = hopsBetween(from, to, bytes)
    for (const h of hs) hops.push({ ...h, weight })
    span.end = hops.length
    moveMs[k]![j]![r]! += given * transferLatencyS(hs, network) * 1000
  }
  stages.forEach((st, j) => {
    const bytes = b * cutBytes(job.model, plan, plan.stages[j]!.layers[0])
    const outBytes = b * outputBytesOf(job.model, plan.stages[j]!.layers)
    sources.forEach((s, k) => {
      st.replicas.forEach((r, ri) => {
        const w = s.share * weights[k]![j]![ri]!
        if (j === 0) add(s.d, r.d, bytes, w, 1, k, j, ri, 0)
        else stages[j - 1]!.replicas.forEach((q, qi) => add(q.d, r.d, bytes, w * weights[k]![j - 1]![qi]!, weights[k]![j - 1]![qi]!, k, j, ri, qi))
        if (outBytes > 0) add(r.d, routing.consumers[k]!, outBytes, w, 1, k, j, ri)
      })
    })
  })
  return { hops, moveMs, spans }
}

/** spans[k][j][r]: where in the hop list each transfer into replica r of stage j (from replica q before) and its results lie. */
type Span = { start: number; end: number; bytes: number }
type Spans = Array<Array<Array<{ into: Span[]; out: Span | null }>>>

/** Each source's routes as the air sees them (air-queue.ts): air hops with the time off the air between them, and the stays at replicas. */
function airRoutes(routing: Routing, hops: readonly Weighted[], each: readonly number[], spans: Spans, waits: readonly Wait[][], network: Network): AirRoute[] {
  // under hub grants the desk orders the air (air-desk.ts): asks by the device's air time estimate, the access point's forwarding first
  const granted = network.grants === true && network.coordination === 'scheduled'
  const deskKey = (h: Hop): { key?: number } => (granted ? { key: h.txDevice === null ? FORWARD_KEY : (h.bytes * 8) / h.rateBps } : {})
  const transfer = (span: Span | null | undefined): AirTransfer => {
    if (!span || span.end === span.start) return { hops: [], tailS: 0 }
    // off the air before, between and after the air hops as the chunks pipeline (network/pipeline.ts)
    const split = pipelinedTransfer(hops.slice(span.start, span.end), network)
    return { hops: split.airHops.map((i, j) => ({ s: each[span.start + i]!, gapS: split.gapsS[j]!, ...deskKey(hops[span.start + i]!) })), tailS: split.tailS }
  }
  return routing.sources.map((s, k) => ({
    share: s.share,
    steps: routing.stages.map((st, j) => ({
      weights: routing.weights[k]![j]!,
      into: st.replicas.map((_, r) => spans[k]![j]![r]!.into.map(transfer)),
      out: st.replicas.map((_, r) => transfer(spans[k]![j]![r]!.out)),
      stayS: st.replicas.map((r, ri) => (r.ms + waits[j]![ri]!.p * waits[j]![ri]!.thetaMs) / 1000),
    })),
  }))
}

/** Capacity (requests/s), its bottleneck and every resource's utilisation at the offered load. */
function capacityOf(plan: Plan, routing: Routing, batchesPerS: number, airS: number): { capacity: number; bottleneck: string; utilisation: Record<string, number> } {
  const b = plan.microBatch
  let capacity = Infinity
  let bottleneck = 'none'
  const utilisation: Record<string, number> = {}
  routing.stages.forEach((st, j) => st.replicas.forEach((r, ri) => {
    const load = replicaLoad(routing, j, ri)
    if (load <= 0) return
    const c = (b * 1000) / r.ms / load
    utilisation[r.d.id] = (utilisation[r.d.id] ?? 0) + (batchesPerS * load * r.ms) / 1000
    if (c < capacity) {
      capacity = c
      bottleneck = `stage ${j} (${plan.stages[j]!.devices.join('+')})`
    }
  }))
  if (airS > 0) {
    utilisation.air = batchesPerS * airS
    if (b / airS < capacity) {
      capacity = b / airS
      bottleneck = 'wifi'
    }
  }
  return { capacity, bottleneck, utilisation }
}

/**
 * Each source's micro-batch stream as it starts: its squared coefficient of variation, and
 * whether it runs on a frame clock. b Poisson arrivals: 1 / b. A device source on a frame clock of
 * its own (Job.frameClocks: the at-once run, as the device agent captures) at a random phase: its
 * micro-batches leave at fixed gaps, so one never waits behind the source's own last one (its
 * period is far longer than a flight), but to every other stream it is a random phase, and a
 * frame of another stream finds it on the air (or on a replica) as often as it would a Poisson
 * stream of its load: the superposition of independent periodic streams is not a smooth renewal
 * stream (Whitt's merged SCV and the smooth queue put its waits at a tenth of the simulator's on
 * traffic). So it counts as Poisson (SCV 1) to the others and is taken out of its own queue
 * (selfShare): a camera's own first stage never queues behind its frames.
 */
function sourceStreams(routing: Routing, job: Job, b: number): { scv: number[]; clocked: boolean[] } {
  const clocked = routing.sources.map((s) => !!job.frameClocks && s.d !== null)
  return { scv: clocked.map((c) => (c ? 1 : 1 / b)), clocked }
}

/**
 * The part of a queue's wait that clocked streams would meet behind their own earlier frames:
 * sum over clocked streams of (their share of the arrivals) x (their share of the load). A frame
 * of a clocked stream meets only the others' work, on average the wait times one minus its own
 * share of the load.
 */
function selfShare(arrivals: readonly number[], load: readonly number[], clocked: readonly boolean[]): number {
  const a = arrivals.reduce((x, y) => x + y, 0)
  const l = load.reduce((x, y) => x + y, 0)
  if (!(a > 0) || !(l > 0)) return 0
  return clocked.reduce((x, c, k) => (c ? x + (arrivals[k]! / a) * (load[k]! / l) : x), 0)
}

/** Each replica's queue (Kingman, arrival variability carried along the stages): mean wait per micro-batch and each replica's Wait. */
function replicaQueues(routing: Routing, batchesPerS: number, streams: { scv: readonly number[]; clocked: readonly boolean[] }): { meanMs: number; waits: Wait[][]; departScv: number[][] } {
  const { sources, stages, weights } = routing
  const cs2 = COMPUTE_CV ** 2
  let meanMs = 0
  // scv[k]: squared coefficient of variation of source k's micro-batch stream entering the stage
  let scv = [...streams.scv]
  const all: Wait[][] = []
  const departScv: number[][] = []
  // the run of single-device stages the micro-batches are in: the sources' streams entering its
  // first stage (merged at each stage's own load, as Whitt's rule asks) and its largest wait
  let chain: { scvs: number[]; meanMs: number } | null = null
  stages.forEach((st, j) => {
    if (st.replicas.length !== 1) chain = null
    const waits: Wait[] = []
    const deps: number[] = []
    const next = sources.map(() => 0)
    st.replicas.forEach((r, ri) => {
      const rates = sources.map((s, k) => s.share * weights[k]![j]![ri]!)
      const load = rates.reduce((a, x) => a + x, 0)
      if (load <= 0) return waits.push({ p: 0, thetaMs: 0 }), deps.push(1)
      const rho = (batchesPerS * load * r.ms) / 1000
      const ca2 = mergedScv(rates, rates.map((_, k) => splitScv(weights[k]![j]![ri]!, scv[k]!, rho)), rho)
      let q = kingman(rho, r.ms, ca2, cs2)
      if (st.replicas.length === 1) {
        // a single device after a single device: its arrivals are the one before's departures,
        // never closer than that device's (nearly fixed) service; waits along such a chain add
        // up to the slowest one's alone, as in a tandem of fixed-time servers (Friedman 1965)
        if (chain) {
          const full = kingman(rho, r.ms, mergedScv(rates, chain.scvs, rho), cs2)
          const more = Math.max(0, full.meanMs - chain.meanMs)
          chain = { scvs: chain.scvs, meanMs: Math.max(chain.meanMs, full.meanMs) }
          q = { meanMs: more, wait: waitShape(more, rho, r.ms, cs2) }
        } else chain = { scvs: scv, meanMs: q.meanMs }
      }
      // clocked streams do not wait behind their own frames (sourceStreams)
      const own = selfShare(rates, rates, streams.clocked)
      if (own > 0) q = { meanMs: (1 - own) * q.meanMs, wait: waitShape((1 - own) * q.meanMs, (1 - own) * rho, r.ms, cs2) }
      meanMs += load * q.meanMs
      waits.push(q.wait)
      const d2 = departureScv(rho, ca2, cs2)
      deps.push(d2)
      // the next stage sees the replicas' departures merged again, which undoes the round robin's
      // split (a stream cut in turns and re-joined is the stream, shifted). Source k's stream
      // leaves as QNA's linking equation says, per stream: a lightly loaded replica passes it on
      // as it came (its own variability, not the merge with the other sources' streams: that
      // merge is judged at each queue's own load, mergedScv), a busy one as its share of the
      // server's nearly fixed rhythm (a random sub-stream of share f of it)
      const r2 = Math.min(1, rho) ** 2
      rates.forEach((x, k) => {
        const f = x / load
        next[k]! += weights[k]![j]![ri]! * (r2 * (f * cs2 + 1 - f) + (1 - r2) * scv[k]!)
      })
    })
    all.push(waits)
    departScv.push(deps)
    scv = next
  })
  return { meanMs, waits: all, departScv }
}

/**
 * Variability of the micro-batch streams as they first reach the air (squared coefficient of
 * variation): a source's own stream (sourceScvs: micro-batches of b Poisson arrivals, 1 / b, or a
 * frame clock's, 0) where its input goes on the air, else the departures of the stage-0 replica
 * that keeps its requests (QNA), merged over the sources (Whitt's superposition).
 */
function airArrivalScv(routing: Routing, routes: readonly AirRoute[], departScv: readonly number[][], starts: readonly number[], batchesPerS: number, airS: number): number {
  const scvs = routes.map((route, k) => {
    const st = route.steps[0]
    if (!st) return starts[k]!
    return st.weights.reduce((a, w, r) => a + w * (st.into[r]![0]!.hops.length > 0 ? starts[k]! : departScv[0]![r]!), 0)
  })
  return mergedScv(routing.sources.map((s) => s.share), scvs, batchesPerS * airS)
}

/**
 * The air's queue: one server, first come first served, each air hop of a micro-batch a visit;
 * the visits' waits along the routes (air-queue.ts), scaled by Kingman's factor where the streams
 * reaching the air are smoother than Poisson (micro-batches, a busy first stage), with Kraemer and
 * Langenbach-Belz's correction as at the replicas. The p95 takes the micro-batch's air waits as one
 * wait (they rise and fall together), shaped by airWaitShape.
 */
function airWait(hops: readonly Weighted[], each: readonly number[], batchesPerS: number, airPerBatchS: number, routes: readonly AirRoute[], ca2: number, dcf: boolean, self: number): { meanMs: number; fcfsMs: number; rho: number; visits: number; shared: boolean } {
  const rho = batchesPerS * airPerBatchS
  let visits = 0
  let second = 0
  hops.forEach((h, i) => {
    if (each[i]! > 0) {
      visits += h.weight
      second += h.weight * each[i]! ** 2
    }
  })
  if (visits <= 0 || rho <= 0) return { meanMs: 0, fcfsMs: 0, rho: 0, visits: 0, shared: false }
  if (rho >= 1) return { meanMs: Infinity, fcfsMs: Infinity, rho: 1, visits, shared: false }
  // arrivals smoother than Poisson wait less (Kingman's factor), with the variability of the air's
  // customer as they see it: a micro-batch's whole air time (its visits come and go together), not
  // a single hop's (which mixed a micro-batch's big and small hops as if they were different
  // customers and left the factor near 1 for micro-batches of 2 and more)
  const cs2 = batchAirScv(routes)
  const a2 = Math.min(1, ca2)
  const klb = a2 < 1 ? Math.exp((-2 * (1 - rho) * (1 - a2) ** 2) / (3 * rho * (a2 + cs2))) : 1
  const smooth = ((a2 + cs2) / (1 + cs2)) * klb
  const { waitS: queued, fcfsS } = airWaitS(routes, rho, (batchesPerS * second) / 2)
  // shared air (dcfShare): the larger of processor sharing's delay and the queued air's wait
  const shared = dcf ? dcfShare(airPerBatchS, rho, queued) : null
  const meanMs = smooth * (shared ? shared.delayS : queued) * 1000
  // clocked sources' frames meet only the other streams' work (sourceStreams)
  const tailMs = smooth * (shared ? shared.delayS : fcfsS) * 1000
  return { meanMs: (1 - self) * meanMs, fcfsMs: (1 - self) * tailMs, rho, visits, shared: shared?.sharing === true }
}

/**
 * At once (Network.dcf), stations whose hops overlap share the air (DCF) where the queued air
 * serves one hop whole and then the next: a micro-batch that meets another is slowed by it
 * whether it came first or second. Two bounds, the larger taken:
 * - processor sharing, a micro-batch's whole air time A the customer: delayed on average E[A] rho
 *   / (1 - rho) (M/G/1-PS), about twice the queued air's wait where the micro-batches' air times
 *   are alike (two overlapping frames both finish late; traffic's cameras);
 * - the queued air's wait (air-queue.ts): DCF gives stations equal frame rates, not equal air, so
 *   a fast station's hop beside a slow one's waits about the slow one's whole air (the
 *   performance anomaly), as a queued hop would; and a micro-batch's later hops follow its own
 *   (the walk's correlated visits), which sharing among micro-batches does not double.
 * `sharing`: processor sharing is the larger; then a visit is delayed where another is on the air
 * as it starts or starts while it is on it (airWaitShape). Against the simulator's contended
 * medium (BENCHMARKS.md, "At once: periodic cameras and the shared air").
 */
function dcfShare(airPerBatchS: number, rho: number, queuedS: number): { delayS: number; sharing: boolean } {
  const ps = (airPerBatchS * rho) / (1 - rho)
  return ps > queuedS ? { delayS: ps, sharing: true } : { delayS: queuedS, sharing: false }
}

/** Mean air time of a micro-batch along a route (its replicas by weight), s. */
function routeAirS(route: AirRoute): number {
  const air = (t: AirTransfer) => t.hops.reduce((a, h) => a + h.s, 0)
  let before = [1]
  let total = 0
  for (const step of route.steps) {
    step.weights.forEach((w, r) => {
      total += w * air(step.out[r]!)
      before.forEach((pw, q) => (total += w * pw * air(step.into[r]![q]!)))
    })
    before = [...step.weights]
  }
  return total
}

/**
 * The distribution of a micro-batch's summed air waits: none at all with some probability, else
 * exponential with the rest of the mean (latency.ts Wait). A visit finds the air busy because
 * other micro-batches are in flight beside this one; their number is about Poisson of mean
 * `others`, and given it the visits find the air busy independently, each with
 * probability q per other micro-batch, so that a single visit waits with probability rho:
 * exp(-others q) = 1 - rho. So P(no wait in v visits) = exp(-others (1 - (1 - q)^v)): with many
 * micro-batches in flight, (1 - rho)^v (independent visits); with few, much more than that (a
 * micro-batch alone on the air waits nowhere). Measured per micro-batch in the simulator's runs
 * (151 random plans): the share that waits at all is within 0.045 on average where the air is at
 * least 40% busy and 0.087 where it is 10-40% busy; (1 - rho)^v was off by 0.105 and 0.176 (always
 * too many waiting, so too thin a tail: the p95 of several sources' summed waits was too low).
 * `others` counts the micro-batches whose flights overlap this one's at some time, not those in
 * flight at one instant (Little's mean, arrivals x flight time, which the model took first): for
 * Poisson sends, those sent within one flight time before it or after it, 2 x arrivals x the
 * flight time; its flight counted without its own waits (while it queues, others arriving queue
 * behind it). Measured without compute jitter in the simulator's runs (57 random plans, the air
 * busiest, no replicas; a request waited where its latency exceeds its source's least), the share
 * that waits at all was under-predicted by 0.152 on average at 10-30% air, 0.121 at 30-50%, 0.010
 * at 50-80% with Little's mean; with the overlaps off 0.036, 0.023 and 0.026 under (mean absolute
 * error over the 57: 0.103 -> 0.054). (BENCHMARKS.md, "Smooth arrivals", second part.)
 */
export function airWaitShape(meanMs: number, rho: number, visits: number, others: number, dcf = false): Wait {
  if (!(meanMs > 0) || rho <= 0) return { p: 0, thetaMs: 0 }
  if (rho >= 1 || !Number.isFinite(meanMs)) return { p: 1, thetaMs: Infinity }
  // shared air (DCF, dcfShare): a visit is delayed where another hop is on the air as it starts
  // (rho) or starts while it is on the air (about rho again): 1 - (1 - rho)^2 where one would wait
  if (dcf) rho = 1 - (1 - rho) ** 2
  const v = Math.max(1, visits)
  let p = 1 - (1 - rho) ** v
  if (others > 0 && Number.isFinite(others)) {
    const q = Math.min(1, -Math.log(1 - rho) / others)
    p = 1 - Math.exp(-others * (1 - (1 - q) ** v))
  }
  p = Math.max(p, rho)
  return { p, thetaMs: meanMs / p }
}
