/**
 * Ring all-reduce (sum) of a stage's gradient vector among its replicas (training.ts):
 * reduce-scatter then all-gather, 2 (m - 1) rounds, each sending 1/m of the vector to the next
 * replica (tensors `allreduce:{rs|ag}:{round}`). The transport is the caller's; the mailbox
 * keeps parts that arrive before their round asks for them, bounded.
 */
import type { Tensor } from '../src/protocol/reassembly.js'
import { toOrt } from '../src/runtime/tensors.js'
import { DoraError, ErrorCodes } from '../src/errors.js'

/** All-reduce parts held for a later exchange, at most. */
const MAX_MAILBOX = 256

export interface RingLink {
  /** Sends `values` as tensor `name` to the next replica. */
  send(name: string, values: Float32Array): Promise<void>
  /** The tensor `name` from the previous replica. */
  receive(name: string): Promise<Tensor>
}

/** Sums `flat` over the `m` replicas in place; this one is replica `r` of the ring. */
export async function ringAllReduce(flat: Float32Array, m: number, r: number, link: RingLink): Promise<void> {
  const seg = (i: number): [number, number] => {
    const j = ((i % m) + m) % m
    return [Math.floor((j * flat.length) / m), Math.floor(((j + 1) * flat.length) / m)]
  }
  const exchange = async (name: string, sendSeg: number, recvSeg: number, combine: (into: Float32Array, from: Float32Array) => void) => {
    const [a, b] = seg(sendSeg)
    const [, got] = await Promise.all([link.send(name, flat.slice(a, b)), link.receive(name)])
    const [c, e] = seg(recvSeg)
    const data = toOrt(got).data as Float32Array
    if (data.length !== e - c) throw new DoraError(ErrorCodes.ALLREDUCE, `all-reduce ${name}: got ${data.length} values, expected ${e - c}`)
    combine(flat.subarray(c, e), data)
  }
  for (let t = 0; t < m - 1; t++) {
    await exchange(`allreduce:rs:${t}`, r - t, r - t - 1, (into, from) => {
      for (let i = 0; i < into.length; i++) into[i]! += from[i]!
    })
  }
  for (let t = 0; t < m - 1; t++) {
    await exchange(`allreduce:ag:${t}`, r + 1 - t, r - t, (into, from) => into.set(from))
  }
}

/** All-reduce parts by key: handed to the exchange waiting for them, else held (bounded) until one asks. */
export class AllReduceMailbox {
  private readonly held = new Map<string, Tensor>()
  private readonly waiters = new Map<string, (t: Tensor) => void>()

  constructor(private readonly timeoutMs: number) {}

  deliver(key: string, t: Tensor): void {
    const w = this.waiters.get(key)
    if (w) {
      this.waiters.delete(key)
      return w(t)
    }
    this.held.set(key, t)
    // parts no exchange asked for within the bound go, oldest first
    if (this.held.size > MAX_MAILBOX) this.held.delete(this.held.keys().next().value!)
  }

  receive(key: string): Promise<Tensor> {
    const have = this.held.get(key)
    if (have) {
      this.held.delete(key)
      return Promise.resolve(have)
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key)
        reject(new DoraError(ErrorCodes.ALLREDUCE, `all-reduce: ${key} did not arrive within ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      this.waiters.set(key, (t) => {
        clearTimeout(timer)
        resolve(t)
      })
    })
  }
}
