/**
 * What a device keeps for one training stage of one plan of one epoch (training.ts): the
 * micro-batches' inputs and incoming gradients until they are whole, the forward stash until
 * the backward, the per-step counts, and the queues of ready forwards and backwards.
 */
import type * as ort from 'onnxruntime-node'
import type { Hop } from '../src/protocol/chunks.js'
import type { Tensor } from '../src/protocol/reassembly.js'
import type { AssignmentPayload, PlanEpochPayload } from '../src/protocol/payloads.js'
import { deliveries, stageInputs } from '../src/runtime/flow.js'
import { toOrt } from '../src/runtime/tensors.js'

export type StageAssignment = AssignmentPayload['stages'][number]

export interface StepState {
  expected: number | null
  forwards: number
  backwards: number
  lossSum: number
  lossCount: number
  finishing: boolean
}

/** One stage of one plan of one epoch on this device. */
export interface StageRun {
  readonly key: string
  readonly jobId: string
  readonly epoch: number
  readonly planId: string
  readonly stage: number
  readonly stages: number
  readonly assignment: StageAssignment
  readonly plan: PlanEpochPayload
  readonly part: PlanEpochPayload['parts'][number]
  /** Per output of the stage: how many later stages read it (each sends its gradient back). */
  readonly readers: ReadonlyMap<string, number>
  readonly inputs: Map<string, { hop: Hop; tensors: Map<string, Tensor> }>
  readonly grads: Map<string, Map<string, { sum: Float32Array; shape: number[]; count: number }>>
  readonly saved: Map<string, { hop: Hop; saved: Map<string, ort.Tensor> }>
  readonly steps: Map<number, StepState>
  readonly readyForward: string[]
  readonly readyBackward: string[]
}

export const stepOf = (req: string): number => Number(req.split('.')[0])

export function newStageRun(jobId: string, epoch: number, plan: PlanEpochPayload, part: PlanEpochPayload['parts'][number], stage: number, assignment: StageAssignment): StageRun {
  const readers = new Map((part.stages[stage]?.outputs ?? []).map((o) => [o, deliveries(part, o, stage, []).filter((x) => x.stage !== null).length]))
  return {
    key: `${jobId}/${epoch}/${part.planId}/${stage}`, jobId, epoch, planId: part.planId, stage, stages: part.stages.length, assignment, plan, part, readers,
    inputs: new Map(), grads: new Map(), saved: new Map(), steps: new Map(), readyForward: [], readyBackward: [],
  }
}

export function newStepState(): StepState {
  return { expected: null, forwards: 0, backwards: 0, lossSum: 0, lossCount: 0, finishing: false }
}

/** True when every later stage that reads an output of the stage has sent its gradient for `req`. */
export function gradsWhole(run: StageRun, req: string): boolean {
  const g = run.grads.get(req)
  for (const [o, readers] of run.readers) if (readers && (g?.get(o)?.count ?? 0) < readers) return false
  return true
}

/**
 * Places an input or a gradient (`grad:{o}`) of micro-batch `t.req`, queueing its forward or
 * backward once whole. Returns why it was refused, or null.
 */
export function placeTensor(run: StageRun, t: Tensor): string | null {
  if (t.name.startsWith('grad:')) {
    const o = t.name.slice(5)
    if (!run.readers.get(o)) return `gradient of ${o} for stage ${run.stage}, which sends ${o} to no later stage`
    let g = run.grads.get(t.req)
    if (!g) run.grads.set(t.req, (g = new Map()))
    const data = toOrt(t).data as Float32Array
    const have = g.get(o)
    if (!have) g.set(o, { sum: Float32Array.from(data), shape: [...t.shape], count: 1 })
    else {
      for (let i = 0; i < data.length; i++) have.sum[i]! += data[i]!
      have.count++
    }
    if (gradsWhole(run, t.req) && run.saved.has(t.req) && !run.readyBackward.includes(t.req)) run.readyBackward.push(t.req)
    return null
  }
  let w = run.inputs.get(t.req)
  if (!w) run.inputs.set(t.req, (w = { hop: t.hop!, tensors: new Map() }))
  w.tensors.set(t.name, t)
  const needs = stageInputs(run.part, run.stage, (run.plan.inputs ?? []).map((i) => i.name))
  if (needs.every((n) => w.tensors.has(n)) && !run.readyForward.includes(t.req)) run.readyForward.push(t.req)
  return null
}
