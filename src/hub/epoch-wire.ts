/**
 * An adapter's plan epoch as it goes on the wire (pure): the plan payload for
 * `dora/v1/jobs/{job}/plan` and each device's assignment for `dora/v1/devices/{id}/assignment`
 * (topics.md), both validated against their schemas. Layers map to ONNX node ranges through the
 * model's node bounds; stage models are named by the references the model store published.
 */
import type { PlanEpoch } from '../planner/adapt/adapter.js'
import { stageComputeMs, stageFlops } from '../planner/cost.js'
import { jobSources, type Fleet, type Job, type ModelProfile, type Plan } from '../planner/types.js'
import { cutCodec } from '../planner/compression.js'
import type { ActivationCodec } from '../protocol/activation-codec.js'
import { HUB_SOURCE, PROTOCOL_VERSION } from '../protocol/topics.js'
import { assignmentSchema, planEpochSchema, type AssignmentPayload, type PlanEpochPayload, type TensorSpec } from '../protocol/payloads.js'
import type { StageModelRef } from './model-store.js'

export type NodeRange = [number, number]

/** The ONNX node range of a layer range, when the model has node bounds. */
export function nodesOf(job: Job, layers: readonly [number, number]): NodeRange | null {
  const b = job.model.nodeBounds
  return b ? [b[layers[0]]!, b[layers[1]]!] : null
}

export interface PlanWireInput {
  readonly jobId: string
  readonly job: Job
  readonly epoch: PlanEpoch
  readonly fleet: Fleet
  /** The model's inputs and outputs (model store io()). */
  readonly io: { inputs: TensorSpec[]; outputs: string[] }
  /** The tensors a stage of this node range reads and produces. */
  readonly stageIo: (nodes: NodeRange) => { inputs: readonly string[]; outputs: readonly string[] }
  /** Devices that held stages in the epoch before and are gone from the fleet. */
  readonly departed: readonly string[]
}

export function planEpochPayload(x: PlanWireInput): PlanEpochPayload {
  const { job, epoch: e, fleet } = x
  const io = (n: NodeRange | null) => {
    if (!n) return {}
    const st = x.stageIo(n)
    return { inputs: [...st.inputs], outputs: [...st.outputs] }
  }
  return planEpochSchema.parse({
    v: PROTOCOL_VERSION,
    jobId: x.jobId,
    epoch: e.epoch,
    activateAtMs: e.activateAtMs,
    parts: e.parts.map((p) => ({
      planId: p.plan.id, weight: p.weight, microBatch: p.plan.microBatch,
      stages: p.plan.stages.map((s) => ({ layers: [...s.layers], nodes: nodesOf(job, s.layers), ...io(nodesOf(job, s.layers)), ...codecAt(job.model, p.plan, s.layers[1]), devices: [...s.devices], shares: speedShares(job, fleet, s.layers, s.devices) })),
      schedule: p.schedule ? { periodMs: p.schedule.periodMs, cycleMs: p.schedule.cycleMs, microBatchesPerCycle: p.schedule.microBatchesPerCycle, guardMs: p.schedule.guardMs, ...(p.schedule.routes.length ? { turns: p.schedule.routes.map((r) => r.source ?? HUB_SOURCE) } : {}) } : null,
      ...(p.modes ? { transfers: p.modes.mode } : {}),
    })),
    // an overloaded plan (a baseline run as is) predicts no finite latency: the largest we carry
    predicted: { latencyMs: Math.min(e.predicted.latencyMs, 1e9), ...(Number.isFinite(e.predicted.p95LatencyMs) ? { p95LatencyMs: e.predicted.p95LatencyMs } : {}), energyJPerRequest: e.predicted.energyJPerRequest },
    ...x.io,
    sources: jobSources(job).map((s) => s.device ?? HUB_SOURCE),
    resultsTo: job.resultsTo === undefined || job.resultsTo === 'source' ? 'source' : (job.resultsTo.device ?? HUB_SOURCE),
    departed: [...x.departed],
    reason: e.reason.slice(0, 1024),
    emulated: Object.keys(e.assignments).some((id) => fleet.devices.get(id)?.emulated ?? false),
    ...(job.training ? { training: { microBatchesPerStep: job.training.microBatchesPerStep, ...(job.training.checkpointEverySteps !== undefined ? { checkpointEverySteps: job.training.checkpointEverySteps } : {}) } } : {}),
  })
}

export interface AssignmentWireInput {
  readonly jobId: string
  readonly job: Job
  readonly epoch: PlanEpoch
  readonly deviceId: string
  /** Stage model references by node range key (`a-b`). */
  readonly refs: ReadonlyMap<string, StageModelRef>
  /** A training stage's backward model and parameter names, by node range key. */
  readonly training: ReadonlyMap<string, { backward: StageModelRef; params: string[] }>
}

/** One device's part of an epoch (empty stages: it holds none now). */
export function assignmentPayload(x: AssignmentWireInput): AssignmentPayload {
  const { epoch: e, deviceId: id } = x
  const weightOf = new Map(e.parts.map((p) => [p.plan.id, p.weight]))
  return assignmentSchema.parse({
    v: PROTOCOL_VERSION,
    jobId: x.jobId,
    epoch: e.epoch,
    activateAtMs: e.activateAtMs,
    stages: (e.assignments[id] ?? []).map((a) => {
      const n = nodesOf(x.job, a.layers)
      const t = n ? x.training.get(n.join('-')) : undefined
      return { planId: a.planId, stage: a.stage, layers: [...a.layers], nodes: n, weight: weightOf.get(a.planId) ?? 0, model: n ? x.refs.get(n.join('-')) ?? null : null, ...(t ? t : {}), flops: stageFlops(x.job, a.layers) }
    }),
    // sending slots only for plans that run in slots (the transfer mode predicted faster)
    slots: e.parts.flatMap((p) => (p.modes && p.modes.mode !== 'slots' ? [] : p.schedule?.byDevice[id] ?? []).map((s) => ({ planId: p.plan.id, ...s }))),
  })
}

/** Each replica's share of a stage's requests: its speed over the stage's (as the cost model spreads them). */
export function speedShares(job: Job, fleet: Fleet, layers: readonly [number, number], devices: readonly string[]): number[] {
  const speed = devices.map((id) => 1 / stageComputeMs(job, fleet.devices.get(id)!, layers, 1))
  const total = speed.reduce((a, x) => a + x, 0)
  return speed.map((x) => x / total)
}

/** How a stage's outputs travel when it ends at `boundary` (the planner's choice for that cut). */
function codecAt(model: ModelProfile, plan: Plan, boundary: number): { codec?: ActivationCodec } {
  const c = boundary < model.layers.length ? cutCodec(model, plan, boundary) : null
  return c ? { codec: c } : {}
}
