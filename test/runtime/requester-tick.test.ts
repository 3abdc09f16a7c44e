/**
 * The request source's re-sending pass (Requester.tick, run every 250 ms by HubSource and the
 * device agent) never runs twice at once. A pass awaits each re-send, so on a slow link, or with
 * a broker that is away, it outlasts the period; a second pass started meanwhile went over the
 * same requests: a request re-sent while its previous send was still going out, on a stale epoch
 * and then again on the new one. Here each send takes 150 ms (the publish the requester is given:
 * what is tested is the pass, not the wire) and the epochs change under a pass.
 */
import { describe, expect, it } from 'vitest'
import { Requester } from '../../src/runtime/requester.js'
import { planEpochSchema, type PlanEpochPayload } from '../../src/protocol/payloads.js'
import { decodeTensorMessage } from '../../src/protocol/chunk-batch.js'
import { joined } from '../../src/shared/split-payload.js'
import { topics } from '../../src/protocol/topics.js'
import { encodeCbor } from '../../src/protocol/codec.js'

const epoch = (n: number, device: string, departed: string[]): PlanEpochPayload => planEpochSchema.parse({
  v: 1, jobId: 'j', epoch: n, activateAtMs: 0, departed,
  parts: [{ planId: `p${n}`, weight: 1, microBatch: 1, stages: [{ layers: [0, 1], nodes: null, devices: [device] }], schedule: null }],
  predicted: { latencyMs: 10, energyJPerRequest: 0 }, reason: 'test', emulated: true, inputs: [{ name: 'x', dtype: 'float32', shape: [1, 4] }], outputs: ['y'],
})

const SEND_MS = 150

describe('Requester.tick', () => {
  it('runs one pass at a time: no request is re-sent while its last send is going out, and a call meanwhile gets one more pass on the newest epoch', async () => {
    const sends: Array<{ id: string; to: string }> = []
    const going = new Map<string, number>()
    let overlaps = 0
    const r = new Requester({
      src: 'hub', jobId: 'j', chunkBytes: 1 << 20, clock: () => Date.now(), timeoutMs: 3_600_000,
      inputs: () => [{ name: 'x', dtype: 'float32', shape: [1, 4], data: new Uint8Array(16) }],
      publish: async (topic, payload) => {
        const m = decodeTensorMessage(joined(payload))
        const c = m.ok ? m.chunks[0] : null
        const id = c?.ok ? c.chunk.req.slice(0, c.chunk.req.lastIndexOf('.')) : '?'
        sends.push({ id, to: ['A', 'B', 'C'].find((d) => topic === topics.tensors('j', d)) ?? topic })
        if (going.get(id)) overlaps++
        going.set(id, (going.get(id) ?? 0) + 1)
        await new Promise((res) => setTimeout(res, SEND_MS))
        going.set(id, going.get(id)! - 1)
      },
    })
    r.setPlan(epoch(1, 'A', []))
    await r.send()
    await r.send()
    // A leaves: the first pass re-sends both requests on epoch 2 (B), one after the other
    r.setPlan(epoch(2, 'B', ['A']))
    const first = r.tick()
    await new Promise((res) => setTimeout(res, SEND_MS / 3))
    // B leaves while the first pass is sending; the next period's call comes
    r.setPlan(epoch(3, 'C', ['B']))
    const second = r.tick()
    await Promise.all([first, second])
    const resends = sends.slice(2)
    expect(overlaps).toBe(0)
    // every request ends on the newest epoch; none went out on an epoch older than the newest known when it was sent
    const last = new Map(resends.map((s) => [s.id, s.to]))
    expect([...last.values()]).toEqual(['C', 'C'])
    expect(resends.map((s) => `${s.id}->${s.to}`)).toEqual(['hub.0->B', 'hub.1->C', 'hub.0->C'])
    expect(r.stats.resent).toBe(3)
  })

  it('does not re-send a request answered while the pass was sending another', async () => {
    const sends: string[] = []
    let answerDuring: (() => void) | null = null
    const r = new Requester({
      src: 'hub', jobId: 'j', chunkBytes: 1 << 20, clock: () => Date.now(), timeoutMs: 3_600_000,
      inputs: () => [{ name: 'x', dtype: 'float32', shape: [1, 4], data: new Uint8Array(16) }],
      publish: async (_topic, payload) => {
        const m = decodeTensorMessage(joined(payload))
        const c = m.ok ? m.chunks[0] : null
        sends.push(c?.ok ? c.chunk.req : '?')
        answerDuring?.()
        answerDuring = null
        await new Promise((res) => setTimeout(res, 20))
      },
    })
    r.setPlan(epoch(1, 'A', []))
    await r.send()
    await r.send()
    r.setPlan(epoch(2, 'B', ['A']))
    // while hub.0 is re-sent, hub.1's result (of its first attempt, on epoch 1) comes back: a receipt
    answerDuring = () => r.onReceipt(encodeCbor({ v: 1, req: 'hub.1.0', epoch: 1, outputs: ['y'], to: 'hub' }))
    await r.tick()
    expect(r.stats.completed).toBe(1)
    expect(sends.slice(2)).toEqual(['hub.0.1'])
  })

  it('refuses a receipt no sender makes (a packet of tiny CBOR items) unread, and still takes a real one', async () => {
    const errors: string[] = []
    const r = new Requester({
      src: 'hub', jobId: 'j', chunkBytes: 1 << 20, clock: () => Date.now(), timeoutMs: 3_600_000, onError: (m) => errors.push(m),
      inputs: () => [{ name: 'x', dtype: 'float32', shape: [1, 4], data: new Uint8Array(16) }],
      publish: async () => undefined,
    })
    r.setPlan(epoch(1, 'A', []))
    await r.send()
    r.onReceipt(Buffer.concat([Buffer.from([0x9a, 0x00, 0x0f, 0x42, 0x40]), Buffer.alloc(1_000_000, 0xa0)]))
    expect(errors).toEqual([expect.stringMatching(/^receipt: receipt over its budget: more than 139 CBOR items \(refused unread\)/)])
    // the largest receipt (64 outputs) passes the check (for a request this source does not have: ignored)
    r.onReceipt(encodeCbor({ v: 1, req: 'hub.9.0', epoch: 1, outputs: Array.from({ length: 64 }, (_, i) => 'y'.repeat(256 - String(i).length) + i), to: 'x'.repeat(128) }))
    r.onReceipt(encodeCbor({ v: 1, req: 'hub.0.0', epoch: 1, outputs: ['y'], to: 'hub' }))
    expect(errors).toHaveLength(1)
    expect(r.stats.completed).toBe(1)
  })
})
