/**
 * Where a tensor goes next (pure). Stage k of a plan reads named tensors (model inputs, or values
 * earlier stages produce) and produces named tensors; a produced tensor goes to every later stage
 * that reads it (a skip connection can jump stages) and, when it is a model output, to the
 * results. A model input goes from the source to every stage that reads it.
 */
import type { PlanPart } from './route.js'

export interface Delivery {
  /** The receiving stage, or null for the results topic. */
  readonly stage: number | null
}

/** The stages after `fromStage` (-1: the source) that read `tensor`, and whether it is a result. */
export function deliveries(part: PlanPart, tensor: string, fromStage: number, modelOutputs: readonly string[]): Delivery[] {
  const out: Delivery[] = []
  part.stages.forEach((st, k) => {
    if (k > fromStage && (st.inputs ?? (k === fromStage + 1 ? [tensor] : [])).includes(tensor)) out.push({ stage: k })
  })
  if (fromStage >= 0 && modelOutputs.includes(tensor)) out.push({ stage: null })
  return out
}

/** The tensors stage k must have before it runs (its model's inputs when the plan does not list them). */
export function stageInputs(part: PlanPart, stage: number, modelInputs: readonly string[]): readonly string[] {
  return part.stages[stage]?.inputs ?? modelInputs
}

/** The name of the hub as a consumer or source on the wire (topics.md; HUB_SOURCE). */
const HUB = 'hub'

/**
 * Where the results of a request from `src` go: the plan's `resultsTo` (`hub` when absent), or
 * `src` itself when the job sends results back to each source. A device id or `hub`.
 */
export function resultsConsumer(plan: { readonly resultsTo?: string | undefined }, src: string): string {
  const to = plan.resultsTo ?? HUB
  return to === 'source' ? src : to
}
