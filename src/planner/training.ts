/**
 * The cost model of a training job (job.training). Pure.
 *
 * One optimizer step runs M micro-batches of b samples through the pipeline in the 1F1B order
 * with a flush at the step's end (PipeDream-Flush, Narayanan et al. ICML 2021; DAPPLE, Fan et al.
 * PPoPP 2021), then the replicas of every replicated stage synchronise gradients.
 * - Compute of a stage per micro-batch: forward + backward, the backward costing twice the
 *   forward's FLOPs (the usual estimate: gradients w.r.t. activations and w.r.t. weights), plus
 *   the fixed overhead once per pass: 2 x overhead + 3 x forward FLOP time.
 * - Transfers per micro-batch: the input from the source to stage 0, the activations forward
 *   across every stage boundary and their gradients back (same bytes). The loss is computed on
 *   the last stage (labels are not counted).
 * - Step time: (M - 1) x period + one forward-backward pass through every stage and boundary
 *   (pipeline fill and drain) + gradient synchronisation, where the period is the largest of the
 *   slowest stage's time per micro-batch, the air time per micro-batch, and each stage's round
 *   trip (its forward to its backward) over the micro-batches 1F1B lets it keep in flight. For
 *   stages of equal time t and free links this is the textbook (M + S - 1) t.
 * - Gradient synchronisation: ring all-reduce among the m replicas of a stage holding W bytes of
 *   parameters: each replica sends 2 (m - 1) / m x W to its successor, through the broker (an air
 *   hop to the access point and one from it), 4 (m - 1) W bytes of air per step in all: the same
 *   volume as PipeDream's 4 (m - 1) W / m per replica. All stages synchronise after the flush.
 * - Checkpoints: every `checkpointEverySteps` steps (default 10) each stage sends its state
 *   (3 x W) to the hub, from one replica (protocol/checkpoint.ts checkpointSender: replicas hold
 *   the same state after the all-reduce); the step that starts meanwhile is replayed with them on the air
 *   first (checkpointStepMs). The step time is the mean over that many steps (one of them the
 *   checkpoint's), its p95 the checkpoint's step while those are over 5% of the steps.
 * - At once (replay/medium.ts airShared: the devices send as soon as data is ready and overlapping
 *   transfers share the air as DCF does) the ordinary step is the mean of steps replayed with the
 *   compute jitter (atOnceStepMs: where transfers overlap moves with it), its p95 theirs.
 * - Memory: see stageMemoryBytes (cost.ts); stage k of S stashes min(S - k, M) micro-batches.
 * - Energy per sample: idle power of the plan's devices over the step, active power over each
 *   device's busy time, radio energy per byte; divided by M x b samples.
 * Reported: latency = step time (ms), throughput = samples per second, energy = J per sample.
 */
import { airSeconds, hopsBetween, planMemoryBytes, stageComputeMs, transferS, type Hop } from './cost.js'
import type { Fleet, Network, DeviceProfile, Job, Plan, Prediction } from './types.js'
import { atOnceStepMs, checkpointBytes, checkpointEvery, checkpointStepMs, oneStepMs } from './replay/training.js'
import { airShared } from './replay/medium.js'
import { cutBytes } from './compression.js'
import { checkpointSender } from '../protocol/checkpoint.js'

/** Forward + backward time of one micro-batch of a stage on a device, ms. */
export function trainingStageMs(job: Job, device: DeviceProfile, layers: readonly [number, number], microBatch: number): number {
  return 3 * stageComputeMs(job, device, layers, microBatch) - device.stageOverheadMs
}

/** Parameter bytes of a layer range (the gradient volume its replicas synchronise). */
export function stageParamBytes(job: Job, layers: readonly [number, number]): number {
  let w = 0
  for (let i = layers[0]; i < layers[1]; i++) w += job.model.layers[i]!.paramBytes
  return w
}

/** The air hops of one ring all-reduce of `paramBytes` among `replicas` (none for one replica). */
export function allReduceHops(replicas: readonly DeviceProfile[], paramBytes: number): Hop[] {
  const m = replicas.length
  if (m < 2 || paramBytes <= 0) return []
  const share = (2 * (m - 1) * paramBytes) / m
  return replicas.flatMap((d, r) => hopsBetween(d, replicas[(r + 1) % m]!, share))
}

type Weighted = Hop & { weight: number }

/** A transfer of a step (its hops: hopsBetween) and how many times a micro-batch makes it on average. */
interface Transfer { from: DeviceProfile | null; to: DeviceProfile | null; bytes: number; weight: number }

/** allReduceHops' transfers (each of weight 1). */
function allReduceTransfers(replicas: readonly DeviceProfile[], paramBytes: number): Transfer[] {
  const m = replicas.length
  if (m < 2 || paramBytes <= 0) return []
  const share = (2 * (m - 1) * paramBytes) / m
  return replicas.map((d, r) => ({ from: d, to: replicas[(r + 1) % m]!, bytes: share, weight: 1 }))
}

/**
 * `stepMs`: the step time to assume instead of the replay's (with a lower bound on it, every
 * figure comes out at least as good as the plan's: latency and energy grow with the step time,
 * capacity falls).
 */
export function predictTraining(plan: Plan, job: Job, fleet: Fleet, network: Network, stepMsGiven?: number): Prediction {
  const figures = trainingFigures(plan, job, fleet, network)
  // the deterministic replay of one step is what the plan does; the closed form (M - 1) x period
  // + pass + sync is not a bound either way (with the slowest stage first it counts that stage's
  // time in the pass and again in the period) and only names the bottleneck
  return stepMsGiven === undefined ? figures.replayed() : figures.at(stepMsGiven)
}

/** A training plan's figures but for its step time (predictTraining), to be had at any step time. */
export interface TrainingFigures {
  /** Samples per step (M x b). */
  readonly samples: number
  /** Energy of one step of `stepMs`, J (the prediction's energyJPerRequest is this / samples). */
  joules(stepMs: number): number
  /**
   * The prediction at a step time (and the time of the step after a checkpoint: default the
   * same, which keeps a lower bound on the step a bound): predictTraining's, the same operations.
   */
  at(stepMs: number, checkpointStepMs?: number): Prediction
  /** The prediction at the replayed step times (an ordinary step's and a checkpoint's). */
  replayed(): Prediction
}

export function trainingFigures(plan: Plan, job: Job, fleet: Fleet, network: Network): TrainingFigures {
  const spec = job.training!
  const M = spec.microBatchesPerStep
  const b = plan.microBatch
  const dev = (id: string): DeviceProfile => {
    const d = fleet.devices.get(id)
    if (!d) throw new RangeError(`plan ${plan.id} uses unknown device ${id}`)
    return d
  }
  const source = job.sourceDevice ? dev(job.sourceDevice) : null

  const stages = plan.stages.map((st) => {
    const reps = st.devices.map((id) => ({ d: dev(id), ms: trainingStageMs(job, dev(id), st.layers, b) }))
    const rate = reps.reduce((s, r) => s + 1000 / r.ms, 0)
    return { st, reps: reps.map((r) => ({ ...r, share: 1000 / r.ms / rate })), rate }
  })

  // Activations forward and gradients back, per micro-batch, expected over replica choices.
  const transfers: Transfer[] = []
  const add = (from: Array<{ d: DeviceProfile | null; share: number }>, to: Array<{ d: DeviceProfile | null; share: number }>, bytes: number) => {
    for (const f of from) for (const t of to) transfers.push({ from: f.d, to: t.d, bytes, weight: f.share * t.share })
  }
  stages.forEach((s, k) => {
    const bytes = b * cutBytes(job.model, plan, s.st.layers[0])
    if (k === 0) return add([{ d: source, share: 1 }], s.reps, bytes)
    const prev = stages[k - 1]!.reps
    add(prev, s.reps, bytes)
    add(s.reps, prev, bytes)
  })
  // the all-reduce's (allReduceHops), once per step
  const sync: Transfer[] = stages.flatMap((s) => allReduceTransfers(s.reps.map((r) => r.d), stageParamBytes(job, s.st.layers)))

  // every `every` steps each stage's state to the hub, from one of its replicas (a share of them a step)
  const every = checkpointEvery(job)
  const ckpt: Transfer[] = every > 0 ? plan.stages.map((st) => ({ from: dev(checkpointSender(st.devices)!), to: null, bytes: checkpointBytes(job, st.layers), weight: 1 / every })) : []

  const samples = M * b
  const joules = stepJoules(plan, dev, stages, transfers, [...sync, ...ckpt], M)
  const at = (stepMs: number, ckptStepMs = stepMs): Prediction => {
    // (worked out here: a plan the partitioner skips only needs its energy)
    const hops: Weighted[] = transfers.flatMap((x) => hopsBetween(x.from, x.to, x.bytes).map((h) => ({ ...h, weight: x.weight })))
    const syncHops: Weighted[] = sync.flatMap((x) => hopsBetween(x.from, x.to, x.bytes).map((h) => ({ ...h, weight: 1 })))
    const ckptHops: Weighted[] = ckpt.flatMap((x) => hopsBetween(x.from, x.to, x.bytes).map((h) => ({ ...h, weight: x.weight })))
    const airMs = airSeconds(hops, network) * 1000
    const syncMs = airSeconds(syncHops, network) * 1000
    const ckptAirMs = airSeconds(ckptHops, network) * 1000
    const period = trainingPeriod(plan, job, network, source, stages, airMs)
    const periodMs = period.periodMs
    const bottleneck = syncMs > (M - 1) * periodMs ? 'gradient sync' : period.bottleneck
    // the mean over a checkpoint period: one step of it after the checkpoints
    const meanMs = every > 0 ? stepMs + (ckptStepMs - stepMs) / every : stepMs
    const capacity = (samples * 1000) / meanMs
    return {
      latencyMs: meanMs,
      p95LatencyMs: every > 0 && every < 20 ? ckptStepMs : stepMs,
      capacityRps: capacity,
      throughputRps: capacity,
      energyJPerRequest: joules(meanMs) / samples,
      bottleneckMs: periodMs,
      bottleneck,
      memoryBytes: planMemoryBytes(plan, job),
      airtimeMsPerRequest: (M * airMs + syncMs + ckptAirMs) / samples,
      transferMode: network.coordination === 'scheduled' ? 'granted' : 'contended',
      utilisation: trainingUtilisation(stages, M, airMs, syncMs + ckptAirMs, meanMs),
      // a step is a deterministic schedule (the replay); only compute jitter moves it
      p95UncertaintyMs: 0.05 * stepMs,
    }
  }
  return {
    samples,
    joules,
    at,
    replayed: () => replayedPrediction(plan, job, fleet, network, at),
  }
}

/**
 * The prediction at the replayed step times: an ordinary step's (oneStepMs) and a checkpoint's.
 * At once (airShared) the ordinary step is atOnceStepMs' mean over steps with the compute jitter,
 * which moves where their transfers overlap, and its p95 theirs (but while checkpoints are over
 * 5% of the steps); the checkpoint's step, replayed without jitter, moved as much as the ordinary
 * step's mean.
 */
function replayedPrediction(plan: Plan, job: Job, fleet: Fleet, network: Network, at: TrainingFigures['at']): Prediction {
  const every = checkpointEvery(job)
  const ckptMs = every > 0 ? checkpointStepMs(plan, job, fleet, network) : undefined
  if (!airShared(network)) return at(oneStepMs(plan, job, fleet, network), ckptMs)
  const jittered = atOnceStepMs(plan, job, fleet, network)
  const shift = jittered.meanMs - oneStepMs(plan, job, fleet, network)
  const p = at(jittered.meanMs, ckptMs === undefined ? undefined : ckptMs + shift)
  return every > 0 && every < 20 ? p : { ...p, p95LatencyMs: jittered.p95Ms }
}

type TrainingStages = ReadonlyArray<{ st: Plan['stages'][number]; reps: ReadonlyArray<{ d: DeviceProfile; ms: number; share: number }>; rate: number }>

/**
 * The period per micro-batch and what sets it: the air, the slowest stage, or a stage's 1F1B
 * round trip. Round trip of a micro-batch from stage k's forward to its backward: the stages
 * after it and the transfers between them, both ways (stage 0 also fetches the input). 1F1B lets
 * stage k have at most min(S - k, M) micro-batches in flight per replica, so it cannot start
 * micro-batches faster than that many per round trip: with slow links this, not compute, sets
 * the period.
 */
function trainingPeriod(plan: Plan, job: Job, network: Network, source: DeviceProfile | null, stages: TrainingStages, airMs: number): { periodMs: number; bottleneck: string } {
  const M = job.training!.microBatchesPerStep
  const b = plan.microBatch
  let periodMs = airMs
  let bottleneck = airMs > 0 ? 'wifi' : 'none'
  stages.forEach((s, k) => {
    if (1000 / s.rate > periodMs) {
      periodMs = 1000 / s.rate
      bottleneck = `stage ${k} (${s.st.devices.join('+')})`
    }
  })
  const stageMs = stages.map((s) => s.reps.reduce((t, r) => t + r.share * r.ms, 0))
  const boundaryMs = stages.map((s, k) => {
    const bytes = b * cutBytes(job.model, plan, s.st.layers[0])
    const from = k === 0 ? [{ d: source, share: 1 }] : stages[k - 1]!.reps
    let ms = 0
    for (const f of from) for (const t of s.reps) for (const h of hopsBetween(f.d, t.d, bytes)) ms += f.share * t.share * transferS(h, network) * 1000
    return ms
  })
  const S = stages.length
  for (let k = 0; k < S; k++) {
    let rt = boundaryMs[k]! * (k === 0 ? 1 : 0)
    for (let j = k; j < S; j++) rt += stageMs[j]! + (j > k ? 2 * boundaryMs[j]! : 0)
    const perRt = rt / (Math.min(S - k, M) * stages[k]!.reps.length)
    if (perRt > periodMs) {
      periodMs = perRt
      bottleneck = `1F1B round trip from stage ${k}`
    }
  }
  return { periodMs, bottleneck }
}

/**
 * Energy of one step as a function of its time: idle power of the plan's devices over the step,
 * active power over busy time, radio energy per byte (the terms but idle worked out once and
 * added in the same order); `sync` once a step times its weight (the all-reduce 1, a
 * checkpoint 1 / every).
 */
function stepJoules(plan: Plan, dev: (id: string) => DeviceProfile, stages: TrainingStages, transfers: readonly Transfer[], sync: readonly Transfer[], M: number): (stepMs: number) => number {
  const idleW = [...new Set(plan.stages.flatMap((s) => s.devices))].map((id) => dev(id).idleW)
  const terms: number[] = []
  for (const s of stages) for (const r of s.reps) terms.push((M * r.share * (r.d.activeW - r.d.idleW) * r.ms) / 1000)
  // per hop of a transfer (hopsBetween: the sender's, then the receiver's), times x its bytes x
  // the energy per byte of its device on the air
  const radio = (x: Transfer, times: number) => {
    if (x.bytes <= 0 || (x.from && x.to && x.from.id === x.to.id) || (!x.from && !x.to)) return
    if (x.from) terms.push(times * x.bytes * ((x.from.id ? dev(x.from.id).txJPerByte : 0) + 0))
    if (x.to) terms.push(times * x.bytes * (0 + (x.to.id ? dev(x.to.id).rxJPerByte : 0)))
  }
  for (const x of transfers) radio(x, M * x.weight)
  for (const x of sync) radio(x, x.weight)
  return (stepMs) => {
    let joules = 0
    for (const w of idleW) joules += (w * stepMs) / 1000
    for (const t of terms) joules += t
    return joules
  }
}

/** Busy fraction of each device and of the air over one step. */
function trainingUtilisation(stages: ReadonlyArray<{ reps: ReadonlyArray<{ d: DeviceProfile; ms: number; share: number }> }>, M: number, airMs: number, syncMs: number, stepMs: number): Record<string, number> {
  const out: Record<string, number> = {}
  for (const s of stages) for (const r of s.reps) out[r.d.id] = (out[r.d.id] ?? 0) + (M * r.share * r.ms) / stepMs
  if (airMs + syncMs > 0) out.air = (M * airMs + syncMs) / stepMs
  return out
}
