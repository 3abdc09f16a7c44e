/** One micro-batch through a chain of training stages in this process (the reference the distributed runs must equal). */
import type * as ort from 'onnxruntime-node'
import { StageTrainer } from '../../src/runtime/trainer.js'
import type { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import type { PlanEpochPayload } from '../../src/protocol/payloads.js'
import { randomWireInputs } from '../../src/runtime/inputs.js'
import { toOrt } from '../../src/runtime/tensors.js'

/** Forward through every stage, then backward; returns the loss (parameter gradients stay summed in the trainers). */
export async function chainStep(chain: readonly StageTrainer[], feeds: ReadonlyMap<string, ort.Tensor>): Promise<number> {
  const values = new Map(feeds)
  const saved: Array<Map<string, ort.Tensor>> = []
  let loss = 0
  for (const t of chain) {
    const r = await t.forward(values)
    for (const [k, v] of r.outputs) values.set(k, v)
    saved.push(r.saved)
    loss += r.loss ?? 0
  }
  const grads = new Map<string, ort.Tensor>()
  for (let k = chain.length - 1; k >= 0; k--) {
    for (const [name, g] of await chain[k]!.backward(saved[k]!, grads)) grads.set(name, g)
  }
  return loss
}

/**
 * The same steps of job `jobId` in one process, from the stage model files the `agents` hold
 * (fetched through `a`): each step's mean loss over its `M` micro-batches.
 */
export async function referenceLosses(agents: readonly DeviceAgent[], a: DeviceAgent, jobId: string, plan: PlanEpochPayload, steps: number, M: number): Promise<number[]> {
  const part = plan.parts[0]!
  const holder = (k: number) => agents.find((x) => x.assignments.get(jobId)!.stages.some((s) => s.stage === k))!
  const chain: StageTrainer[] = []
  for (let k = 0; k < part.stages.length; k++) {
    const s = holder(k).assignments.get(jobId)!.stages.find((x) => x.stage === k)!
    chain.push(await StageTrainer.create(await a.models.get(s.model!), await a.models.get(s.backward!), s.params!))
  }
  const specs = (plan.inputs ?? []).map((s) => ({ ...s, shape: [s.shape[0]! * part.microBatch, ...s.shape.slice(1)] }))
  const losses: number[] = []
  for (let step = 0; step < steps; step++) {
    let loss = 0
    for (let i = 0; i < M; i++) {
      loss += await chainStep(chain, new Map<string, ort.Tensor>(randomWireInputs(specs, step * M + i).map((t) => [t.name, toOrt(t)])))
    }
    for (const t of chain) t.apply(M)
    losses.push(loss / M)
  }
  for (const t of chain) await t.release()
  return losses
}

/** Test teardown: every agent's training stopped, then the agents (emptied from `agents`), then the hub. */
export async function stopTrainingFleet(agents: DeviceAgent[], hub: { stop(): Promise<void> } | null): Promise<void> {
  for (const a of agents) await a.stopTraining()
  for (const a of agents.splice(0)) await a.stop()
  await hub?.stop()
}
