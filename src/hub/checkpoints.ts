/**
 * The hub keeps each training job's newest state per parameter (values, Adam's moments and update
 * count), so a stage that moves to another device goes on where it was (topics.md § Training
 * checkpoints):
 * - devices send their stages' state every `checkpointEverySteps` optimizer steps, and at the
 *   first step of every new plan epoch (the handover: whatever holds a stage's parameters then
 *   sends them as they are before that step);
 * - a device opening a stage whose state it does not have asks (`want`, with the step); the hub
 *   answers once, for every parameter asked, it holds that step's state or one sent in that epoch
 *   (the old holder's handover), or every connected device of the epoch before has handed over
 *   (a crashed one cannot: its last periodic checkpoint is the best there is), or `waitMs` has
 *   passed; then it sends what it has. A device has handed over when a verified state (chunks'
 *   CRCs, shape, size, finite values) of every parameter its stages held in the epoch before
 *   came from it in the new epoch: its whole checkpoint, not its first tensor.
 * What is lost: a graceful move (the old holder still connected) nothing; a crash, the updates
 * since the crashed device's last periodic checkpoint (at most checkpointEverySteps steps).
 * Kept in memory and, when a `files` store is given, in `hub.stateDir` (checkpoint-files.ts): a
 * restarted hub reads a job's stored checkpoints back at the first message of that job.
 * Hubs sharing Redis each keep them (all see every checkpoint); the one planning the job answers.
 * A job that is gone takes its checkpoints with it.
 */
import type { DoraClient } from '../mqtt/client.js'
import type { BadMessages } from './bad-messages.js'
import { ErrorCodes } from '../errors.js'
import type { Registry } from '../registry/registry.js'
import type { JobService } from './job-service.js'
import { decodeCbor, encodeCbor } from '../protocol/codec.js'
import { CBOR_BUDGETS } from '../protocol/cbor-budgets.js'
import { checkpointReq, restoreWantSchema, type RestoreAnswer, type RestoreWant } from '../protocol/checkpoint.js'
import { formatIssues } from '../protocol/payloads.js'
import { HUB_SOURCE, PROTOCOL_VERSION, filters, parseTopic, topics } from '../protocol/topics.js'
import { CheckpointIntake, type CheckpointState } from '../runtime/checkpoint-intake.js'
import { sendTensor } from '../runtime/send-tensor.js'
import { joined } from '../shared/split-payload.js'
import type { CheckpointFiles } from './checkpoint-files.js'

/** Restore requests waiting for a handover, at most (older ones are answered at once). */
const MAX_WAITING = 256
/** Longest a restore waits for a connected old holder's handover. */
export const HANDOVER_WAIT_MS = 10_000
/** Steps whose checkpoint senders are kept per job (takenAt). */
const STEPS_KEPT = 64

export interface CheckpointDeps {
  readonly publish: (topic: string, payload: Buffer) => Promise<void>
  readonly isOnline: (deviceId: string) => boolean
  /** The element shape of a trainable parameter of a training job (undefined: no such job or parameter). */
  readonly paramDims: (jobId: string, name: string) => readonly number[] | undefined
  /** Whether a device takes part in a job (its data plane is open to it). */
  readonly member: (jobId: string, deviceId: string) => boolean
  /** The devices that held a job's stages in the epoch before the current one: they hand over. */
  readonly handingOver: (jobId: string) => Iterable<string>
  /**
   * The parameters a device's stages held in that epoch before: its handover is complete when a
   * state of every one has come from it (undefined: not known; then any one of them counts).
   */
  readonly heldBefore: (jobId: string, deviceId: string) => ReadonlySet<string> | undefined
  /** Whether this hub answers a job's restores (hubs sharing Redis: the one planning the job). */
  readonly answers: (jobId: string) => boolean
  readonly clock: () => number
  /** A refused message, with its sender when known. */
  readonly onBad: (jobId: string, error: string) => void
  readonly chunkBytes: number
  /** Longest a restore waits for a connected old holder's handover. */
  readonly waitMs: number
  /** Where checkpoints outlive the hub (null: memory only). */
  readonly files?: CheckpointFiles | null
}

interface Waiting {
  readonly jobId: string
  readonly want: RestoreWant
  readonly deadlineMs: number
  readonly timer: NodeJS.Timeout
}

export class TrainingCheckpoints {
  private readonly records = new Map<string, Map<string, CheckpointState>>()
  /** Per job, sender and parameter, the newest epoch a verified state of it came from that sender in. */
  private readonly senders = new Map<string, Map<string, Map<string, number>>>()
  /** Per job, the senders of each recent step's checkpoint tensors and how many each sent (the last STEPS_KEPT steps). */
  private readonly steps = new Map<string, Map<number, Map<string, number>>>()
  private readonly waiting: Waiting[] = []
  private readonly intake: CheckpointIntake
  /** Jobs whose stored checkpoints are read (done) or being read (pending). */
  private readonly loads = new Map<string, Promise<void> | 'done'>()
  private readonly seen = new Set<string>()
  private stopped = false
  /** Counts for tests and metrics (`handovers`: devices whose handover to an epoch came whole). */
  readonly counts = { stored: 0, refused: 0, answered: 0, handovers: 0 }

  constructor(private readonly d: CheckpointDeps) {
    this.intake = new CheckpointIntake({ timeoutMs: 60_000, maxPendingBytes: 1024 * 1024 * 1024, onError: (m) => this.refuse('', m) })
  }

  async follow(client: DoraClient): Promise<void> {
    await client.subscribe(filters.allJobCheckpoints, (topic, payload) => this.onMessage(topic, payload))
    await client.subscribe(filters.allJobRestores, (topic, payload) => this.onMessage(topic, payload))
  }

  onMessage(topic: string, payload: Uint8Array): void {
    const t = parseTopic(topic)
    if (t?.scope !== 'state' || t.toDeviceId !== null) return
    if (t.kind === 'checkpoint') this.onCheckpoint(t.jobId, payload)
    else this.onWant(t.jobId, payload)
  }

  /** The newest state held of a job's parameter (tests, status). */
  held(jobId: string, name: string): CheckpointState | undefined {
    return this.records.get(jobId)?.get(name)
  }

  /** Per sender, how many checkpoint tensors of a job's step (the state before `step`) came from it, verified (tests, status). */
  takenAt(jobId: string, step: number): ReadonlyMap<string, number> {
    return this.steps.get(jobId)?.get(step) ?? new Map()
  }

  /** Jobs came or went: the checkpoints of jobs no longer in `jobs` go. */
  keepJobs(jobs: ReadonlyMap<string, unknown>): void {
    if (this.stopped) return
    for (const id of jobs.keys()) this.seen.add(id)
    for (const id of new Set([...this.records.keys(), ...this.seen])) if (!jobs.has(id)) this.forget(id)
  }

  /** A job is gone: its checkpoints and waiting restores too. */
  forget(jobId: string): void {
    this.records.delete(jobId)
    this.senders.delete(jobId)
    this.steps.delete(jobId)
    this.seen.delete(jobId)
    this.loads.delete(jobId)
    void this.d.files?.remove(jobId)
    for (const w of this.waiting.filter((x) => x.jobId === jobId)) this.drop(w)
  }

  /** Stops answering; waits for the checkpoint writes under way. */
  async stop(): Promise<void> {
    this.stopped = true
    for (const w of [...this.waiting]) this.drop(w)
    await this.d.files?.flush()
  }

  /** Runs `f` once the job's stored checkpoints are read back (at once when they are). */
  private loaded(jobId: string, f: () => void): void {
    const files = this.d.files
    const l = this.loads.get(jobId)
    if (!files || l === 'done') return f()
    // (a job forgotten meanwhile is not brought back)
    const then = (): void => void (this.loads.get(jobId) === 'done' && f())
    if (l) return void l.then(then)
    const p = files.load(jobId, (name) => this.d.paramDims(jobId, name)).then((states) => {
      if (this.loads.get(jobId) !== p) return
      this.loads.set(jobId, 'done')
      for (const s of states) this.keep(jobId, s, false)
    })
    this.loads.set(jobId, p)
    void p.then(then)
  }

  /** Holds `s` when it is the newest state of its parameter; true when held. */
  private keep(jobId: string, s: CheckpointState, sent: boolean): boolean {
    let job = this.records.get(jobId)
    if (!job) this.records.set(jobId, (job = new Map()))
    if (sent) this.taken(jobId, s)
    const have = job.get(s.name)
    // the newest state wins; at the same step, the later epoch's (a handover)
    if (have && !(s.step > have.step || (s.step === have.step && s.epoch >= have.epoch))) return false
    job.set(s.name, s)
    return true
  }

  /** A verified state came from its sender: noted per parameter (handovers) and per step. */
  private taken(jobId: string, s: CheckpointState): void {
    let job = this.senders.get(jobId)
    if (!job) this.senders.set(jobId, (job = new Map()))
    let from = job.get(s.from)
    if (!from) job.set(s.from, (from = new Map()))
    const whole = this.handedOver(jobId, s.from, s.epoch)
    from.set(s.name, Math.max(from.get(s.name) ?? 0, s.epoch))
    if (!whole && this.handedOver(jobId, s.from, s.epoch)) this.counts.handovers++
    let steps = this.steps.get(jobId)
    if (!steps) this.steps.set(jobId, (steps = new Map()))
    const at = steps.get(s.step) ?? new Map<string, number>()
    steps.set(s.step, at.set(s.from, (at.get(s.from) ?? 0) + 1))
    for (const old of steps.keys()) if (steps.size > STEPS_KEPT) steps.delete(old)
  }

  /**
   * Whether `id` has handed its state over to `epoch`: a verified state taken in `epoch` or later
   * of every parameter its stages held in the epoch before (all its checkpoint's tensors, not the
   * first to come); of any one when the hub does not know which it held.
   */
  private handedOver(jobId: string, id: string, epoch: number): boolean {
    const from = this.senders.get(jobId)?.get(id)
    if (!from) return false
    const held = this.d.heldBefore(jobId, id)
    if (!held) return [...from.values()].some((e) => e >= epoch)
    for (const name of held) if ((from.get(name) ?? 0) < epoch) return false
    return true
  }

  private refuse(jobId: string, error: string): void {
    this.counts.refused++
    this.d.onBad(jobId, error)
  }

  private onCheckpoint(jobId: string, payload: Uint8Array): void {
    for (const r of this.intake.add(jobId, payload, this.d.clock(), (name) => this.d.paramDims(jobId, name))) {
      if (!r.ok) {
        this.refuse(jobId, r.error)
        continue
      }
      const s = r.state
      if (!this.d.member(jobId, s.from)) {
        this.refuse(jobId, `checkpoint of ${s.name} from ${s.from}, which takes no part in job ${jobId}`)
        continue
      }
      // (devices refuse such a state at a restore: it neither counts nor replaces a good one)
      if (!s.data.every(Number.isFinite)) {
        this.refuse(jobId, `checkpoint of ${s.name} from ${s.from}: values not finite`)
        continue
      }
      this.loaded(jobId, () => {
        if (this.stopped || !this.keep(jobId, s, true)) return
        this.counts.stored++
        this.d.files?.save(jobId, () => this.records.get(jobId)?.values() ?? [])
        this.settle()
      })
    }
  }

  private onWant(jobId: string, payload: Uint8Array): void {
    const d = decodeCbor(payload, CBOR_BUDGETS.restoreWant)
    const p = d.ok ? restoreWantSchema.safeParse(d.value) : null
    if (!p?.success) return this.refuse(jobId, `restore request: ${d.ok ? formatIssues(p!.error!) : d.error}`)
    const want = p.data
    if (!this.d.member(jobId, want.device)) return this.refuse(jobId, `restore request from ${want.device}, which takes no part in job ${jobId}`)
    const unknown = want.params.find((n) => !this.d.paramDims(jobId, n))
    if (unknown !== undefined) return this.refuse(jobId, `restore request from ${want.device} names ${unknown.slice(0, 256)}, not a parameter of job ${jobId}`)
    // every hub sharing Redis keeps the checkpoints; the one planning the job answers
    if (!this.d.answers(jobId)) return
    this.loaded(jobId, () => {
      if (this.stopped) return
      if (this.waiting.length >= MAX_WAITING) this.answer(this.waiting[0]!)
      const timer = setTimeout(() => this.settle(), this.d.waitMs + 1)
      this.waiting.push({ jobId, want, deadlineMs: this.d.clock() + this.d.waitMs, timer })
      this.settle()
    })
  }

  /**
   * Whether the state of `name` for `want` is as good as it will get: that step's, or one handed
   * over in that epoch, or every connected device of the epoch before has handed over (a crashed
   * one cannot: its last periodic checkpoint, or none, is all there is).
   */
  private ready(jobId: string, want: RestoreWant, name: string): boolean {
    const have = this.records.get(jobId)?.get(name)
    if (have && (have.step >= want.step || have.epoch >= want.epoch)) return true
    for (const id of this.d.handingOver(jobId)) if (this.d.isOnline(id) && !this.handedOver(jobId, id, want.epoch)) return false
    return true
  }

  private settle(): void {
    const now = this.d.clock()
    for (const w of [...this.waiting]) {
      if (now >= w.deadlineMs || w.want.params.every((n) => this.ready(w.jobId, w.want, n))) this.answer(w)
    }
  }

  private drop(w: Waiting): void {
    clearTimeout(w.timer)
    const i = this.waiting.indexOf(w)
    if (i >= 0) this.waiting.splice(i, 1)
  }

  private answer(w: Waiting): void {
    this.drop(w)
    this.counts.answered++
    const { jobId, want } = w
    const job = this.records.get(jobId)
    // only state newer than what the device has (a device never goes back to an older checkpoint)
    const newer = (name: string): CheckpointState | undefined => {
      const s = job?.get(name)
      return s && (want.have === undefined || want.have === null || s.step > want.have) ? s : undefined
    }
    const fail = (err: Error) => this.d.onBad(jobId, `restore answer to ${want.device}: ${err.message}`)
    const answer: RestoreAnswer = {
      v: PROTOCOL_VERSION, kind: 'restore', epoch: want.epoch, step: want.step,
      params: want.params.map((name) => {
        const s = newer(name)
        return { name, from: s ? { step: s.step, t: s.t } : null }
      }),
    }
    for (const name of want.params) {
      const s = newer(name)
      if (!s) continue
      const hop = { src: HUB_SOURCE, plan: 'checkpoint', stage: 0, route: [want.device], t0: Math.floor(this.d.clock()) }
      sendTensor((topic, p) => this.d.publish(topic, joined(p)), topics.trainingState(jobId, 'checkpoint', want.device), { name, dtype: 'float32', shape: [3, ...s.dims], data: new Uint8Array(s.data.buffer, s.data.byteOffset, s.data.byteLength) }, { req: checkpointReq(s.step, s.t), epoch: s.epoch, hop }, this.d.chunkBytes).catch(fail)
    }
    this.d.publish(topics.trainingState(jobId, 'restore', want.device), encodeCbor(answer)).catch(fail)
  }
}

/** The hub's checkpoint keeper over its client, registry and jobs. */
export function hubCheckpoints(client: DoraClient, o: { registry: Registry; jobs: ReadonlyMap<string, { service: JobService }>; clock: () => number; bad: BadMessages | null; chunkBytes: number; files: CheckpointFiles | null }): TrainingCheckpoints {
  return new TrainingCheckpoints({
    publish: (topic, payload) => client.publish(topic, payload, { qos: 1 }),
    isOnline: (id) => o.registry.online().some((d) => d.id === id),
    paramDims: (jobId, name) => o.jobs.get(jobId)?.service.paramDims(name),
    member: (jobId, id) => o.jobs.get(jobId)?.service.devices().has(id) ?? false,
    handingOver: (jobId) => o.jobs.get(jobId)?.service.previousDevices() ?? [],
    heldBefore: (jobId, id) => o.jobs.get(jobId)?.service.previousParams(id),
    answers: (jobId) => o.jobs.get(jobId)?.service.isLeader ?? false,
    clock: o.clock,
    onBad: (jobId, error) => o.bad?.report({ sender: jobId || 'checkpoint', kind: 'checkpoint', topic: jobId ? topics.trainingState(jobId, 'checkpoint') : 'checkpoint', code: ErrorCodes.PAYLOAD_INVALID, error }),
    chunkBytes: o.chunkBytes,
    waitMs: HANDOVER_WAIT_MS,
    files: o.files,
  })
}
