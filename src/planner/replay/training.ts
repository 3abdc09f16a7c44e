/**
 * The event-driven replay of training jobs (job.training), in the planner because the training
 * cost model takes its step time from one jitter-free step (oneStepMs, traceOneStep); the
 * simulator runs it with jitter over many steps (simulateTraining). It replays optimizer steps of
 * M micro-batches in the 1F1B order with a flush (PipeDream-Flush / DAPPLE), then a ring
 * all-reduce among each replicated stage's replicas. Pure and deterministic for a seed (no clock, no I/O). Emulation throughout.
 *
 * - A device runs one task at a time: a backward task whenever one is ready (1F1B), else the
 *   next forward, but only while fewer than min(S - k, M) micro-batches it ran forward await
 *   their backward (the activation stash bound of stage k of S).
 * - Stage 0 fetches a micro-batch's input from the source when it admits it; forward outputs go
 *   to the next stage, gradients back to the replica that ran the forward. Micro-batches are
 *   spread over a stage's replicas in proportion to their speed (smooth weighted round robin).
 * - After the last backward of a step, every replicated stage runs a ring all-reduce: 2 (m - 1)
 *   rounds in which each replica sends W / m bytes to its successor; the next step starts when
 *   all are done.
 * - Checkpoints (device-firmware-bridge/stage-state.ts): after every `checkpointEverySteps`-th
 *   step, one replica of every stage (protocol/checkpoint.ts checkpointSender) sends the stage's state (values and Adam's two moments,
 *   3 x its parameter bytes: checkpointBytes) to the hub; the next step does not wait for them,
 *   its transfers queue behind them on the air (or contend with them, uncoordinated).
 * Reported: latency = step time, throughput = samples per second, energy per sample.
 */
import { EventHeap, runEvents } from './event-heap.js'
import { Medium } from './medium.js'
import { runResult } from './energy.js'
import type { SimOptions, SimResult } from './run.js'
import { stageComputeMs, type Hop } from '../cost.js'
import type { Fleet, Network, DeviceProfile, Job, Plan } from '../types.js'
import { stageParamBytes } from '../training.js'
import { seededRandom } from '../../shared/random.js'
import { checkpointSender } from '../../protocol/checkpoint.js'
import { cutBytes } from '../compression.js'
import { COMPUTE_CV } from '../inference.js'

interface Task {
  kind: 'F' | 'B'
  mb: number
  stage: number
}

/**
 * The time of one optimizer step with every figure at its expected value (no jitter): steps
 * start from an empty pipeline (the flush), so every step takes this long. The training cost
 * model uses it for the step time: the 1F1B schedule with the stash bound, transfers queueing on
 * the one medium and the all-reduce rounds interact in ways a closed formula misses (it was
 * 0.78-1.01 of the simulator on two-stage DistilBERT plans).
 */
export function oneStepMs(plan: Plan, job: Job, fleet: Fleet, network: Network): number {
  return simulateTraining(plan, job, fleet, network, { durationS: 1e9, warmupS: 0, seed: 1, computeJitter: 0, maxSteps: 1 }).latencyMs
}

/** Steps between checkpoints when the job names none (as devices do: device-firmware-bridge/training.ts). */
export const DEFAULT_CHECKPOINT_EVERY_STEPS = 10

/** Steps between a training job's checkpoints (0: none but at re-plans, which no replay counts). */
export function checkpointEvery(job: Job): number {
  return job.training?.checkpointEverySteps ?? DEFAULT_CHECKPOINT_EVERY_STEPS
}

/** What one device sends the hub for one stage in a checkpoint: each parameter's values and Adam's two moments, float32. */
export function checkpointBytes(job: Job, layers: readonly [number, number]): number {
  return 3 * stageParamBytes(job, layers)
}

/**
 * The time of the step that starts while the last step's checkpoints go to the hub (jitter-free,
 * as oneStepMs): the checkpoints have the air first.
 */
export function checkpointStepMs(plan: Plan, job: Job, fleet: Fleet, network: Network): number {
  return simulateTraining(plan, job, fleet, network, { durationS: 1e9, warmupS: 0, seed: 1, computeJitter: 0, maxSteps: 1, checkpointFirst: true }).latencyMs
}

/** Steps the at-once step is replayed over (atOnceStepMs). */
export const AT_ONCE_STEPS = 10

/**
 * The ordinary step at once (medium.ts airShared: the stations share the air as DCF does), mean
 * and p95 over AT_ONCE_STEPS steps replayed with the compute jitter the cost model assumes
 * (COMPUTE_CV, a fixed seed: pure) and no checkpoints. On the shared air a step's transfers slow
 * each other where they overlap, and where they overlap moves with the tasks' times: jitter-free,
 * edge-cluster's two equal stages keep in step and their activations and gradients seldom meet
 * (2298 ms); with 5% jitter they do (2419 ms mean, 2551 p95; one at a time on the air the same
 * jitter costs 1%: 2278 -> 2306). BENCHMARKS.md, "Training at once: the shared air in the replay".
 */
export function atOnceStepMs(plan: Plan, job: Job, fleet: Fleet, network: Network): { meanMs: number; p95Ms: number } {
  const ordinary = { ...job, training: { ...job.training!, checkpointEverySteps: 0 } }
  const r = simulateTraining(plan, ordinary, fleet, network, { durationS: 1e9, warmupS: 0, seed: 1, computeJitter: COMPUTE_CV, maxSteps: AT_ONCE_STEPS })
  return { meanMs: r.latencyMs, p95Ms: r.p95LatencyMs }
}

/** What a replay saw: every air hop and every compute task, in seconds from the step's start. */
export interface StepTrace {
  air: Array<{ hop: Hop; label: string; startS: number; endS: number }>
  compute: Array<{ device: string; stage: number; microBatch: number; kind: 'F' | 'B'; startS: number; endS: number }>
}

/** One step replayed without jitter, with its trace (the training schedule is built from it). */
export function traceOneStep(plan: Plan, job: Job, fleet: Fleet, network: Network): { stepMs: number; trace: StepTrace } {
  const trace: StepTrace = { air: [], compute: [] }
  const r = simulateTraining(plan, job, fleet, network, { durationS: 1e9, warmupS: 0, seed: 1, computeJitter: 0, maxSteps: 1, trace })
  return { stepMs: r.latencyMs, trace }
}

/** `checkpointFirst`: the checkpoints of a step before the first go to the hub as it starts. */
export function simulateTraining(plan: Plan, job: Job, fleet: Fleet, network: Network, options: SimOptions & { maxSteps?: number; trace?: StepTrace; checkpointFirst?: boolean }): SimResult {
  const spec = job.training!
  const M = spec.microBatchesPerStep
  const b = plan.microBatch
  const S = plan.stages.length
  const jitterRand = seededRandom(options.seed ^ 0x5bd1e995)
  const gauss = () => Math.sqrt(-2 * Math.log(1 - jitterRand())) * Math.cos(2 * Math.PI * jitterRand())
  // without jitter the factor is exactly 1 (the draws feed nothing else): skip them
  const jitter = options.computeJitter === 0 ? () => 1 : () => Math.max(0.5, 1 + options.computeJitter * gauss())
  const heap = new EventHeap<() => void>()
  let now = 0
  const dev = (id: string) => fleet.devices.get(id)!
  const source = job.sourceDevice ? dev(job.sourceDevice) : null
  const medium = new Medium(heap, () => now, fleet, network)
  if (options.trace) medium.trace = (x) => options.trace!.air.push(x)
  medium.startBackground(options.durationS, seededRandom(options.seed ^ 0x1b873593))

  const fwdMs = plan.stages.map((s) => new Map(s.devices.map((id) => [id, stageComputeMs(job, dev(id), s.layers, b)])))
  const assignment = replicaAssignment(plan, fwdMs, M)

  const state = new Map<string, DeviceState>()
  plan.stages.forEach((s, k) => {
    for (const id of s.devices) state.set(id, { busy: false, inFlight: 0, ready: [], admitted: 0, limit: Math.min(S - k, M) })
  })
  const busyS = new Map<string, number>()
  const stepTimes: number[] = []
  let stepStart = 0
  let doneInStep = 0
  let samplesInWindow = 0
  let samplesStarted = 0
  // stage-0 micro-batches not yet admitted, per replica, in order
  let pendingInputs: number[][] = []

  const { admit } = pipelineTasks({
    plan, job, medium, heap, clock: () => now, source, assignment, state, fwdMs, busyS, jitter, trace: options.trace,
    dev, pendingInputs: () => pendingInputs,
    stepDone: () => ++doneInStep === M && flush(),
  })

  const every = checkpointEvery(job)
  const { checkpoint, sent } = checkpointing(plan, job, medium, dev)
  let flushes = 0
  const flush = () => allReduce(plan, job, fleet, medium, () => {
    flushes++
    if (stepStart >= options.warmupS && now <= options.durationS) {
      stepTimes.push((now - stepStart) * 1000)
      samplesInWindow += M * b
    }
    // (after the last step of a bounded replay they would change nothing it measures)
    if (every > 0 && steps % every === 0 && steps < (options.maxSteps ?? Infinity)) checkpoint()
    startStep()
  })

  let steps = 0
  if (options.checkpointFirst) heap.push(0, checkpoint)
  const startStep = () => {
    if (now >= options.durationS) return
    // after the last step asked for nothing is left to measure: stop (other networks' bursts would
    // otherwise run on to durationS, 1e9 s for oneStepMs)
    if (steps++ >= (options.maxSteps ?? Infinity)) return heap.clear()
    stepStart = now
    doneInStep = 0
    if (now >= options.warmupS) samplesStarted += M * b
    const replicas = plan.stages[0]!.devices
    pendingInputs = replicas.map((id) => assignment[0]!.flatMap((r, mb) => (r === id ? [mb] : [])))
    for (const id of replicas) admit(id)
  }
  heap.push(0, startStep)

  runEvents(heap, options.durationS * 3 + 10, (t) => (now = t))

  const window = options.durationS - options.warmupS
  const result = runResult(plan, job, fleet, busyS, medium, window, now, {
    requests: samplesStarted, completed: samplesInWindow, latenciesMs: stepTimes, throughputRps: samplesInWindow / window,
    energyShares: samplesInWindow, enough: stepTimes.length > 0, samplesMs: [], latencyMsBySource: [],
  })
  return { ...result, checkpointBytesPerStep: flushes ? sent() / flushes : 0 }
}

/** Each stage's state to the hub from one of its replicas (checkpointSender); nothing waits for it. `sent`: bytes so far. */
function checkpointing(plan: Plan, job: Job, medium: Medium, dev: (id: string) => DeviceProfile): { checkpoint: () => void; sent: () => number } {
  let bytes = 0
  const checkpoint = () => plan.stages.forEach((st, k) => {
    bytes += checkpointBytes(job, st.layers)
    medium.transfer(dev(checkpointSender(st.devices)!), null, checkpointBytes(job, st.layers), () => {}, undefined, medium.trace ? `checkpoint@${k}` : '')
  })
  return { checkpoint, sent: () => bytes }
}

interface DeviceState { busy: boolean; inFlight: number; ready: Task[]; admitted: number; limit: number }

interface PipelineContext {
  readonly plan: Plan
  readonly job: Job
  readonly medium: Medium
  readonly heap: EventHeap<() => void>
  readonly clock: () => number
  readonly source: DeviceProfile | null
  readonly assignment: readonly string[][]
  readonly state: ReadonlyMap<string, DeviceState>
  readonly fwdMs: ReadonlyArray<ReadonlyMap<string, number>>
  readonly busyS: Map<string, number>
  readonly jitter: () => number
  readonly trace: StepTrace | undefined
  readonly dev: (id: string) => DeviceProfile
  /** Stage-0 micro-batches not yet admitted, per replica, in order. */
  readonly pendingInputs: () => number[][]
  /** A micro-batch's last backward (stage 0) is done. */
  readonly stepDone: () => void
}

/**
 * The tasks of the 1F1B pipeline on every device: a device runs a backward whenever one is
 * ready, else the next forward while its stash has room; stage 0 admits inputs ahead while it
 * has room; a finished task sends its activation forward or its gradient back.
 */
function pipelineTasks(c: PipelineContext): { admit: (id: string) => void } {
  const { plan, job, medium, heap, source, assignment, state, fwdMs, busyS, jitter, dev } = c
  const b = plan.microBatch
  const S = plan.stages.length
  const dispatch = (id: string) => {
    const st = state.get(id)!
    if (st.busy) return
    let i = firstOf(st.ready, 'B')
    if (i < 0 && st.inFlight < st.limit) i = firstOf(st.ready, 'F')
    if (i < 0) return
    const ready = st.ready
    const task = ready[i]!
    // (splice without its array of the removed)
    for (let j = i + 1; j < ready.length; j++) ready[j - 1] = ready[j]!
    ready.pop()
    const f = fwdMs[task.stage]!.get(id)!
    const o = dev(id).stageOverheadMs
    const s = ((task.kind === 'F' ? f : 2 * (f - o) + o) / 1000) * jitter()
    st.busy = true
    if (task.kind === 'F') st.inFlight++
    busyS.set(id, (busyS.get(id) ?? 0) + s)
    c.trace?.compute.push({ device: id, stage: task.stage, microBatch: task.mb, kind: task.kind, startS: c.clock(), endS: c.clock() + s })
    heap.push(c.clock() + s, () => {
      st.busy = false
      finished(task, id)
      dispatch(id)
    })
  }

  const admit = (id: string) => {
    const st = state.get(id)!
    const queue = c.pendingInputs()[plan.stages[0]!.devices.indexOf(id)]!
    // fetch inputs ahead while the stash has room (counting inputs already on their way)
    while (queue.length && st.admitted < st.limit) {
      const mb = queue.shift()!
      st.admitted++
      medium.transfer(source, dev(id), b * cutBytes(job.model, plan, 0), () => {
        st.ready.push({ kind: 'F', mb, stage: 0 })
        dispatch(id)
      }, undefined, medium.trace ? `input#${mb}` : '')
    }
  }

  const finished = (task: Task, id: string) => {
    const k = task.stage
    if (task.kind === 'F') {
      if (k === S - 1) state.get(id)!.ready.push({ kind: 'B', mb: task.mb, stage: k })
      else {
        const next = assignment[k + 1]![task.mb]!
        medium.transfer(dev(id), dev(next), b * cutBytes(job.model, plan, plan.stages[k + 1]!.layers[0]), () => {
          state.get(next)!.ready.push({ kind: 'F', mb: task.mb, stage: k + 1 })
          dispatch(next)
        }, undefined, medium.trace ? `act@${plan.stages[k + 1]!.layers[0]}#${task.mb}` : '')
      }
      return
    }
    const st = state.get(id)!
    st.inFlight--
    if (k === 0) {
      st.admitted--
      admit(id)
      c.stepDone()
      return
    }
    const prev = assignment[k - 1]![task.mb]!
    medium.transfer(dev(id), dev(prev), b * cutBytes(job.model, plan, plan.stages[k]!.layers[0]), () => {
      state.get(prev)!.ready.push({ kind: 'B', mb: task.mb, stage: k - 1 })
      dispatch(prev)
    }, undefined, medium.trace ? `grad@${plan.stages[k]!.layers[0]}#${task.mb}` : '')
  }

  return { admit }
}

/** The first ready task of a kind, or -1. */
function firstOf(ready: readonly Task[], kind: Task['kind']): number {
  for (let i = 0; i < ready.length; i++) if (ready[i]!.kind === kind) return i
  return -1
}

/** Micro-batch -> replica per stage, by smooth weighted round robin over replica speeds. */
export function replicaAssignment(plan: Plan, fwdMs: ReadonlyArray<ReadonlyMap<string, number>>, M: number): string[][] {
  return plan.stages.map((s, k) => {
    const w = s.devices.map((id) => 1 / fwdMs[k]!.get(id)!)
    const total = w.reduce((a, x) => a + x, 0)
    const credit = w.map(() => 0)
    return Array.from({ length: M }, () => {
      w.forEach((x, r) => (credit[r]! += x))
      const r = credit.indexOf(Math.max(...credit))
      credit[r]! -= total
      return s.devices[r]!
    })
  })
}

/** The ring all-reduce of every replicated stage after a step's flush: 2 (m - 1) rounds of W / m bytes each; `done` when all are. */
function allReduce(plan: Plan, job: Job, fleet: Fleet, medium: Medium, done: () => void): void {
  const dev = (id: string) => fleet.devices.get(id)!
  const rings = plan.stages.filter((s) => s.devices.length > 1)
  let open = rings.length
  const ringDone = () => --open <= 0 && done()
  if (open === 0) return done()
  for (const s of rings) {
    const m = s.devices.length
    const chunk = stageParamBytes(job, s.layers) / m
    const round = (r: number) => {
      if (r === 2 * (m - 1)) return ringDone()
      let left = m
      s.devices.forEach((id, i) => medium.transfer(dev(id), dev(s.devices[(i + 1) % m]!), chunk, () => --left === 0 && round(r + 1), undefined, medium.trace ? `allreduce@${s.layers[0]}:${r}` : ''))
    }
    round(0)
  }
}
