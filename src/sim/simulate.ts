/**
 * A discrete-event simulator that runs any plan on a fleet: Poisson request arrivals, FIFO
 * compute per device with seeded speed jitter, transfers on one shared Wi-Fi medium, energy
 * accounting. Pure and deterministic for a seed (no clock, no I/O).
 *
 * The medium (planner/replay/medium.ts) carries every transfer as air hops through the access
 * point, scheduled (one hop at a time) or contended (the DCF model). Training jobs run in the
 * planner's training replay (planner/replay/training.ts) with jitter and many steps: the same
 * event engine whose one jitter-free step the training cost model uses.
 *
 * Everything reported is emulation: device profiles stand in for devices, the model for the air.
 */
import { EventHeap, runEvents } from '../planner/replay/event-heap.js'
import { meanAndP95 } from '../shared/stats.js'
import { Medium } from '../planner/replay/medium.js'
import { boundsHold, energyByDevice, sum } from '../planner/replay/energy.js'
import { simulateTraining } from '../planner/replay/training.js'
import { stageComputeMs } from '../planner/cost.js'
import { jobSources, outputBytesOf, type Fleet, type Network, type DeviceProfile, type Job, type Plan } from '../planner/types.js'
import { seededRandom } from '../shared/random.js'
import { planRouting } from '../planner/routing.js'
import { WeightedTurns } from '../runtime/route.js'

import type { SimOptions, SimResult } from '../planner/replay/run.js'

export type { SimOptions, SimResult }

interface Batch {
  arrivals: number[]
  stage: number
  at: DeviceProfile | null
  /** Where the requests came from and where their results go, and that source's index. */
  origin: DeviceProfile | null
  source: number
  /** With a schedule: the micro-batch's place in the cycle and its release time, s. */
  slot?: { m: number; release: number }
  /** Result transfers still to arrive (shared by the batch's copies along its way). */
  outputs?: { left: number }
}

export function simulate(plan: Plan, job: Job, fleet: Fleet, network: Network, options: SimOptions): SimResult {
  if (job.training) return simulateTraining(plan, job, fleet, network, options)
  // separate streams for arrivals and jitter, so that two runs of one seed see the same
  // requests whatever else differs (common random numbers for comparisons)
  const rand = seededRandom(options.seed)
  const jitterRand = seededRandom(options.seed ^ 0x5bd1e995)
  const gauss = () => Math.sqrt(-2 * Math.log(1 - jitterRand())) * Math.cos(2 * Math.PI * jitterRand())
  const heap = new EventHeap<() => void>()
  let now = 0
  const dev = (id: string) => fleet.devices.get(id)!
  const sources = jobSources(job).map((x) => ({ d: x.device ? dev(x.device) : null, share: x.share }))
  const sourceRand = seededRandom(options.seed ^ 0x27d4eb2f)
  const freeAt = new Map<string, number>()
  const busyS = new Map<string, number>()
  const latencies: number[] = []
  let requests = 0
  let measuredDone = 0
  // arrivals and completions (of measured requests) by the middle of the window: the backlog then
  const midS = (options.warmupS + options.durationS) / 2
  let arrivedByMid = 0
  let doneByMid = 0

  const medium = new Medium(heap, () => now, fleet, network)
  medium.startBackground(options.durationS, seededRandom(options.seed ^ 0x1b873593))
  const transfer = medium.transfer.bind(medium)

  // --- stages ---
  const b = plan.microBatch
  const L = job.model.layers.length
  const serviceMs = plan.stages.map((s) => new Map(s.devices.map((id) => [id, stageComputeMs(job, dev(id), s.layers, b)])))
  const routing = planRouting(plan, job, fleet)
  const turns = new WeightedTurns()
  const schedule = network.coordination === 'scheduled' ? options.schedule : undefined
  const slotStart = new Map<string, number>()
  for (const x of schedule?.slots ?? []) {
    const key = `${x.microBatch}|${x.tensor.split('#')[0]}|${x.hop}`
    slotStart.set(key, Math.min(slotStart.get(key) ?? Infinity, x.sinceReleaseMs))
  }
  const slotOf = (batch: Batch, tensor: string) => batch.slot
    ? (hop: number) => batch.slot!.release + (slotStart.get(`${batch.slot!.m}|${tensor}|${hop}`) ?? 0) / 1000
    : undefined
  // a micro-batch is done when every stage's model outputs reached its source (early heads too)
  const bySource = sources.map(() => ({ sumMs: 0, n: 0 }))
  const outputDone = (batch: Batch) => {
    if (--batch.outputs!.left > 0) return
    for (const a of batch.arrivals) {
      if (a >= options.warmupS && a < options.durationS) {
        latencies.push((now - a) * 1000)
        bySource[batch.source]!.sumMs += (now - a) * 1000
        bySource[batch.source]!.n++
        if (now <= options.durationS) measuredDone++
        if (now <= midS) doneByMid++
      }
    }
  }
  const S = plan.stages.length
  const earlyOutputs = plan.stages.map((st, k) => (k < S - 1 ? outputBytesOf(job.model, st.layers) : 0))
  const advance = (batch: Batch) => {
    batch.outputs ??= { left: 1 + earlyOutputs.filter((x) => x > 0).length }
    if (batch.stage > 0 && earlyOutputs[batch.stage - 1]! > 0) {
      transfer(batch.at, batch.origin, b * earlyOutputs[batch.stage - 1]!, () => outputDone(batch), slotOf(batch, `output@${batch.stage - 1}`))
    }
    if (batch.stage === S) {
      transfer(batch.at, batch.origin, b * outputBytesOf(job.model, plan.stages[S - 1]!.layers), () => outputDone(batch), slotOf(batch, 'output'))
      return
    }
    const st = plan.stages[batch.stage]!
    // the replica the run would pick: the source's weighted round robin over the stage's shares
    // (routing.ts: a source keeps its own requests on a local stage 0)
    const target = batch.slot
      ? dev(schedule!.routes[batch.slot.m]!.replicas[batch.stage]!)
      : dev(st.devices[turns.pick(`${batch.source}/${batch.stage}`, routing.weights[batch.source]![batch.stage]!)]!)
    transfer(batch.at, target, b * job.model.boundaryBytes[st.layers[0]]!, () => {
      const s = (serviceMs[batch.stage]!.get(target.id)! / 1000) * Math.max(0.5, 1 + options.computeJitter * gauss())
      const start = Math.max(now, freeAt.get(target.id) ?? 0)
      freeAt.set(target.id, start + s)
      busyS.set(target.id, (busyS.get(target.id) ?? 0) + s)
      heap.push(start + s, () => advance({ ...batch, stage: batch.stage + 1, at: target }))
    }, slotOf(batch, batch.stage === 0 ? 'input' : `act@${st.layers[0]}`))
  }

  // --- arrivals ---
  // one Poisson stream for all sources (the same requests whatever else differs), each request's
  // source drawn by share from a stream of its own; micro-batches form per source
  const pending: number[][] = sources.map(() => [])
  const arrive = () => {
    requests += now >= options.warmupS ? 1 : 0
    if (now >= options.warmupS && now <= midS) arrivedByMid++
    let k = 0
    let u = sourceRand()
    while (k < sources.length - 1 && u >= sources[k]!.share) u -= sources[k++]!.share
    pending[k]!.push(now)
    if (!schedule && pending[k]!.length === b) {
      const origin = sources[k]!.d
      advance({ arrivals: pending[k]!, stage: 0, at: origin, origin, source: k })
      pending[k] = []
    }
    const next = now - Math.log(1 - rand()) / job.rateRps
    if (next < options.durationS) heap.push(next, arrive)
  }
  heap.push(-Math.log(1 - rand()) / job.rateRps, arrive)
  if (schedule) {
    // every period the next micro-batch of the cycle leaves its source, if it has one waiting
    let n = 0
    const periodS = schedule.periodMs / 1000
    const tick = () => {
      const m = n++ % schedule.microBatchesPerCycle
      const k = sources.findIndex((x) => (x.d?.id ?? null) === schedule.routes[m]!.source)
      if (k >= 0 && pending[k]!.length >= b) {
        const origin = sources[k]!.d
        advance({ arrivals: pending[k]!.splice(0, b), stage: 0, at: origin, origin, source: k, slot: { m, release: now } })
      }
      if (now < options.durationS || pending.some((p) => p.length >= b)) heap.push(n * periodS, tick)
    }
    heap.push(0, tick)
  }

  runEvents(heap, options.durationS * 3 + 10, (t) => (now = t))

  const window = options.durationS - options.warmupS
  const energyJByDevice = energyByDevice(plan, fleet, busyS, medium.radioJ, window, now)
  const total = sum(Object.values(energyJByDevice))
  const { mean: latencyMs, p95: p95LatencyMs } = meanAndP95(latencies)
  const throughputRps = measuredDone / window
  const energyJPerRequest = total / Math.max(1, latencies.length)
  // completions kept up with arrivals: the backlog (arrived, not done) did not grow over the
  // second half of the window by more than 2% of that half's arrivals (a stable queue's backlog
  // is what it holds in flight, the same at both times)
  const growth = (requests - measuredDone) - (arrivedByMid - doneByMid)
  const keptUp = growth <= Math.max(10, 0.02 * (requests - arrivedByMid))
  const qoeMet = latencies.length >= requests * 0.99 && boundsHold(job.qoe, { latencyMs, p95LatencyMs, throughputRps, energyJPerRequest, sustains: { offeredRps: job.rateRps, keptUp } })
  return { emulated: true, requests, completed: latencies.length, latencyMs, p95LatencyMs, throughputRps, energyJPerRequest, energyJByDevice, airBusyFraction: medium.busyS / Math.max(now, 1e-9), qoeMet, samplesMs: latencies, latencyMsBySource: bySource.map((x) => (x.n ? x.sumMs / x.n : NaN)) }
}
