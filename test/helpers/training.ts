/** One micro-batch through a chain of training stages in this process (the reference the distributed runs must equal). */
import type * as ort from 'onnxruntime-node'
import type { StageTrainer } from '../../src/runtime/trainer.js'

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
