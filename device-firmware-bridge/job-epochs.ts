/**
 * What a device knows of each job's epochs: the latest assignment, the last few assignments and
 * plan epochs (so requests of an older epoch finish on its stages), and the newest epoch whose
 * stage models are all open (reported in the heartbeat).
 */
import type { AssignmentPayload, PlanEpochPayload } from '../src/protocol/payloads.js'

/** Epochs kept per job: requests of an older epoch than these are refused (the source re-sends). */
export const EPOCHS_KEPT = 4

interface JobHistory {
  readonly assignments: Map<number, AssignmentPayload>
  readonly plans: Map<number, PlanEpochPayload>
}

export class JobEpochs {
  /** The latest assignment per job. */
  readonly latest = new Map<string, AssignmentPayload>()
  private readonly history = new Map<string, JobHistory>()
  /** Per job, the newest epoch whose stage models are all open. */
  private readonly ready = new Map<string, number>()

  /** Jobs this device has heard of (an assignment, a plan, or as a source). */
  jobs(): IterableIterator<string> {
    return this.history.keys()
  }

  /** Starts following a job (a source subscribes before any plan exists). */
  follow(jobId: string): JobHistory {
    let h = this.history.get(jobId)
    if (!h) this.history.set(jobId, (h = { assignments: new Map(), plans: new Map() }))
    return h
  }

  assignment(jobId: string, epoch: number): AssignmentPayload | undefined {
    return this.history.get(jobId)?.assignments.get(epoch)
  }

  plan(jobId: string, epoch: number): PlanEpochPayload | undefined {
    return this.history.get(jobId)?.plans.get(epoch)
  }

  /** The job's known plan epochs, oldest kept first. */
  plans(jobId: string): PlanEpochPayload[] {
    return [...(this.history.get(jobId)?.plans.values() ?? [])]
  }

  /**
   * Whether a job trains or serves requests: its newest known plan says so, else this device's
   * latest assignment (a training stage comes with its backward model); null while neither is here.
   */
  kindOf(jobId: string): 'training' | 'inference' | null {
    const plans = this.history.get(jobId)?.plans
    if (plans?.size) return plans.get(Math.max(...plans.keys()))!.training ? 'training' : 'inference'
    const a = this.latest.get(jobId)
    if (!a?.stages.length) return null
    return a.stages.some((s) => s.backward) ? 'training' : 'inference'
  }

  /** Keeps an assignment; false (and nothing kept) when it is older than the one held (retained, reordered). */
  assign(a: AssignmentPayload): boolean {
    const prev = this.latest.get(a.jobId)
    if (prev && prev.epoch > a.epoch) return false
    this.latest.set(a.jobId, a)
    const h = this.follow(a.jobId)
    h.assignments.set(a.epoch, a)
    trim(h.assignments)
    return true
  }

  addPlan(jobId: string, p: PlanEpochPayload): void {
    const h = this.follow(jobId)
    h.plans.set(p.epoch, p)
    trim(h.plans)
  }

  /** The epoch's stage models are all open. */
  markReady(jobId: string, epoch: number): void {
    if ((this.ready.get(jobId) ?? 0) < epoch) this.ready.set(jobId, epoch)
  }

  /** The newest epoch ready over every job (null: none yet). */
  newestReady(): number | null {
    const epochs = [...this.ready.values()]
    return epochs.length ? Math.max(...epochs) : null
  }
}

function trim<T>(m: Map<number, T>): void {
  const keys = [...m.keys()].sort((a, b) => a - b)
  for (const k of keys.slice(0, Math.max(0, keys.length - EPOCHS_KEPT))) m.delete(k)
}
