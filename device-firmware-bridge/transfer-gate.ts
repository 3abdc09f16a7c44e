/**
 * How a device sends a tensor in its plan's transfer mode (topics.md § Plan epoch, `transfers`):
 * inside its slots toward the receiver (the assignment's slots, stretched by the emulation clock;
 * work-conserving: runtime/slot-gate.ts), as the hub grants the air (runtime/air-grants.ts), or at
 * once. An uncoordinated device (`none`) sends at once whatever the plan says. Both executors send
 * through one gate per device, so inference outputs and results, training activations, gradients,
 * a training source's micro-batches and checkpoints (to the hub: stage-state.ts) share the device's
 * slots toward each receiver, or its grants.
 *
 * Only the send waits: a stage's next run does not wait for its last outputs to be on the air
 * (the executors do not await what they hand to the gate before they compute again).
 */
import { SlotGate } from '../src/runtime/slot-gate.js'
import type { AirGrants } from '../src/runtime/air-grants.js'
import type { AssignmentPayload, PlanEpochPayload } from '../src/protocol/payloads.js'

export type SentIn = 'slots' | 'grants' | 'at-once'

export interface TransferGateDeps {
  /** `slots`: follow the plan's mode; `none`: send at once (uncoordinated). */
  readonly coordination: 'slots' | 'none'
  /** The device's grants (absent: a plan's grants go at once). */
  readonly air?: AirGrants | undefined
  readonly clock: () => number
  /** Emulation clock factor: slots are in profile ms. */
  readonly timeScale: number
}

/** One transfer: of which job, epoch and plan, to whom, how many bytes. */
export interface Transfer {
  readonly jobId: string
  readonly plan: PlanEpochPayload
  readonly part: PlanEpochPayload['parts'][number]
  /** This device's assignment in the plan's epoch (its slots), if it has one. */
  readonly assignment: AssignmentPayload | undefined
  /** The receiving device, or `hub`. */
  readonly receiver: string
  readonly bytes: number
}

export class TransferGate {
  private readonly slots = new SlotGate()
  /** Transfers sent in each mode (a slotted transfer whose slot had come goes at once, counted as slots). */
  readonly counts: Record<SentIn, number> = { slots: 0, grants: 0, 'at-once': 0 }

  constructor(private readonly d: TransferGateDeps) {}

  /** Runs `send` when the plan's mode lets this transfer go. */
  async send<T>(x: Transfer, send: () => Promise<T>): Promise<T> {
    const mode = this.modeOf(x)
    this.counts[mode]++
    if (mode === 'grants') return this.d.air!.withAir(x.bytes, send)
    if (mode === 'slots') {
      const k = this.d.timeScale
      const slots = x.assignment!.slots.filter((s) => s.planId === x.part.planId && s.to === x.receiver).map((s) => ({ offsetMs: s.offsetMs * k, durationMs: s.durationMs * k }))
      const now = this.d.clock()
      const cycleMs = x.part.schedule ? x.part.schedule.cycleMs * k : null
      const at = this.slots.take(`${x.jobId}/${x.plan.epoch}/${x.part.planId}/${x.receiver}`, now, slots, cycleMs, x.plan.activateAtMs)
      if (at > now) await new Promise((r) => setTimeout(r, at - now))
    }
    return send()
  }

  /** The mode `x` goes in (uncounted). */
  modeOf(x: Transfer): SentIn {
    if (this.d.coordination === 'none') return 'at-once'
    if (x.part.transfers === 'grants') return this.d.air ? 'grants' : 'at-once'
    // the assignment carries slots only for plans that run in slots (hub/epoch-wire.ts)
    return x.assignment?.slots.some((s) => s.planId === x.part.planId && s.to === x.receiver) ? 'slots' : 'at-once'
  }
}
