/**
 * The slots as they run, when every source is a device on a frame clock (pure, deterministic).
 *
 * The scheduler places a cycle in which every turn carries a micro-batch. A camera does not fill
 * every turn: its frame clock ticks at its rate, and it captures at its next turn that no earlier
 * frame took (runtime/turn-clock.ts); the scheduler's period serves each source's rate at most 90%
 * busy, so one turn in ten or more goes empty. A device then sends through its slot gate
 * (shared/slot-gate.ts), which is work-conserving: the slot of an empty turn goes untaken, and a
 * later transfer that is ready takes it at once instead of waiting for its own; on the air the
 * hops go first come, first served. So a micro-batch behind an empty turn queues less than in the
 * placed cycle, and which one waits changes: camera-wall at 4x / 5x its rate has 38.4 / 43.2 ms
 * placed with every turn full against 35.8 / 37.4 simulated (BENCHMARKS.md § Slots as they run).
 *
 * The replay runs the schedule as the devices run it, without jitter: each device source's frame
 * clock at a phase (frame j at j x period + phase), its turns captured as the turn clock does (a
 * turn takes a micro-batch when that many frames are due and not yet taken); the micro-batch goes
 * the route of its turn (the schedule's replicas), each device computing one micro-batch at a
 * time in arrival order; a source's input and the access point's forwarding go at once, every
 * other transfer of a device through a slot gate with the schedule's slots, then on the planner's
 * medium (replay/medium.ts, scheduled: one hop at a time, first come; the chunks pipelined as the
 * cost model says). No guard time follows a hop: the guard spaces the slots, the data is there
 * when its last chunk is. The training cost model is the same kind of replay (replay/training.ts).
 * DRAWS phase draws of CYCLES cycles each, the first WARM cycles of each unmeasured. The phases
 * are stratified over the period, not drawn at random: a frame period that divides the cycle
 * almost exactly keeps the empty turns in place for a whole draw, so which turns go empty is the
 * phase's alone (random fleet 49: four random phases put the p95 35% low, where a slow replica's
 * turn carries 6% of the frames; four stratified ones 4% low).
 *
 * Complexity: O(DRAWS x (WARM + CYCLES) x N x (stages x (S + log E))) for N micro-batches a
 * cycle, S slots per gate key and E events pending.
 */
import { SlotGate, slotsByLink, type Slot } from '../../shared/slot-gate.js'
import { seededRandom } from '../../shared/random.js'
import { EventHeap, runEvents } from '../replay/event-heap.js'
import { Medium } from '../replay/medium.js'
import { stageComputeMs } from '../cost.js'
import { cutBytes } from '../compression.js'
import { planRouting } from '../routing.js'
import { jobSources, outputBytesOf, type DeviceProfile, type Fleet, type Job, type Network, type Plan } from '../types.js'
import { COMPUTE_CV } from '../inference.js'

/** What the replay needs of a schedule (scheduler.ts Schedule). */
export interface Turns {
  readonly periodMs: number
  readonly cycleMs: number
  /** Per sending station: its slots toward each receiver ("hub": the hub). */
  readonly byDevice: Readonly<Record<string, ReadonlyArray<{ to: string; offsetMs: number; durationMs: number }>>>
  /** Per micro-batch of the cycle: its source (device id) and the device of each stage. */
  readonly routes: ReadonlyArray<{ readonly source: string | null; readonly replicas: readonly string[] }>
}

export interface TurnReplay {
  /** Mean release-to-result time of the micro-batches captured, ms. */
  readonly latencyMs: number
  /** Each captured micro-batch's release-to-result time, with its place in the cycle. */
  readonly samples: ReadonlyArray<{ readonly m: number; readonly ms: number }>
  /** Share of the turns that carried a micro-batch. */
  readonly filled: number
}

export const DRAWS = 4
export const CYCLES = 8
export const WARM = 2
const SEED = 0x7a11e5

interface Batch {
  readonly m: number
  readonly releaseS: number
  readonly source: number
  stage: number
  at: DeviceProfile | null
  /** Result transfers still to arrive (the last stage's, and each early head's). */
  left: number
}

/**
 * The slots as they run (Schedule.asRun): the replay's mean, and the p95 of its times spread by the
 * compute jitter (CV COMPUTE_CV on each compute of a micro-batch's route); null without samples.
 */
export function slotsAsRun(plan: Plan, job: Job, fleet: Fleet, network: Network, s: Turns): { latencyMs: number; p95LatencyMs: number; filled: number } | null {
  const r = replayTurns(plan, job, fleet, network, s)
  if (!r.samples.length) return null
  const sigma = s.routes.map((route) => COMPUTE_CV * Math.sqrt(plan.stages.reduce((a, st, k) => a + stageComputeMs(job, fleet.devices.get(route.replicas[k]!)!, st.layers, plan.microBatch) ** 2, 0)))
  return { latencyMs: r.latencyMs, p95LatencyMs: jitteredP95(r.samples, (m) => sigma[m]!), filled: r.filled }
}

/** The schedule `s` of `plan` run with every source a device on its frame clock (see above). */
export function replayTurns(plan: Plan, job: Job, fleet: Fleet, network: Network, s: Turns): TurnReplay {
  const sources = jobSources(job)
  const N = s.routes.length
  const sourceOf = s.routes.map((r) => sources.findIndex((x) => (x.device ?? null) === r.source))
  if (!N || sourceOf.some((k) => k < 0) || sources.some((x) => x.device === null || !(x.share > 0))) return { latencyMs: NaN, samples: [], filled: 0 }
  const framePeriodS = sources.map((x) => 1 / (job.rateRps * x.share))
  const samples: Array<{ m: number; ms: number }> = []
  let turns = 0
  for (let draw = 0; draw < DRAWS; draw++) {
    // stratified phases: draw d puts source k at ((d + 1/2) / DRAWS + k x golden ratio) of its period
    const phaseS = framePeriodS.map((p, k) => (((draw + 0.5) / DRAWS + k * 0.6180339887) % 1) * p)
    const captured = sources.map(() => 0)
    const run = runner(plan, job, fleet, network, s, draw, (x) => {
      if (x.m >= 0 && x.measured) samples.push({ m: x.m, ms: x.ms })
    })
    for (let n = 0; n < (WARM + CYCLES) * N; n++) {
      const m = n % N
      const k = sourceOf[m]!
      const t = (n * s.periodMs) / 1000
      const measured = n >= WARM * N
      if (measured) turns++
      // frames due by the turn (frame j at j x period + phase), less those captured
      const due = Math.floor((t - phaseS[k]!) / framePeriodS[k]! + 1e-9) + 1
      if (due - captured[k]! < plan.microBatch) continue
      captured[k]! += plan.microBatch
      run.release(t, m, k, measured)
    }
    run.finish()
  }
  const latencyMs = samples.reduce((a, x) => a + x.ms, 0) / Math.max(1, samples.length)
  return { latencyMs, samples, filled: samples.length / Math.max(1, turns) }
}

/** One draw's event run: micro-batches released at their turns, done() with each one's time. */
function runner(plan: Plan, job: Job, fleet: Fleet, network: Network, s: Turns, draw: number, done: (x: { m: number; ms: number; measured: boolean }) => void) {
  const dev = (id: string) => fleet.devices.get(id)!
  const heap = new EventHeap<() => void>()
  let now = 0
  const medium = new Medium(heap, () => now, fleet, network)
  const horizonS = ((WARM + CYCLES + 2) * s.cycleMs) / 1000
  medium.startBackground(horizonS, seededRandom(SEED ^ (0x1b873593 + draw)))
  const gate = new SlotGate()
  const slotsOf = slotsByLink(s.byDevice)
  const atOnce = () => 0
  const send = (from: DeviceProfile | null, to: DeviceProfile | null, bytes: number, then: () => void, ungated: boolean) => {
    const key = `${from?.id}|${to?.id ?? 'hub'}`
    const slots = !ungated && from ? slotsOf.get(key) : undefined
    if (!slots) return medium.transfer(from, to, bytes, then, atOnce)
    const at = gate.take(key, now * 1000, slots, s.cycleMs, 0) / 1000
    if (at <= now) return medium.transfer(from, to, bytes, then, atOnce)
    heap.push(at, () => medium.transfer(from, to, bytes, then, atOnce))
  }
  const b = plan.microBatch
  const S = plan.stages.length
  const consumers = planRouting(plan, job, fleet).consumers
  const early = plan.stages.map((st, k) => (k < S - 1 ? outputBytesOf(job.model, st.layers) : 0))
  const freeAt = new Map<string, number>()
  const measured = new Set<Batch>()
  const finished = (x: Batch) => {
    if (--x.left === 0) done({ m: x.m, ms: (now - x.releaseS) * 1000, measured: measured.has(x) })
  }
  const advance = (x: Batch): void => {
    const to = consumers[x.source]!
    if (x.stage > 0 && early[x.stage - 1]! > 0) send(x.at, to, b * early[x.stage - 1]!, () => finished(x), false)
    if (x.stage === S) return send(x.at, to, b * outputBytesOf(job.model, plan.stages[S - 1]!.layers), () => finished(x), false)
    const st = plan.stages[x.stage]!
    const target = dev(s.routes[x.m]!.replicas[x.stage]!)
    send(x.at, target, b * cutBytes(job.model, plan, st.layers[0]), () => {
      const start = Math.max(now, freeAt.get(target.id) ?? 0)
      const end = start + stageComputeMs(job, target, st.layers, b) / 1000
      freeAt.set(target.id, end)
      heap.push(end, () => advance(Object.assign(x, { stage: x.stage + 1, at: target })))
    }, x.stage === 0)
  }
  return {
    release(t: number, m: number, k: number, isMeasured: boolean): void {
      heap.push(t, () => {
        const origin = dev(jobSources(job)[k]!.device!)
        const x: Batch = { m, releaseS: t, source: k, stage: 0, at: origin, left: 1 + early.filter((e) => e > 0).length }
        if (isMeasured) measured.add(x)
        advance(x)
      })
    },
    finish(): void {
      runEvents(heap, Infinity, (t) => (now = t))
    },
  }
}

/**
 * The 95th percentile of the replayed times with the compute jitter: each sample the centre of a
 * normal of standard deviation `sigmaMs(m)` (its micro-batch's computes' jitter), the quantile of
 * their mixture found by bisection. A deterministic replay puts many samples at one value; the
 * jitter spreads them as a run does.
 */
export function jitteredP95(samples: TurnReplay['samples'], sigmaMs: (m: number) => number): number {
  if (!samples.length) return NaN
  const cdf = (x: number) => samples.reduce((a, s) => a + normalCdf((x - s.ms) / Math.max(1e-9, sigmaMs(s.m))), 0) / samples.length
  let lo = Math.min(...samples.map((s) => s.ms))
  let hi = Math.max(...samples.map((s) => s.ms + 4 * sigmaMs(s.m)))
  for (let i = 0; i < 50; i++) {
    const mid = (lo + hi) / 2
    if (cdf(mid) < 0.95) lo = mid
    else hi = mid
  }
  return hi
}

/** The standard normal's distribution function (Abramowitz and Stegun 7.1.26, error below 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2
  const t = 1 / (1 + 0.3275911 * x)
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x)
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2
}
