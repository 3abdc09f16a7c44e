/**
 * The hub counts a device's handover only when its checkpoint is whole (src/hub/checkpoints.ts):
 * a verified state of every parameter the device's stages held in the epoch before, taken in the
 * new epoch; the first tensor to come is not enough, and a restore waiting for that handover is
 * answered only then. The checkpoint tensors are encoded and chunked as devices send them.
 */
import { describe, expect, it } from 'vitest'
import { TrainingCheckpoints } from '../../src/hub/checkpoints.js'
import { sendTensor } from '../../src/runtime/send-tensor.js'
import { joined } from '../../src/shared/split-payload.js'
import { encodeCbor } from '../../src/protocol/codec.js'
import { checkpointReq } from '../../src/protocol/checkpoint.js'
import { PROTOCOL_VERSION, topics } from '../../src/protocol/topics.js'

const dims: Record<string, number[]> = { w1: [2], w2: [3, 2] }

function keeper(published: string[], bad: string[]): TrainingCheckpoints {
  return new TrainingCheckpoints({
    publish: async (topic) => void published.push(topic),
    isOnline: () => true,
    paramDims: (_job, name) => dims[name],
    member: () => true,
    handingOver: () => ['old'],
    heldBefore: (_job, id) => (id === 'old' ? new Set(['w1', 'w2']) : new Set()),
    answers: () => true,
    clock: () => 1000,
    onBad: (_job, e) => void bad.push(e),
    chunkBytes: 4096,
    waitMs: 60_000,
  })
}

/** The messages of one parameter's checkpoint tensor from `from`, before step `step` of `epoch`. */
async function checkpointMessages(from: string, name: string, step: number, epoch: number, fill = 0.5, t = 7): Promise<Buffer[]> {
  const n = dims[name]!.reduce((a, b) => a * b, 1)
  const values = new Float32Array(3 * n).fill(fill)
  const out: Buffer[] = []
  const hop = { src: from, plan: 'checkpoint', stage: 0, route: [from], t0: 0 }
  await sendTensor(async (_t, p) => void out.push(joined(p)), topics.trainingState('ft', 'checkpoint'), { name, dtype: 'float32', shape: [3, ...dims[name]!], data: new Uint8Array(values.buffer) }, { req: checkpointReq(step, t), epoch, hop }, 4096)
  return out
}

describe('a handover counts when the checkpoint is whole', () => {
  it('the first tensor of the old holder\'s checkpoint does not answer a waiting restore; the last does', async () => {
    const published: string[] = []
    const bad: string[] = []
    const k = keeper(published, bad)
    const want = { v: PROTOCOL_VERSION, kind: 'want', device: 'new', epoch: 2, step: 5, params: ['w1', 'w2'], have: null }
    k.onMessage(topics.trainingState('ft', 'restore'), encodeCbor(want))
    expect(k.counts.answered).toBe(0)
    for (const m of await checkpointMessages('old', 'w1', 5, 2)) k.onMessage(topics.trainingState('ft', 'checkpoint'), m)
    expect(k.counts.stored).toBe(1)
    // one tensor of two: not handed over, the restore still waits (it would send no state of w2)
    expect(k.counts.handovers).toBe(0)
    expect(k.counts.answered).toBe(0)
    // a state of w2 with values that are not finite is refused: still not whole
    const nan = await checkpointMessages('old', 'w2', 5, 2, Number.NaN)
    for (const m of nan) k.onMessage(topics.trainingState('ft', 'checkpoint'), m)
    expect(k.counts.refused).toBe(1)
    expect(k.counts.answered).toBe(0)
    // (a tensor the reassembler completed once is not taken again: the good one as another send)
    for (const m of await checkpointMessages('old', 'w2', 5, 2, 0.5, 8)) k.onMessage(topics.trainingState('ft', 'checkpoint'), m)
    expect(k.counts.handovers).toBe(1)
    expect(k.counts.answered).toBe(1)
    expect(k.held('ft', 'w2')?.step).toBe(5)
    // the answer and both tensors went to the new holder
    expect(published.filter((t) => t === topics.trainingState('ft', 'restore', 'new'))).toHaveLength(1)
    expect(published.filter((t) => t === topics.trainingState('ft', 'checkpoint', 'new')).length).toBeGreaterThanOrEqual(2)
    expect(k.takenAt('ft', 5)).toEqual(new Map([['old', 2]]))
    await k.stop()
  })

  it('an old holder\'s checkpoint of an earlier epoch is not a handover to this one', async () => {
    const k = keeper([], [])
    for (const name of ['w1', 'w2']) for (const m of await checkpointMessages('old', name, 4, 1)) k.onMessage(topics.trainingState('ft', 'checkpoint'), m)
    k.onMessage(topics.trainingState('ft', 'restore'), encodeCbor({ v: PROTOCOL_VERSION, kind: 'want', device: 'new', epoch: 2, step: 5, params: ['w1', 'w2'], have: null }))
    expect(k.counts.answered).toBe(0)
    await k.stop()
  })
})
