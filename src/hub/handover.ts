/**
 * A training job's state handover at a new plan epoch, as the hub sees it (pure; topics.md §
 * Training checkpoints). At the first step of the new epoch each stage of the epoch before hands
 * its state (values and Adam's two moments: 3 x its float32 parameters) to the hub from ONE
 * replica (protocol/checkpoint.ts handoverSender, as devices do in
 * device-firmware-bridge/stage-state.ts): the replicas hold the same state after the all-reduce,
 * so the others send no copy and the hub waits for none from them. The stages' new holders then
 * restore what they did not hold before from the hub. Its bytes are reported with each epoch.
 */
import { nodesOf } from './epoch-wire.js'
import type { Job } from '../planner/types.js'
import type { PlanEpoch } from '../planner/adapt/adapter.js'
import { handoverSender } from '../protocol/checkpoint.js'

/** One training stage of an epoch: its replicas and the trainable parameters it holds. */
export interface HeldStage {
  readonly replicas: readonly string[]
  readonly params: readonly string[]
}

/**
 * The stages an epoch trains: those of its heaviest plan (the one the training source runs steps
 * on, device-firmware-bridge/training-source.ts).
 */
export function trainedStages(job: Job, e: PlanEpoch, training: ReadonlyMap<string, { params: readonly string[] }>): HeldStage[] {
  if (!e.parts.length) return []
  const part = e.parts.reduce((a, b) => (b.weight > a.weight ? b : a))
  return part.plan.stages.map((s) => ({ replicas: [...s.devices], params: [...(training.get(nodesOf(job, s.layers)?.join('-') ?? '')?.params ?? [])] }))
}

/** Per device, the parameters it hands over from `stages` (its stages' where it is the handover sender). */
export function handoverParams(stages: readonly HeldStage[], departed: readonly string[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  for (const s of stages) {
    const id = handoverSender(s.replicas, departed)
    if (id === undefined) continue
    let names = out.get(id)
    if (!names) out.set(id, (names = new Set()))
    for (const n of s.params) names.add(n)
  }
  return out
}

export interface HandoverBytes {
  /** The devices that send (one per stage of the epoch before). */
  readonly senders: readonly string[]
  /** Bytes of state the senders put on the air to the hub. */
  readonly toHubBytes: number
  /** What every replica sending would have cost (the handover before issue 15). */
  readonly allReplicasBytes: number
  /** At most this many bytes of state go from the hub to the new holders (parameters they did not hold before). */
  readonly fromHubBytes: number
}

/** The bytes of one handover from the stages `before` to those `now`; `stateBytes`: 3 x a parameter's float32 bytes. */
export function handoverBytes(before: readonly HeldStage[], now: readonly HeldStage[], departed: readonly string[], stateBytes: (name: string) => number): HandoverBytes {
  const sum = (names: Iterable<string>) => [...names].reduce((a, n) => a + stateBytes(n), 0)
  const sending = handoverParams(before, departed)
  const heldBefore = new Map<string, Set<string>>()
  for (const s of before) for (const id of s.replicas) for (const n of s.params) (heldBefore.get(id) ?? heldBefore.set(id, new Set()).get(id)!).add(n)
  let fromHubBytes = 0
  for (const s of now) for (const id of s.replicas) fromHubBytes += sum(s.params.filter((n) => !heldBefore.get(id)?.has(n)))
  return {
    senders: [...sending.keys()],
    toHubBytes: [...sending.values()].reduce((a, names) => a + sum(names), 0),
    allReplicasBytes: before.reduce((a, s) => a + s.replicas.length * sum(s.params), 0),
    fromHubBytes,
  }
}

/**
 * A job's training stages now and in the epoch before, and the departed the current epoch names:
 * who hands over to it and what each must carry (checkpoints.ts waits for those handovers).
 */
export class HandoverTracker {
  private now: readonly HeldStage[] | null = null
  private before: readonly HeldStage[] | null = null
  private departed: readonly string[] = []
  /** The last handover's bytes (an epoch after a training job's first; for reports). */
  last: (HandoverBytes & { epoch: number }) | null = null

  /**
   * A new epoch with training stages `stages` (null: not known, another hub's epoch) naming
   * `departed`; with `paramDims`, the handover's bytes (kept in `last`, returned).
   */
  advance(epoch: number, stages: readonly HeldStage[] | null, departed: readonly string[], paramDims?: (name: string) => readonly number[] | undefined): HandoverBytes | null {
    this.before = this.now
    this.now = stages
    this.departed = departed
    if (!this.before || !this.now || !paramDims) return null
    const bytes = handoverBytes(this.before, this.now, departed, (n) => 12 * (paramDims(n) ?? []).reduce((a, b) => a * b, 1))
    this.last = { ...bytes, epoch }
    return bytes
  }

  /** The devices that hand over to the current epoch (null: not known). */
  senders(): ReadonlySet<string> | null {
    return this.before ? new Set(handoverParams(this.before, this.departed).keys()) : null
  }

  /** The parameters `id`'s handover must carry (empty: another replica sends them; undefined: not known). */
  params(id: string): ReadonlySet<string> | undefined {
    return this.before ? handoverParams(this.before, this.departed).get(id) ?? new Set() : undefined
  }
}
