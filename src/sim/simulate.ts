/**
 * A discrete-event simulator that runs any plan on a fleet: Poisson request arrivals (frame clocks
 * for device sources where the job says so: Job.frameClocks), FIFO
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
import { Medium } from '../planner/replay/medium.js'
import { runResult, type RunTally } from '../planner/replay/energy.js'
import { simulateTraining } from '../planner/replay/training.js'
import { stageComputeMs } from '../planner/cost.js'
import { jobSources, outputBytesOf, type Fleet, type Network, type DeviceProfile, type Job, type Plan } from '../planner/types.js'
import { seededRandom } from '../shared/random.js'
import { planRouting } from '../planner/routing.js'
import { WeightedTurns } from '../runtime/route.js'
import { SlotGate, slotsByLink } from '../shared/slot-gate.js'

import type { SimOptions, SimResult } from '../planner/replay/run.js'
import type { Schedule } from '../planner/network/scheduler.js'
import { cutBytes } from '../planner/compression.js'

export type { SimOptions, SimResult }

interface Batch {
  arrivals: number[]
  stage: number
  at: DeviceProfile | null
  /** Where the requests came from, and that source's index (its results go to routing.consumers[source]). */
  origin: DeviceProfile | null
  source: number
  /** With a schedule: the micro-batch's place in the cycle (its route's replicas). */
  slot?: { m: number }
  /** Result transfers still to arrive (shared by the batch's copies along its way). */
  outputs?: { left: number }
}

export function simulate(plan: Plan, job: Job, fleet: Fleet, network: Network, options: SimOptions): SimResult {
  if (job.training) return simulateTraining(plan, job, fleet, network, options)
  // separate streams for arrivals and jitter, so that two runs of one seed see the same
  // requests whatever else differs (common random numbers for comparisons)
  const jitterRand = seededRandom(options.seed ^ 0x5bd1e995)
  const gauss = () => Math.sqrt(-2 * Math.log(1 - jitterRand())) * Math.cos(2 * Math.PI * jitterRand())
  const heap = new EventHeap<() => void>()
  let now = 0
  const clock = () => now
  const dev = (id: string) => fleet.devices.get(id)!
  const sources = jobSources(job).map((x) => ({ d: x.device ? dev(x.device) : null, share: x.share }))
  const freeAt = new Map<string, number>()
  const busyS = new Map<string, number>()
  const tally = new Tally(options, sources.length, clock)

  const medium = new Medium(heap, clock, fleet, network)
  medium.startBackground(options.durationS, seededRandom(options.seed ^ 0x1b873593))
  const transfer = medium.transfer.bind(medium)

  // --- stages ---
  const b = plan.microBatch
  const serviceMs = plan.stages.map((s) => new Map(s.devices.map((id) => [id, stageComputeMs(job, dev(id), s.layers, b)])))
  const routing = planRouting(plan, job, fleet)
  const turns = new WeightedTurns()
  const schedule = network.coordination === 'scheduled' ? options.schedule : undefined
  const send = sender(schedule, heap, clock, transfer)
  // a micro-batch is done when every stage's model outputs reached its consumer (early heads too)
  const S = plan.stages.length
  const earlyOutputs = plan.stages.map((st, k) => (k < S - 1 ? outputBytesOf(job.model, st.layers) : 0))
  const outputDone = (batch: Batch) => --batch.outputs!.left === 0 && tally.done(batch.arrivals, batch.source)
  const advance = (batch: Batch) => {
    batch.outputs ??= { left: 1 + earlyOutputs.filter((x) => x > 0).length }
    if (batch.stage > 0 && earlyOutputs[batch.stage - 1]! > 0) {
      send(batch.at, routing.consumers[batch.source]!, b * earlyOutputs[batch.stage - 1]!, () => outputDone(batch))
    }
    if (batch.stage === S) {
      send(batch.at, routing.consumers[batch.source]!, b * outputBytesOf(job.model, plan.stages[S - 1]!.layers), () => outputDone(batch))
      return
    }
    const st = plan.stages[batch.stage]!
    // the replica the run would pick: the source's weighted round robin over the stage's shares
    // (routing.ts: a source keeps its own requests on a local stage 0)
    const target = batch.slot
      ? dev(schedule!.routes[batch.slot.m]!.replicas[batch.stage]!)
      : dev(st.devices[turns.pick(`${batch.source}/${batch.stage}`, routing.weights[batch.source]![batch.stage]!)]!)
    // a source's inputs leave at once (its capture is phased to its turn; runtime/requester.ts sends them ungated)
    send(batch.at, target, b * cutBytes(job.model, plan, st.layers[0]), () => {
      const s = (serviceMs[batch.stage]!.get(target.id)! / 1000) * Math.max(0.5, 1 + options.computeJitter * gauss())
      const start = Math.max(now, freeAt.get(target.id) ?? 0)
      freeAt.set(target.id, start + s)
      busyS.set(target.id, (busyS.get(target.id) ?? 0) + s)
      heap.push(start + s, () => advance({ ...batch, stage: batch.stage + 1, at: target }))
    }, batch.stage === 0)
  }

  startArrivals(heap, clock, job, options, sources, b, schedule, tally, advance)
  runEvents(heap, options.durationS * 3 + 10, (t) => (now = t))

  const window = options.durationS - options.warmupS
  return runResult(plan, job, fleet, busyS, medium, window, now, tally.result(job.rateRps, window))
}

/**
 * How a transfer goes. Without a schedule: at once (the medium's grants or contention). With a
 * schedule, as a device sends in slots (device-firmware-bridge/transfer-gate.ts): a device waits
 * for the earliest of its slots toward the receiver that no earlier transfer of its took, slots
 * that began within the last cycle and went untaken taken at once (shared/slot-gate.ts, work-
 * conserving), then sends, its hops going as soon as the air is free; a micro-batch is not tied to
 * the slot the scheduler drew for it. A source's inputs (`ungated`) and the hub's sends (the
 * access point's forwarding included) go at once.
 */
function sender(schedule: Schedule | undefined, heap: EventHeap<() => void>, clock: () => number, transfer: Medium['transfer']) {
  if (!schedule) return (from: DeviceProfile | null, to: DeviceProfile | null, bytes: number, then: () => void) => transfer(from, to, bytes, then)
  const gate = new SlotGate()
  const slotsOf = slotsByLink(schedule.byDevice)
  // every hop as soon as the air is free (the medium's scheduled air: one hop at a time, first come)
  const atOnce = () => 0
  return (from: DeviceProfile | null, to: DeviceProfile | null, bytes: number, then: () => void, ungated = false) => {
    const key = `${from?.id}|${to?.id ?? 'hub'}`
    const slots = !ungated && from ? slotsOf.get(key) : undefined
    if (!slots) return transfer(from, to, bytes, then, atOnce)
    const nowMs = clock() * 1000
    const at = gate.take(key, nowMs, slots, schedule.cycleMs, 0) / 1000
    if (at * 1000 <= nowMs) return transfer(from, to, bytes, then, atOnce)
    heap.push(at, () => transfer(from, to, bytes, then, atOnce))
  }
}

type Source = { readonly d: DeviceProfile | null; readonly share: number }

/**
 * Poisson arrivals: one stream for all sources (the same requests whatever else differs), each
 * request's source drawn by share from a stream of its own; micro-batches form per source and
 * leave when full, or, with a schedule, every period the next micro-batch of the cycle leaves
 * its source if it has one waiting. With a schedule a device source is a frame clock phased to
 * its turns, as in a run (runtime/turn-clock.ts): its frames fall due at its rate from a random
 * phase (a new one every PHASE_DRAW_S), and at each of
 * its turns it captures the frames due (a micro-batch's worth), which leave at once; the Poisson
 * draws that fall to it are not used. Without a schedule, a job with frame clocks (Job.frameClocks:
 * the at-once run) has each device source capture on a frame clock of its own at its rate from a
 * random phase (startFrameClock), micro-batches leaving when full; the Poisson draws that fall to
 * it are not used either.
 */
function startArrivals(heap: EventHeap<() => void>, clock: () => number, job: Job, options: SimOptions, sources: readonly Source[], b: number, schedule: Schedule | undefined, tally: Tally, advance: (batch: Batch) => void): void {
  const rand = seededRandom(options.seed)
  const sourceRand = seededRandom(options.seed ^ 0x27d4eb2f)
  const pending: number[][] = sources.map(() => [])
  const phased = (k: number) => !!schedule && sources[k]!.d !== null
  // without a schedule, device sources of a job with frame clocks send on their own clocks
  const clocked = (k: number) => !schedule && !!job.frameClocks && sources[k]!.d !== null
  const captured = sources.map(() => 0)
  // with a schedule, each device source's frame clock at a random phase, a new one every
  // PHASE_DRAW_S (as startFrameClock; the same seeded stream per source): which of its turns its
  // frames take depends on it when the turns outnumber the frames
  const phaseRand = sources.map((_, k) => seededRandom(options.seed ^ (0x68e31da4 + 0x9e3779b9 * (k + 1))))
  const draws = sources.map(() => ({ n: -1, phaseS: 0 }))
  const phaseOf = (k: number, t: number) => {
    const d = draws[k]!
    for (const n = Math.floor(t / PHASE_DRAW_S); d.n < n; d.n++) d.phaseS = phaseRand[k]!() / (job.rateRps * sources[k]!.share)
    return d.phaseS
  }
  const arrive = () => {
    const now = clock()
    let k = 0
    let u = sourceRand()
    while (k < sources.length - 1 && u >= sources[k]!.share) u -= sources[k++]!.share
    if (!phased(k) && !clocked(k)) {
      tally.arrived()
      pending[k]!.push(now)
    }
    if (!schedule && pending[k]!.length === b) {
      const origin = sources[k]!.d
      advance({ arrivals: pending[k]!, stage: 0, at: origin, origin, source: k })
      pending[k] = []
    }
    const next = now - Math.log(1 - rand()) / job.rateRps
    if (next < options.durationS) heap.push(next, arrive)
  }
  heap.push(-Math.log(1 - rand()) / job.rateRps, arrive)
  sources.forEach((x, k) => {
    if (!clocked(k) || !(x.share > 0)) return
    startFrameClock(heap, clock, 1 / (job.rateRps * x.share), options, seededRandom(options.seed ^ (0x68e31da4 + 0x9e3779b9 * (k + 1))), () => {
      tally.arrived()
      pending[k]!.push(clock())
      if (pending[k]!.length === b) {
        advance({ arrivals: pending[k]!, stage: 0, at: x.d, origin: x.d, source: k })
        pending[k] = []
      }
    })
  })
  if (!schedule) return
  let n = 0
  const periodS = schedule.periodMs / 1000
  const tick = () => {
    const m = n++ % schedule.microBatchesPerCycle
    const k = sources.findIndex((x) => (x.d?.id ?? null) === schedule.routes[m]!.source)
    if (k >= 0 && phased(k) && clock() < options.durationS) {
      // frames due so far at the source's rate (frame j at j / rate + its clock's phase), less those captured
      const rate = job.rateRps * sources[k]!.share
      const due = Math.floor((clock() - phaseOf(k, clock())) * rate + 1e-9) + 1
      if (due - captured[k]! >= b) {
        captured[k]! += b
        for (let i = 0; i < b; i++) tally.arrived()
        pending[k]!.push(...Array.from({ length: b }, () => clock()))
      }
    }
    if (k >= 0 && pending[k]!.length >= b) {
      const origin = sources[k]!.d
      advance({ arrivals: pending[k]!.splice(0, b), stage: 0, at: origin, origin, source: k, slot: { m } })
    }
    if (clock() < options.durationS || pending.some((p) => p.length >= b)) heap.push(n * periodS, tick)
  }
  heap.push(0, tick)
}

/**
 * Seconds of frames a phase draw lasts (rounded up to whole periods): a frame clock keeps its
 * phase this long, then takes a new one at random. Independent cameras' clocks drift against each
 * other (tens of ppm), so over a long time a fleet sees every relative phase, while one phase held
 * for a whole run would give that run's one draw (BENCHMARKS.md, "Coordination over phase draws":
 * a 15 s run's p95 swung 0.74x-1.00x between draws). 60 draws in a 600 s run.
 */
export const PHASE_DRAW_S = 10

/**
 * A frame clock of period `periodS`: frame n at n x periodS + the phase of its draw (uniform on
 * one period, a new one every PHASE_DRAW_S): the rate is exact, the gaps are the period but at
 * a new draw (one gap in PHASE_DRAW_S / periodS, uniform on (0, 2 periods)).
 */
function startFrameClock(heap: EventHeap<() => void>, clock: () => number, periodS: number, options: SimOptions, rand: () => number, frame: () => void): void {
  const perDraw = Math.max(1, Math.ceil(PHASE_DRAW_S / periodS - 1e-9))
  let n = 0
  let phase = 0
  const next = () => {
    if (n % perDraw === 0) phase = rand() * periodS
    const at = n++ * periodS + phase
    if (at < options.durationS) heap.push(Math.max(at, clock()), tick)
  }
  const tick = () => {
    frame()
    next()
  }
  next()
}

/** The measured window's counts: arrivals, completions, latencies (overall and per source), and the backlog at mid-window. */
class Tally {
  private requests = 0
  private measuredDone = 0
  private readonly latencies: number[] = []
  private readonly bySource: Array<{ sumMs: number; n: number }>
  // arrivals and completions (of measured requests) by the middle of the window: the backlog then
  private readonly midS: number
  private arrivedByMid = 0
  private doneByMid = 0

  constructor(private readonly options: SimOptions, sources: number, private readonly clock: () => number) {
    this.bySource = Array.from({ length: sources }, () => ({ sumMs: 0, n: 0 }))
    this.midS = (options.warmupS + options.durationS) / 2
  }

  arrived(): void {
    const now = this.clock()
    this.requests += now >= this.options.warmupS ? 1 : 0
    if (now >= this.options.warmupS && now <= this.midS) this.arrivedByMid++
  }

  done(arrivals: readonly number[], source: number): void {
    const now = this.clock()
    for (const a of arrivals) {
      if (a < this.options.warmupS || a >= this.options.durationS) continue
      this.latencies.push((now - a) * 1000)
      this.bySource[source]!.sumMs += (now - a) * 1000
      this.bySource[source]!.n++
      if (now <= this.options.durationS) this.measuredDone++
      if (now <= this.midS) this.doneByMid++
    }
  }

  result(offeredRps: number, windowS: number): RunTally {
    // completions kept up with arrivals: the backlog (arrived, not done) did not grow over the
    // second half of the window by more than 2% of that half's arrivals (a stable queue's backlog
    // is what it holds in flight, the same at both times)
    const growth = (this.requests - this.measuredDone) - (this.arrivedByMid - this.doneByMid)
    const keptUp = growth <= Math.max(10, 0.02 * (this.requests - this.arrivedByMid))
    return {
      requests: this.requests, completed: this.latencies.length, latenciesMs: this.latencies, throughputRps: this.measuredDone / windowS,
      energyShares: Math.max(1, this.latencies.length), enough: this.latencies.length >= this.requests * 0.99,
      sustains: { offeredRps, keptUp }, samplesMs: this.latencies, latencyMsBySource: this.bySource.map((x) => (x.n ? x.sumMs / x.n : NaN)),
    }
  }
}
