/**
 * Whole tensors go to the executor of their job's kind, and a tensor of a job this device has not
 * heard of yet waits for the job's plan or assignment instead of going to the inference executor
 * (where a training micro-batch was lost without a word and its step stalled on the all-reduce:
 * the joining device's first step in test/device/training-handover.test.ts).
 */
import { describe, expect, it } from 'vitest'
import { TensorRouter } from '../../device-firmware-bridge/tensor-router.js'
import { JobEpochs } from '../../device-firmware-bridge/job-epochs.js'
import type { TensorSink } from '../../device-firmware-bridge/runtime.js'
import { PROTOCOL_VERSION } from '../../src/protocol/topics.js'
import type { AssignmentPayload, PlanEpochPayload } from '../../src/protocol/payloads.js'
import type { Tensor } from '../../src/protocol/reassembly.js'

const ref = (n: number) => ({ sha256: n.toString(16).padStart(64, '0'), bytes: 100, chunks: 1 })

function assignment(jobId: string, training: boolean): AssignmentPayload {
  return {
    v: PROTOCOL_VERSION, jobId, epoch: 2, activateAtMs: 0, slots: [],
    stages: [{ planId: 'p', stage: 0, layers: [0, 1], nodes: [0, 4], weight: 1, model: ref(1), ...(training ? { backward: ref(2), params: ['w'] } : {}), flops: { conv: 0, matmul: 1e6, elementwise: 0 } }],
  }
}

const tensor = (req: string, bytes: number): Tensor => ({ req, name: 'x', dtype: 'uint8', shape: [bytes], epoch: 2, data: new Uint8Array(bytes) })

function router(epochs: JobEpochs, o: { timeoutMs?: number; maxTensors?: number; maxBytes?: number } = {}) {
  let now = 1_000
  const got: Array<{ to: string; jobId: string; req: string }> = []
  const refused: Array<{ to: string; why: string }> = []
  const errors: string[] = []
  const sink = (to: string): TensorSink => ({ accept: (jobId, t) => got.push({ to, jobId, req: t.req }), reject: (_, why) => refused.push({ to, why }) })
  const r = new TensorRouter({
    kindOf: (jobId) => epochs.kindOf(jobId), training: sink('training'), inference: sink('inference'),
    timeoutMs: o.timeoutMs ?? 60_000, clock: () => now, onError: (m) => errors.push(m),
    ...(o.maxTensors ? { maxTensors: o.maxTensors } : {}), ...(o.maxBytes ? { maxBytes: o.maxBytes } : {}),
  })
  return { r, got, refused, errors, advance: (ms: number) => (now += ms) }
}

describe('tensor router', () => {
  it('holds tensors of a job not known yet, then hands them in order to the training executor once its assignment says it trains', () => {
    const epochs = new JobEpochs()
    const { r, got, errors } = router(epochs)
    r.accept('ft', tensor('3.0', 4))
    r.accept('ft', tensor('3.1', 4))
    expect(got).toEqual([])
    expect(r.room.tensors).toBe(2)
    epochs.assign(assignment('ft', true))
    r.release()
    expect(got).toEqual([{ to: 'training', jobId: 'ft', req: '3.0' }, { to: 'training', jobId: 'ft', req: '3.1' }])
    expect(r.room.tensors).toBe(0)
    expect(r.room.bytes).toBe(0)
    // known now: straight through, and its refusals go to the training executor
    r.accept('ft', tensor('3.2', 4))
    r.reject('ft', 'bad chunk')
    expect(got.at(-1)).toEqual({ to: 'training', jobId: 'ft', req: '3.2' })
    expect(errors).toEqual([])
  })

  it('hands an inference job\'s tensors to the inference executor, and keeps holding those of jobs still unknown', () => {
    const epochs = new JobEpochs()
    const { r, got, refused } = router(epochs)
    r.accept('serve', tensor('a', 1))
    r.accept('other', tensor('b', 1))
    r.reject('other', 'a bad chunk of a job not known: the inference executor counts it')
    epochs.assign(assignment('serve', false))
    r.release()
    expect(got).toEqual([{ to: 'inference', jobId: 'serve', req: 'a' }])
    expect(refused).toEqual([{ to: 'inference', why: 'a bad chunk of a job not known: the inference executor counts it' }])
    expect(r.room.tensors).toBe(1)
  })

  it('the job\'s newest plan decides over the assignment', () => {
    const epochs = new JobEpochs()
    expect(epochs.kindOf('ft')).toBeNull()
    epochs.assign(assignment('ft', false))
    expect(epochs.kindOf('ft')).toBe('inference')
    const plan = { v: PROTOCOL_VERSION, jobId: 'ft', epoch: 2, activateAtMs: 0, reason: 't', emulated: true, parts: [], predicted: { latencyMs: 1, energyJPerRequest: 1 }, training: { microBatchesPerStep: 4 } }
    epochs.addPlan('ft', plan as unknown as PlanEpochPayload)
    expect(epochs.kindOf('ft')).toBe('training')
  })

  it('drops what waited past the timeout, with an error, and never hands it on later', () => {
    const epochs = new JobEpochs()
    const { r, got, errors, advance } = router(epochs, { timeoutMs: 5_000 })
    r.accept('ft', tensor('old', 1))
    advance(4_000)
    r.accept('ft', tensor('new', 1))
    advance(1_000)
    r.sweep()
    expect(errors).toEqual(['job ft: 1 tensor(s) came and no plan or assignment of the job followed within 5000 ms; dropped'])
    epochs.assign(assignment('ft', true))
    r.release()
    expect(got).toEqual([{ to: 'training', jobId: 'ft', req: 'new' }])
  })

  it('holds at most its bound of tensors and bytes; what passes it is refused with a reason, what it holds stays', () => {
    const epochs = new JobEpochs()
    const { r, got, refused } = router(epochs, { maxTensors: 2, maxBytes: 10 })
    r.accept('ft', tensor('a', 4))
    r.accept('ft', tensor('b', 7))
    r.accept('ft', tensor('c', 4))
    r.accept('ft', tensor('d', 2))
    expect(r.room.tensors).toBe(2)
    expect(refused.map((x) => x.why)).toEqual([
      'tensor x of b dropped: 4 bytes already held, 7 more would pass the limit of 10 (its job is not known here yet)',
      'tensor x of d dropped: 2 tensors already held (the limit) (its job is not known here yet)',
    ])
    epochs.assign(assignment('ft', true))
    r.release()
    expect(got.map((g) => g.req)).toEqual(['a', 'c'])
  })
})
