/**
 * A training stage's state follows the stage (topics.md § Training checkpoints; the hub side is
 * src/hub/checkpoints.ts). This device:
 * - knows, per trainer, the optimizer step its state is before (after step s: s + 1);
 * - sends every parameter's state (values, Adam's moments and update count) to the hub every
 *   `every` steps when it is the stage's checkpoint sender (protocol/checkpoint.ts: one replica
 *   of a replicated stage), and at the first step of a new plan epoch for every trainer that stepped in
 *   the epochs before (the handover: a stage that moves away leaves its state behind), from one
 *   replica of a replicated stage (protocol/checkpoint.ts handoverSender: its first replica the
 *   new epoch does not name as departed; the others hold the same state and send none); each
 *   checkpoint as one transfer through the device's transfer gate, in the epoch's transfer mode
 *   (one hub grant for all of it; slots name no receiver `hub`, so with slots or at once it goes
 *   as soon as made), as the cost model puts it on the air (planner/replay/training.ts: the next
 *   step's transfers wait behind it);
 * - before a trainer runs step s while its state is not step s's (a stage new to this device, or
 *   back after a while), asks the hub and waits (at most `restoreTimeoutMs`) for the state, checks
 *   every parameter against the stage's own (name, shape, size, finite values) and takes it.
 * A fresh trainer at step 0 needs nothing: the stage model holds the starting parameters.
 */
import type { StageTrainer } from '../src/runtime/trainer.js'
import { CheckpointIntake, type CheckpointState } from '../src/runtime/checkpoint-intake.js'
import type { DeviceRuntime } from './runtime.js'
import { checkpointReq, checkpointSender, handoverSender, restoreAnswerSchema, type RestoreAnswer, type RestoreWant } from '../src/protocol/checkpoint.js'
import { decodeCbor, encodeCbor } from '../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../src/protocol/cbor-budgets.js'
import { formatIssues } from '../src/protocol/payloads.js'
import { PROTOCOL_VERSION, topics } from '../src/protocol/topics.js'

export interface StageStateDeps {
  /** This device: id, clock, counted publish and chunked sends, error reports. */
  readonly runtime: DeviceRuntime
  /** Longest a stage waits for its state from the hub before it goes on with what it has. */
  readonly restoreTimeoutMs: number
  /** False: no checkpoints, no restores; a stage new to this device starts from its model's parameters (comparison runs). */
  readonly carry?: boolean
  /**
   * How one checkpoint (its tensors, `bytes` in all) goes on the air: the device's transfer gate
   * in the epoch's transfer mode (training.ts; default: at once). Resolves when the next may go.
   */
  readonly upload?: (jobId: string, epoch: number, bytes: number, send: () => Promise<void>) => Promise<void>
}

/** A trainer's checkpoint waiting to go (its states dropped once it goes, or when superseded before). */
interface Upload {
  states: Array<ReturnType<StageTrainer['state']>> | null
  started: boolean
}

interface PendingRestore {
  readonly jobId: string
  readonly want: RestoreWant
  readonly trainer: StageTrainer
  readonly intake: CheckpointIntake
  readonly got: Map<string, CheckpointState>
  answer: RestoreAnswer | null
  readonly done: () => void
}

export class StageStateKeeper {
  /** The optimizer step each trainer's state is before (absent: never stepped nor restored). */
  private readonly at = new WeakMap<StageTrainer, number>()
  /** Per job: the newest epoch a step started in, and the trainers that stepped since the epoch before. */
  private readonly jobs = new Map<string, { epoch: number; stepped: Set<StageTrainer> }>()
  private readonly restoring = new WeakMap<StageTrainer, { step: number; done: Promise<void> }>()
  /** The epoch each trainer last stepped or was brought up to date in. */
  private readonly synced = new WeakMap<StageTrainer, number>()
  /** The replicas of each trainer's stage in the epoch it last stepped in (who hands its state over). */
  private readonly replicas = new WeakMap<StageTrainer, readonly string[]>()
  /** Per job, every trainer this device used for it. */
  private readonly used = new Map<string, Set<StageTrainer>>()
  private readonly pending = new Set<PendingRestore>()
  /** `sent`: checkpoint tensors; `checkpoints`: whole checkpoints sent (one transfer each); `handoversLeft`: handovers left to another replica. */
  readonly counts = { sent: 0, checkpoints: 0, restored: 0, refused: 0, timedOut: 0, handoversLeft: 0 }
  /** The last restores (at most 16): the step asked for, parameters taken (here or from the hub), and the oldest step of those from the hub (null: none came from it). */
  readonly restores: Array<{ jobId: string; step: number; params: number; oldest: number | null }> = []

  private readonly rt: DeviceRuntime

  constructor(private readonly d: StageStateDeps) {
    this.rt = d.runtime
  }

  /**
   * Resolves once `trainer` holds the state before step `step`: at once when it is that step's,
   * or fresh at step 0, or already brought up to date in this epoch (steps given up since changed
   * nothing); else from this device's other trainers of the job that were in use in the epoch
   * before, and the rest from the hub.
   */
  ready(jobId: string, epoch: number, step: number, trainer: StageTrainer): Promise<void> {
    const at = this.at.get(trainer)
    if (at === step || this.d.carry === false) return Promise.resolve()
    this.trainersOf(jobId).add(trainer)
    if ((at === undefined && step === 0) || this.synced.get(trainer) === epoch) {
      this.at.set(trainer, step)
      this.synced.set(trainer, epoch)
      return Promise.resolve()
    }
    let r = this.restoring.get(trainer)
    if (!r || r.step !== step) this.restoring.set(trainer, (r = { step, done: this.restore(jobId, epoch, step, trainer) }))
    return r.done
  }

  /**
   * `trainer` applied step `step` in `epoch` on a stage of `replicas` (default: this device alone);
   * every `every` steps its state goes to the hub when this device is its stage's checkpoint
   * sender (one replica of a replicated stage: protocol/checkpoint.ts checkpointSender).
   */
  stepped(jobId: string, epoch: number, step: number, trainer: StageTrainer, every: number, replicas: readonly string[] = [this.rt.id]): void {
    this.at.set(trainer, step + 1)
    this.synced.set(trainer, epoch)
    this.trainersOf(jobId).add(trainer)
    this.replicas.set(trainer, replicas)
    this.job(jobId, epoch).stepped.add(trainer)
    if (checkpointSender(replicas) === this.rt.id && every > 0 && (step + 1) % every === 0) this.send(jobId, epoch, trainer)
  }

  /**
   * A step starts: at the first step of a newer epoch, every trainer that stepped before hands its
   * state over, when this device is its stage's handover sender (`departed`: the devices the new
   * epoch names as gone from the fleet).
   */
  onStart(jobId: string, epoch: number, departed: readonly string[] = []): void {
    const j = this.job(jobId, epoch)
    if (epoch <= j.epoch) return
    j.epoch = epoch
    for (const t of j.stepped) {
      if (handoverSender(this.replicas.get(t) ?? [this.rt.id], departed) === this.rt.id) this.send(jobId, epoch, t)
      else this.counts.handoversLeft++
    }
    j.stepped.clear()
  }

  private trainersOf(jobId: string): Set<StageTrainer> {
    let s = this.used.get(jobId)
    if (!s) this.used.set(jobId, (s = new Set()))
    return s
  }

  /**
   * The parameters of `trainer` that another trainer of this device held in the job's latest
   * epoch before `epoch` (its stage re-cut, kept here): copied over; returns the rest.
   */
  private restoreLocally(jobId: string, epoch: number, step: number, trainer: StageTrainer): string[] {
    const others = [...this.trainersOf(jobId)].filter((t) => t !== trainer && (this.synced.get(t) ?? 0) < epoch)
    const latest = Math.max(0, ...others.map((t) => this.synced.get(t) ?? 0))
    const rest: string[] = []
    for (const name of trainer.paramNames) {
      const dims = trainer.dimsOf(name)!
      const from = others.find((t) => this.synced.get(t) === latest && t.dimsOf(name)?.join() === dims.join())
      if (!from) {
        rest.push(name)
        continue
      }
      trainer.restore(from.state(name))
      this.counts.restored++
    }
    return rest
  }

  private job(jobId: string, epoch: number): { epoch: number; stepped: Set<StageTrainer> } {
    let j = this.jobs.get(jobId)
    if (!j) this.jobs.set(jobId, (j = { epoch, stepped: new Set() }))
    return j
  }

  /** Per trainer, its newest checkpoint not yet sent whole. */
  private readonly uploads = new WeakMap<StageTrainer, Upload>()
  /** This device's checkpoints, one after another (one transfer on the air at a time, as the cost model counts them). */
  private queue: Promise<void> = Promise.resolve()

  /**
   * Every parameter's state, as it is now, to the hub: one transfer in the epoch's transfer mode
   * (with grants, one grant for the whole checkpoint: it holds the air as the cost model's
   * checkpoint does), its tensors smallest first (the hub learns at once that this device has
   * handed over). A newer checkpoint of the same trainer supersedes an older one that has not
   * begun to go (the hub keeps the newest state of each parameter); one that has begun goes whole
   * first, so the hub holds a whole checkpoint even while the air carries them slower than the
   * steps make them.
   */
  private send(jobId: string, epoch: number, trainer: StageTrainer): void {
    const step = this.at.get(trainer)
    if (step === undefined || this.d.carry === false) return
    const hop = { src: this.rt.id, plan: 'checkpoint', stage: 0, route: [this.rt.id], t0: Math.floor(this.rt.clock()) }
    const size = (n: string) => trainer.dimsOf(n)!.reduce((a, b) => a * b, 1)
    const before = this.uploads.get(trainer)
    if (before && !before.started) before.states = null
    const states = [...trainer.paramNames].sort((a, b) => size(a) - size(b)).map((name) => trainer.state(name))
    const u: Upload = { states, started: false }
    this.uploads.set(trainer, u)
    const upload = this.d.upload ?? ((_j, _e, _b, go) => go())
    this.queue = this.queue.then(async () => {
      const all = u.states
      if (!all) return
      u.started = true
      u.states = null
      this.counts.checkpoints++
      const bytes = all.reduce((a, x) => a + x.data.byteLength, 0)
      const sendAll = () => Promise.all(all.map((x) => {
        this.counts.sent++
        return this.rt.sendTensor(topics.trainingState(jobId, 'checkpoint'), { name: x.name, dtype: 'float32', shape: [3, ...x.dims], data: new Uint8Array(x.data.buffer) }, { req: checkpointReq(step, x.t), epoch, hop })
          .catch((err: Error) => this.rt.onError(`job ${jobId}: checkpoint of ${x.name}: ${err.message}`))
      })).then(() => undefined)
      await upload(jobId, epoch, bytes, sendAll).catch((err: Error) => this.rt.onError(`job ${jobId}: checkpoint: ${err.message}`))
    })
  }

  private async restore(jobId: string, epoch: number, step: number, trainer: StageTrainer): Promise<void> {
    const have = this.at.get(trainer) ?? null
    const rest = this.restoreLocally(jobId, epoch, step, trainer)
    const local = trainer.paramNames.length - rest.length
    if (!rest.length) return this.restored(jobId, epoch, step, trainer, local, null)
    const want: RestoreWant = { v: PROTOCOL_VERSION, kind: 'want', device: this.rt.id, epoch, step, params: rest, have }
    let timer: NodeJS.Timeout | undefined
    let p: PendingRestore | undefined
    const finished = new Promise<boolean>((resolve) => {
      p = {
        jobId, want, trainer, got: new Map(), answer: null, done: () => resolve(true),
        intake: new CheckpointIntake({ timeoutMs: this.d.restoreTimeoutMs, maxPendingBytes: 12 * trainer.size + 1024, onError: (m) => this.rt.onError(m) }),
      }
      this.pending.add(p)
      timer = setTimeout(() => resolve(false), this.d.restoreTimeoutMs)
    })
    try {
      await this.rt.publish(topics.trainingState(jobId, 'restore'), encodeCbor(want))
      if (!(await finished)) {
        this.counts.timedOut++
        this.rt.onError(`job ${jobId}: no state from the hub for step ${step} within ${this.d.restoreTimeoutMs} ms; the stage goes on with the parameters it has`)
      }
    } finally {
      clearTimeout(timer)
      this.pending.delete(p!)
    }
    let taken = local
    let oldest: number | null = null
    for (const s of p!.got.values()) {
      try {
        trainer.restore(s)
        this.counts.restored++
        taken++
        oldest = Math.min(oldest ?? s.step, s.step)
      } catch (err) {
        this.counts.refused++
        this.rt.onError(`job ${jobId}: ${(err as Error).message}`)
      }
    }
    this.restored(jobId, epoch, step, trainer, taken, oldest)
  }

  private restored(jobId: string, epoch: number, step: number, trainer: StageTrainer, params: number, oldest: number | null): void {
    this.restores.push({ jobId, step, params, oldest })
    if (this.restores.length > 16) this.restores.shift()
    this.at.set(trainer, step)
    this.synced.set(trainer, epoch)
  }

  /** A checkpoint tensor from the hub (for a restore this device asked for). */
  onCheckpoint(jobId: string, payload: Uint8Array): void {
    const mine = [...this.pending].filter((p) => p.jobId === jobId)
    if (!mine.length) return this.refuse(`job ${jobId}: a checkpoint no restore asked for`)
    for (const p of mine) {
      for (const r of p.intake.add(jobId, payload, this.rt.clock(), (name) => (p.want.params.includes(name) ? p.trainer.dimsOf(name) : undefined))) {
        if (r.ok) p.got.set(r.state.name, r.state)
        else if (mine.length === 1) this.refuse(`job ${jobId}: ${r.error}`)
      }
      this.check(p)
    }
  }

  /** The hub's answer to a restore: which parameters it sends. */
  onAnswer(jobId: string, payload: Uint8Array): void {
    const d = decodeCbor(payload, CBOR_BUDGETS.restoreAnswer)
    const a = d.ok ? restoreAnswerSchema.safeParse(d.value) : null
    if (!a?.success) return this.refuse(`job ${jobId}: restore answer: ${d.ok ? formatIssues(a!.error!) : d.error}`)
    const p = [...this.pending].find((x) => x.jobId === jobId && x.want.epoch === a.data.epoch && x.want.step === a.data.step && x.want.params[0] === a.data.params[0]?.name)
    if (!p) return
    p.answer = a.data
    this.check(p)
  }

  private check(p: PendingRestore): void {
    if (!p.answer) return
    for (const x of p.answer.params) {
      if (!x.from) continue
      const s = p.got.get(x.name)
      if (!s || s.step !== x.from.step || s.t !== x.from.t) return
    }
    p.done()
  }

  private refuse(why: string): void {
    this.counts.refused++
    this.rt.onError(why)
  }
}
