/**
 * Dora's contention-aware network scheduler. Pure (no clock: the caller gives the epoch start).
 *
 * Input: an inference plan, its job, fleet and network. Output: a periodic schedule. Every
 * `periodMs` one micro-batch enters the pipeline; a cycle of N periods repeats for ever, in which
 * micro-batches rotate over a replicated stage's replicas in proportion to their speed and
 * several sources take turns in proportion to their rates (N chosen so the turns match best). Within the cycle every
 * air hop of every transfer (input from its source to stage 0, activations between stages,
 * results back) gets a slot: an offset and a duration, so that
 *   - no two slots overlap on the air (one shared medium) and each slot adds a guard time for
 *     clock error and jitter;
 *   - a hop starts only when its data exists: after the producer's compute (or, for a chunk the
 *     access point forwards, after the broker relayed it), and the consumer computes only after
 *     the last chunk arrived; wired hops and the broker's relay take no slot, the chunks pipeline
 *     through them as the cost model says (pipeline.ts);
 *   - a device computes one micro-batch at a time;
 *   - tensors larger than `chunkBytes` go as chunks, back to back in one slot per hop (as a
 *     device sends them), so the broker relays chunk c while the sender sends chunk c + 1; a
 *     stage computes micro-batch k + 1 while micro-batch k is on the air because slots recur
 *     every period.
 *
 * Algorithm: modulo list scheduling. For a candidate period T, micro-batch m of the cycle is
 * released at m T; its activities (hops as chunks, computes) are placed in chain order, each at
 * the earliest time its inputs are ready and its resource (the air, or its device) is free in
 * the cyclic timeline of length N T (slots.ts). T starts at the lower bound (the busiest device's
 * compute, or the air time plus guards, per micro-batch) and grows by 5% until every activity
 * fits and the cycle is stable (each micro-batch ends before the same micro-batch of the next
 * cycle would need its resources again, which the cyclic timeline guarantees by construction).
 * For a throughput goal the smallest feasible T is kept; for a latency goal, T up to the
 * offered load's inter-arrival bound is scanned and the T with the shortest mean critical path
 * (release to result) wins. Complexity: O(P x A^2) for P candidate periods and A activities
 * per cycle (A = N x (hops x chunks + stages)), since each placement probes O(A) held intervals.
 */
import { hopsBetween, stageComputeMs, transferStages, type Hop } from '../cost.js'
import { chunkSizes, runPipeline, type PipeStage, type PlaceAir } from './pipeline.js'
import { consumerOf } from '../routing.js'
import { jobSources, outputBytesOf, type Fleet, type Network, type DeviceProfile, type Job, type Plan } from '../types.js'
import { CyclicTimeline } from './slots.js'
import { DEFAULT_TRANSPORT } from './transport.js'
import { checkpointEvery, checkpointStepMs, traceOneStep } from '../replay/training.js'
import { cutBytes } from '../compression.js'
import { slotsAsRun } from './turn-replay.js'

export interface ScheduleOptions {
  /** Guard added to every slot for clock error and jitter, ms. */
  readonly guardMs?: number
  /** Tensors above this go in chunks of this size, bytes (default: the network's transport, as the cost model). */
  readonly chunkBytes?: number
  /** The epoch's first period starts here (ms since the Unix epoch; the caller's clock). */
  readonly epochStartMs?: number
  /** Largest cycle (micro-batches) before replica rotation is approximated. */
  readonly maxCycle?: number
}

/** One chunk's time on the air, relative to the cycle start (a hop's chunks are back to back). `from`/`to` null: the hub (access point side). */
export interface Slot {
  readonly from: string | null
  readonly to: string | null
  /** The transfer's receiving device (null: the hub): a device's slot toward the access point is its slot toward this receiver. */
  readonly receiver: string | null
  /** Which tensor: "input", "act@K" (the activation entering layer K), "output", with `#chunk` when it has several. */
  readonly tensor: string
  readonly microBatch: number
  /** Which hop of the transfer (cost.ts hopsBetween: 0 the sender's, 1 the receiver's; a wired hop takes no slot). */
  readonly hop: number
  /** Start relative to the micro-batch's release (may reach past the cycle). */
  readonly sinceReleaseMs: number
  readonly offsetMs: number
  readonly durationMs: number
  readonly bytes: number
}

export interface Schedule {
  readonly periodMs: number
  /** Micro-batches (periods) per cycle; slots repeat every cycleMs. */
  readonly microBatchesPerCycle: number
  readonly cycleMs: number
  readonly epochStartMs: number
  readonly guardMs: number
  /** Mean release-to-result time of a micro-batch of the placed cycle (every turn full, guards included), ms. */
  readonly latencyMs: number
  /** Release-to-result time of each micro-batch of the cycle, ms. */
  readonly latenciesMs: readonly number[]
  /**
   * Expected wait of a request for its micro-batch's turn, ms: the hub's requests (Poisson
   * arrivals) wait; a device source captures at its turn (runtime/turn-clock.ts) and waits none.
   */
  readonly waitMs: number
  /**
   * With device sources only (frame clocks): the release-to-result time as the slots run, mean
   * and p95, ms, and the share of turns that carry a micro-batch. A frame clock leaves some turns
   * empty and the slot gate is work-conserving, so later micro-batches queue less than in the
   * placed cycle (turn-replay.ts).
   */
  readonly asRun?: { readonly latencyMs: number; readonly p95LatencyMs: number; readonly filled: number }
  /** Share of the cycle the air is held (slots and guards). */
  readonly airShare: number
  readonly slots: readonly Slot[]
  /**
   * Per sending station (device id, or "hub" for the access point's forwarding): its slots, one
   * per transfer (a tensor's chunks back to back: the first chunk's start, all chunks' air time,
   * all bytes), as devices get them (topics.md § Assignment `slots`): a device's slot gate takes
   * one slot per transfer (runtime/slot-gate.ts). An offset may exceed cycleMs (a micro-batch's
   * transfer that runs on into the next cycle): its first time is the epoch start plus the offset.
   */
  readonly byDevice: Readonly<Record<string, ReadonlyArray<{ to: string; tensor: string; offsetMs: number; durationMs: number; bytes: number }>>>
  /** Compute windows per device, relative to the cycle start (for the Gantt chart). */
  readonly compute: ReadonlyArray<{ device: string; microBatch: number; stage: number; offsetMs: number; durationMs: number }>
  /** Per micro-batch of the cycle: its source and the device of each stage. */
  readonly routes: ReadonlyArray<{ readonly source: string | null; readonly replicas: readonly string[] }>
}

export type ScheduleResult = { readonly ok: true; readonly schedule: Schedule } | { readonly ok: false; readonly reason: string }

/** Whose turn each micro-batch of an n-long cycle is: smooth weighted round robin by share. */
function turns<T>(sources: ReadonlyArray<{ d: T; share: number }>, n: number): T[] {
  const credit = sources.map(() => 0)
  return Array.from({ length: n }, () => {
    sources.forEach((x, k) => (credit[k]! += x.share))
    const k = credit.indexOf(Math.max(...credit))
    credit[k]! -= 1
    return sources[k]!.d
  })
}

export function scheduleTransfers(plan: Plan, job: Job, fleet: Fleet, network: Network, options: ScheduleOptions = {}): ScheduleResult {
  if (job.training) return trainingSchedule(plan, job, fleet, network, options.epochStartMs ?? 0)
  const guardMs = options.guardMs ?? 0.5
  const chunkBytes = options.chunkBytes ?? (network.transport ?? DEFAULT_TRANSPORT).chunkBytes
  const dev = (id: string): DeviceProfile => {
    const d = fleet.devices.get(id)
    if (!d) throw new RangeError(`plan ${plan.id} uses unknown device ${id}`)
    return d
  }
  const b = plan.microBatch
  const sources = jobSources(job).map((x) => ({ d: x.device ? dev(x.device) : null, share: x.share }))
  const { N, sourceOf, replicaOf } = cycleTurns(plan, job, sources, dev, options.maxCycle ?? 24)
  const turnsOf = sources.map((x) => sourceOf.filter((d) => d === x.d).length)
  if (turnsOf.some((c) => c === 0)) return { ok: false, reason: `a cycle of ${N} micro-batches cannot give each of ${sources.length} sources a turn` }
  // the period must serve each source's requests, at most 90% busy (a queue at 100% never drains)
  const maxPeriod = Math.min(...sources.map((x, k) => (turnsOf[k]! * b * 1000) / (N * job.rateRps * x.share))) * 0.9

  const { chains, lower } = buildChains(plan, job, network, N, sourceOf, replicaOf, chunkBytes, guardMs, sourceOf.map((x) => consumerOf(job, x, fleet)))
  const routes = Array.from({ length: N }, (_, m) => ({ source: sourceOf[m]?.id ?? null, replicas: plan.stages.map((_, k) => replicaOf(k, m).id) }))
  if (!Number.isFinite(lower) || lower <= 0) return { ok: false, reason: 'the plan moves nothing and computes nothing' }

  if (lower > maxPeriod) return { ok: false, reason: `the offered load needs a period under ${maxPeriod.toFixed(1)} ms, the plan needs at least ${lower.toFixed(1)} ms` }
  // a request of the hub's (Poisson) waits for its source's turn: turns come every g = N T / turns;
  // that is half a gap plus the M/D/1 wait of a server of service time g at load rho = rate g / b.
  // A device source (a camera's frame clock) captures at its turn (runtime/turn-clock.ts): no wait.
  const releaseWait = (T: number) => sources.reduce((a, x, k) => {
    if (x.d !== null) return a
    const g = (N * T) / turnsOf[k]!
    const rho = (job.rateRps * x.share * g) / 1000 / b
    return a + x.share * (g / 2 + (rho * g) / (2 * (1 - rho)))
  }, 0)
  let best: { s: Schedule; cost: number } | null = null
  for (let T = lower; T <= maxPeriod; T *= 1.05) {
    const s = placeInOrder(chains, T, N, guardMs, options.epochStartMs ?? 0, routes)
    if (!s) continue
    if (job.goal === 'throughput') {
      best = { s: { ...s, waitMs: releaseWait(T) }, cost: 0 }
      break
    }
    const cost = s.latencyMs + releaseWait(T)
    if (!best || cost < best.cost - 1e-9) best = { s: { ...s, waitMs: releaseWait(T) }, cost }
  }
  if (!best) return { ok: false, reason: `no schedule with a period up to ${maxPeriod.toFixed(1)} ms` }
  // device sources only: the schedule as it runs (turns left empty, free slots taken; turn-replay.ts)
  const asRun = sources.every((x) => x.d !== null) ? slotsAsRun(plan, job, fleet, network, best.s) : null
  return { ok: true, schedule: asRun ? { ...best.s, asRun } : best.s }
}

type Source = { readonly d: DeviceProfile | null; readonly share: number }

/**
 * place() from micro-batch 0, and, when one micro-batch ends far later than the others (1.5x the
 * median), from each other micro-batch in turn; the placement with the shortest mean wins (up to
 * N placements, only for such cycles). Placed first, micro-batch 0 holds its device from its
 * release on; a micro-batch released a little before the cycle's end whose compute runs into
 * the next cycle then waits behind it, a whole compute and the next free slot (camera-wall x4:
 * 103 ms against 34-50 for the others). A device computes in the order the data came (FIFO): the
 * earlier micro-batch first, the next one a little late; a placement that starts elsewhere in the
 * cycle describes that.
 */
function placeInOrder(chains: readonly Activity[][], T: number, N: number, guardMs: number, epochStartMs: number, routes: Schedule['routes']): Schedule | null {
  const s = place(chains, T, N, guardMs, epochStartMs, routes)
  if (!s || N < 2) return s
  const sorted = [...s.latenciesMs].sort((a, b) => a - b)
  if (sorted[N - 1]! <= 1.5 * sorted[Math.floor(N / 2)]!) return s
  let best = s
  for (let first = 1; first < N; first++) {
    const again = place(chains, T, N, guardMs, epochStartMs, routes, first)
    if (again && again.latencyMs < best.latencyMs - 1e-9) best = again
  }
  return best
}

/**
 * Who takes each micro-batch of an n-long cycle: sources by share, a replicated stage's replicas
 * by speed (smooth weighted round robin). The cycle length is the n <= maxCycle whose turns match
 * the shares and speeds best (the smallest such n).
 */
function cycleTurns(plan: Plan, job: Job, sources: readonly Source[], dev: (id: string) => DeviceProfile, maxCycle: number) {
  const b = plan.microBatch
  const groups: Array<readonly Source[]> = [sources]
  plan.stages.forEach((st) => {
    if (st.devices.length < 2) return
    const speed = st.devices.map((id) => 1 / stageComputeMs(job, dev(id), st.layers, b))
    const total = speed.reduce((a, x) => a + x, 0)
    groups.push(st.devices.map((id, r) => ({ d: dev(id), share: speed[r]! / total })))
  })
  const fit = (n: number) => Math.min(...groups.map((g) => {
    const order = turns(g, n)
    return Math.min(...g.map((x) => order.filter((d) => d === x.d).length / (x.share * n)))
  }))
  let N = 1
  let bestFit = fit(1)
  for (let n = 2; n <= maxCycle; n++) {
    const f = fit(n)
    if (f > bestFit + 1e-9) [N, bestFit] = [n, f]
  }
  const sourceOf = turns(sources, N)
  const rotation = plan.stages.map((st) => {
    const g = groups.find((x) => x.length === st.devices.length && x.every((y, r) => y.d?.id === st.devices[r]))
    return g ? turns(g, N) : null
  })
  // replica per stage and micro-batch: the source itself on stage 0 when it is a replica, else its turn
  const replicaOf = (stage: number, m: number): DeviceProfile => {
    const ids = plan.stages[stage]!.devices
    const origin = sourceOf[m]
    if (stage === 0 && origin && ids.includes(origin.id)) return origin
    return (rotation[stage]?.[m] as DeviceProfile | undefined) ?? dev(ids[0]!)
  }
  return { N, sourceOf, replicaOf }
}

/**
 * Each micro-batch's activities in chain order (air hops as chunks, computes), and the lower
 * bound of the period: the busiest device's compute, or the air, per micro-batch.
 */
function buildChains(plan: Plan, job: Job, network: Network, N: number, sourceOf: ReadonlyArray<DeviceProfile | null>, replicaOf: (stage: number, m: number) => DeviceProfile, chunkBytes: number, guardMs: number, resultsTo: ReadonlyArray<DeviceProfile | null> = sourceOf): { chains: Activity[][]; lower: number } {
  const b = plan.microBatch
  const computeMs = new Map<string, number>()
  let airMs = 0
  const chains: Activity[][] = []
  for (let m = 0; m < N; m++) {
    const chain: Activity[] = []
    let at: DeviceProfile | null = sourceOf[m]!
    const move = (to: DeviceProfile | null, bytes: number, tensor: string) => {
      const hops = hopsBetween(at, to, bytes)
      at = to
      if (!hops.length) return
      // chunks pipeline through the hops and the broker's relay (pipeline.ts); only air hops take slots
      const stages = transferStages(hops, network)
      const chunks = chunkSizes(bytes, chunkBytes)
      for (const st of stages) if (st.air) airMs += chunks.reduce((x, c) => x + st.chunkS(c) * 1000, 0) + guardMs
      chain.push({ kind: 'transfer', tensor, stages, chunks, hops, receiver: to?.id ?? null })
    }
    plan.stages.forEach((st, k) => {
      const r = replicaOf(k, m)
      move(r, b * cutBytes(job.model, plan, st.layers[0]), k === 0 ? 'input' : `act@${st.layers[0]}`)
      const ms = stageComputeMs(job, r, st.layers, b)
      computeMs.set(r.id, (computeMs.get(r.id) ?? 0) + ms)
      chain.push({ kind: 'compute', device: r.id, stage: k, ms })
      // model outputs this stage produces go to the results (an early head's); the chain goes on from here
      const early = k < plan.stages.length - 1 ? outputBytesOf(job.model, st.layers) : 0
      if (early > 0) {
        move(resultsTo[m]!, b * early, `output@${k}`)
        at = r
      }
    })
    move(resultsTo[m]!, b * outputBytesOf(job.model, plan.stages[plan.stages.length - 1]!.layers), 'output')
    chains.push(chain)
  }
  return { chains, lower: Math.max(airMs, ...computeMs.values()) / N }
}

type Activity =
  | { kind: 'transfer'; tensor: string; stages: PipeStage[]; chunks: number[]; hops: Hop[]; receiver: string | null }
  | { kind: 'compute'; device: string; stage: number; ms: number }

function place(chains: readonly Activity[][], T: number, N: number, guardMs: number, epochStartMs: number, routes: Schedule['routes'], first = 0): Schedule | null {
  const C = N * T
  const air = new CyclicTimeline(C)
  const devices = new Map<string, CyclicTimeline>()
  const slots: Slot[] = []
  /** Per sending station, one slot per transfer (its chunks back to back): what devices get. */
  const sends: Array<{ from: string; to: string; tensor: string; offsetMs: number; durationMs: number; bytes: number }> = []
  const compute: Array<{ device: string; microBatch: number; stage: number; offsetMs: number; durationMs: number }> = []
  const latencies: number[] = new Array<number>(N).fill(0)
  for (let i = 0; i < N; i++) {
    const m = (first + i) % N
    const release = m * T
    let ready = release
    let transferEnd = release
    for (const a of chains[m]!) {
      if (a.kind === 'compute') {
        let tl = devices.get(a.device)
        if (!tl) devices.set(a.device, (tl = new CyclicTimeline(C)))
        const start = tl.earliest(Math.max(ready, transferEnd), a.ms)
        if (start === null) return null
        tl.hold(start, a.ms)
        compute.push({ device: a.device, microBatch: m, stage: a.stage, offsetMs: mod(start, C), durationMs: a.ms })
        ready = start + a.ms
        transferEnd = ready
        continue
      }
      // a hop's chunks take the earliest free air after their data is ready, as one block: a
      // device sends a transfer's chunks back to back from its slot (one slot gate take per
      // transfer: runtime/slot-gate.ts), so they may not leave room for another slot between
      // them, and one guard follows the hop's last chunk, not each chunk
      const placeAir: PlaceAir = (k, readyS, chunkS) => {
        const air0 = chunkS.reduce((x, y) => x + y, 0) * 1000
        const start = air.earliest(readyS * 1000, air0 + guardMs)
        if (start === null) return null
        air.hold(start, air0 + guardMs)
        const h = a.hops[a.stages[k]!.hop]!
        let at = start
        chunkS.forEach((sc, c) => {
          const tensor = a.chunks.length > 1 ? `${a.tensor}#${c}` : a.tensor
          slots.push({ from: h.txDevice, to: h.rxDevice, receiver: a.receiver, tensor, microBatch: m, hop: a.stages[k]!.hop, sinceReleaseMs: at - release, offsetMs: mod(at, C), durationMs: sc * 1000, bytes: a.chunks[c]! })
          at += sc * 1000
        })
        // (not wrapped: a slot past the cycle's end first comes in the epoch's first cycle, not before it)
        sends.push({ from: h.txDevice ?? 'hub', to: a.receiver ?? 'hub', tensor: a.tensor, offsetMs: start, durationMs: air0, bytes: a.chunks.reduce((x, y) => x + y, 0) })
        return { startS: start / 1000, endS: (start + air0 + guardMs) / 1000 }
      }
      const run = runPipeline(a.stages, a.chunks, ready / 1000, placeAir)
      if (!run) return null
      transferEnd = Math.max(transferEnd, run.endS * 1000)
    }
    latencies[m] = transferEnd - release
  }
  const byDevice: Record<string, Array<{ to: string; tensor: string; offsetMs: number; durationMs: number; bytes: number }>> = {}
  for (const { from, ...x } of sends) (byDevice[from] ??= []).push(x)
  for (const list of Object.values(byDevice)) list.sort((x, y) => x.offsetMs - y.offsetMs)
  return { periodMs: T, microBatchesPerCycle: N, cycleMs: C, epochStartMs, guardMs, latencyMs: latencies.reduce((a, x) => a + x, 0) / N, latenciesMs: latencies, waitMs: 0, airShare: air.load / C, slots, byDevice, compute, routes }
}

const mod = (x: number, c: number) => ((x % c) + c) % c

/**
 * Each traced hop's receiving device: a hop into the access point goes on to the device the
 * same transfer's next hop (same label, from the access point, not before) reaches; none: the hub.
 */
function receiversOf(air: ReadonlyArray<{ hop: { txDevice: string | null; rxDevice: string | null }; label: string; startS: number; endS: number }>): Array<string | null> {
  const used = new Set<number>()
  return air.map((x) => {
    if (x.hop.rxDevice !== null) return x.hop.rxDevice
    const j = air.findIndex((y, k) => !used.has(k) && y.hop.txDevice === null && y.label === x.label && y.startS >= x.endS - 1e-12)
    if (j < 0) return null
    used.add(j)
    return air[j]!.hop.rxDevice
  })
}

/**
 * Training: one optimizer step is the cycle. Its 1F1B schedule - forward and backward tasks,
 * activations forward and gradients back, the ring all-reduce after the flush - is replayed
 * deterministically with every transfer alone on the air (replay/training.ts), and each hop's
 * interval in the replay becomes its slot: non-overlapping and after its producer by
 * construction. Tensors go whole (no chunks) and back to back (no guard time).
 */
function trainingSchedule(plan: Plan, job: Job, fleet: Fleet, network: Network, epochStartMs: number): ScheduleResult {
  const net: Network = { ...network, coordination: 'scheduled', grants: false }
  const { stepMs, trace } = traceOneStep(plan, job, fleet, net)
  if (!Number.isFinite(stepMs)) return { ok: false, reason: 'the step never completes' }
  // a step's time in the mean counts the checkpoints (training.ts): they have no slot, a device
  // sends them to the hub as soon as the step that makes them is done
  const every = checkpointEvery(job)
  const ckptMs = every > 0 ? checkpointStepMs(plan, job, fleet, net) : stepMs
  const meanMs = every > 0 ? stepMs + (ckptMs - stepMs) / every : stepMs
  // the steps of a checkpoint period (its p95 the checkpoint's step while those are over 5% of them, else an ordinary step's)
  const steps = every > 0 && every < 20 ? [...Array.from({ length: every - 1 }, () => stepMs), ckptMs] : [stepMs]
  const M = job.training!.microBatchesPerStep
  const receivers = receiversOf(trace.air)
  const slots: Slot[] = trace.air.map((x, i) => {
    const mb = x.label.split('#')[1]
    return {
      from: x.hop.txDevice, to: x.hop.rxDevice, receiver: receivers[i]!, tensor: x.label, microBatch: mb === undefined ? -1 : Number(mb),
      hop: x.hop.txDevice ? 0 : 1, sinceReleaseMs: x.startS * 1000, offsetMs: x.startS * 1000, durationMs: (x.endS - x.startS) * 1000, bytes: x.hop.bytes,
    }
  })
  const byDevice: Record<string, Array<{ to: string; tensor: string; offsetMs: number; durationMs: number; bytes: number }>> = {}
  for (const s of slots) (byDevice[s.from ?? 'hub'] ??= []).push({ to: s.receiver ?? 'hub', tensor: s.tensor, offsetMs: s.offsetMs, durationMs: s.durationMs, bytes: s.bytes })
  for (const list of Object.values(byDevice)) list.sort((a, b) => a.offsetMs - b.offsetMs)
  const held = slots.reduce((a, x) => a + x.durationMs, 0)
  return {
    ok: true,
    schedule: {
      periodMs: stepMs / M, microBatchesPerCycle: M, cycleMs: stepMs, epochStartMs, guardMs: 0, latencyMs: meanMs, latenciesMs: steps, waitMs: 0, airShare: held / stepMs,
      slots, byDevice,
      compute: trace.compute.map((c) => ({ device: c.device, microBatch: c.microBatch, stage: c.stage, offsetMs: c.startS * 1000, durationMs: (c.endS - c.startS) * 1000 })),
      routes: [],
    },
  }
}
