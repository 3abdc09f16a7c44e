/**
 * Runs stage models in a chain with onnxruntime, passing values by name, as devices do across
 * the network. Used to check splits against the whole model and by tools.
 */
import * as ort from 'onnxruntime-node'
import type { StagePlan } from './split.js'
import { DoraError, ErrorCodes } from '../errors.js'

export interface StageSession {
  readonly plan: StagePlan
  readonly session: ort.InferenceSession
}

export async function createStageSessions(
  stages: ReadonlyArray<{ plan: StagePlan; bytes: Uint8Array }>,
  options: ort.InferenceSession.SessionOptions = {},
): Promise<StageSession[]> {
  return Promise.all(stages.map(async (s) => ({ plan: s.plan, session: await ort.InferenceSession.create(s.bytes, options) })))
}

/** Runs every stage in order; returns all values produced (model outputs among them). */
export async function runChain(stages: readonly StageSession[], feeds: Readonly<Record<string, ort.Tensor>>): Promise<Record<string, ort.Tensor>> {
  const values: Record<string, ort.Tensor> = { ...feeds }
  for (const { plan, session } of stages) {
    const stageFeeds: Record<string, ort.Tensor> = {}
    for (const name of plan.inputs) {
      const v = values[name]
      if (!v) throw new DoraError(ErrorCodes.STAGE_INPUT_MISSING, `stage ${plan.index} needs ${name}, which no earlier stage produced`, { stage: plan.index, name })
      stageFeeds[name] = v
    }
    Object.assign(values, await session.run(stageFeeds))
  }
  return values
}

export async function releaseAll(stages: readonly StageSession[]): Promise<void> {
  await Promise.all(stages.map((s) => s.session.release()))
}
