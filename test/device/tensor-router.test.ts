/**
 * Tensor messages go to the executor of their job's kind, and a message of a job this device has
 * not heard of yet waits for the job's plan or assignment instead of going to the inference
 * executor (where a training micro-batch was lost without a word, and its step stalled on the
 * all-reduce: the joining device's first step in test/device/training-handover.test.ts).
 */
import { describe, expect, it } from 'vitest'
import { TensorRouter } from '../../device-firmware-bridge/tensor-router.js'
import { JobEpochs } from '../../device-firmware-bridge/job-epochs.js'
import { PROTOCOL_VERSION } from '../../src/protocol/topics.js'
import type { AssignmentPayload } from '../../src/protocol/payloads.js'

const ref = (n: number) => ({ sha256: n.toString(16).padStart(64, '0'), bytes: 100, chunks: 1 })

function assignment(jobId: string, training: boolean): AssignmentPayload {
  return {
    v: PROTOCOL_VERSION, jobId, epoch: 2, activateAtMs: 0, slots: [],
    stages: [{ planId: 'p', stage: 0, layers: [0, 1], nodes: [0, 4], weight: 1, model: ref(1), ...(training ? { backward: ref(2), params: ['w'] } : {}), flops: { conv: 0, matmul: 1e6, elementwise: 0 } }],
  }
}

function router(epochs: JobEpochs, o: { timeoutMs?: number; maxMessages?: number; maxBytes?: number } = {}) {
  let now = 1_000
  const got: Array<{ to: string; jobId: string; bytes: number[] }> = []
  const errors: string[] = []
  const r = new TensorRouter({
    kindOf: (jobId) => epochs.kindOf(jobId),
    training: (jobId, p) => got.push({ to: 'training', jobId, bytes: [...p] }),
    inference: (jobId, p) => got.push({ to: 'inference', jobId, bytes: [...p] }),
    timeoutMs: o.timeoutMs ?? 60_000, clock: () => now, onError: (m) => errors.push(m),
    ...(o.maxMessages ? { maxMessages: o.maxMessages } : {}), ...(o.maxBytes ? { maxBytes: o.maxBytes } : {}),
  })
  return { r, got, errors, advance: (ms: number) => (now += ms) }
}

describe('tensor router', () => {
  it('holds messages of a job not known yet, then routes them in order to the training executor once its assignment says it trains', () => {
    const epochs = new JobEpochs()
    const { r, got, errors } = router(epochs)
    // the client lends its payloads for the call only: the router keeps a copy
    const lent = Buffer.from([1, 2, 3])
    r.onMessage('ft', lent)
    lent.fill(9)
    r.onMessage('ft', Buffer.from([4, 5]))
    expect(got).toEqual([])
    expect(r.heldMessages).toBe(2)
    epochs.assign(assignment('ft', true))
    r.release()
    expect(got).toEqual([{ to: 'training', jobId: 'ft', bytes: [1, 2, 3] }, { to: 'training', jobId: 'ft', bytes: [4, 5] }])
    expect(r.heldMessages).toBe(0)
    // known now: straight through
    r.onMessage('ft', Buffer.from([6]))
    expect(got.at(-1)).toEqual({ to: 'training', jobId: 'ft', bytes: [6] })
    expect(errors).toEqual([])
  })

  it('routes an inference job\'s messages to the inference executor, and keeps holding those of jobs still unknown', () => {
    const epochs = new JobEpochs()
    const { r, got } = router(epochs)
    r.onMessage('serve', Buffer.from([1]))
    r.onMessage('other', Buffer.from([2]))
    epochs.assign(assignment('serve', false))
    r.release()
    expect(got).toEqual([{ to: 'inference', jobId: 'serve', bytes: [1] }])
    expect(r.heldMessages).toBe(1)
  })

  it('the job\'s newest plan decides over the assignment', () => {
    const epochs = new JobEpochs()
    expect(epochs.kindOf('ft')).toBeNull()
    epochs.assign(assignment('ft', false))
    expect(epochs.kindOf('ft')).toBe('inference')
    epochs.addPlan('ft', { v: PROTOCOL_VERSION, jobId: 'ft', epoch: 2, activateAtMs: 0, reason: 't', emulated: true, parts: [], predicted: { latencyMs: 1, energyJPerRequest: 1 }, training: { microBatchesPerStep: 4 } } as unknown as Parameters<JobEpochs['addPlan']>[1])
    expect(epochs.kindOf('ft')).toBe('training')
  })

  it('drops what waited past the timeout, with an error, and never routes it later', () => {
    const epochs = new JobEpochs()
    const { r, got, errors, advance } = router(epochs, { timeoutMs: 5_000 })
    r.onMessage('ft', Buffer.from([1]))
    advance(4_000)
    r.onMessage('ft', Buffer.from([2]))
    advance(1_000)
    r.sweep()
    expect(errors).toEqual(['job ft: 1 tensor message(s) came and no plan or assignment of the job followed within 5000 ms; dropped'])
    epochs.assign(assignment('ft', true))
    r.release()
    expect(got).toEqual([{ to: 'training', jobId: 'ft', bytes: [2] }])
  })

  it('holds at most its bound of messages and bytes; what passes it is dropped with an error, what it holds stays', () => {
    const epochs = new JobEpochs()
    const { r, got, errors } = router(epochs, { maxMessages: 2, maxBytes: 10 })
    r.onMessage('ft', Buffer.alloc(4, 1))
    r.onMessage('ft', Buffer.alloc(7, 2))
    r.onMessage('ft', Buffer.alloc(4, 3))
    r.onMessage('ft', Buffer.alloc(2, 4))
    expect(r.heldMessages).toBe(2)
    expect(errors).toHaveLength(2)
    expect(errors[0]).toMatch(/job ft: a tensor message came before the job's plan and was dropped: 4 bytes already held/)
    expect(errors[1]).toMatch(/2 tensors already held/)
    epochs.assign(assignment('ft', true))
    r.release()
    expect(got.map((g) => g.bytes)).toEqual([[1, 1, 1, 1], [3, 3, 3, 3]])
  })
})
