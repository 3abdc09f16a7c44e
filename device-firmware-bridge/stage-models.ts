/**
 * A device's stage models, ready to run: inference stages as open onnxruntime sessions, training
 * stages as trainers (forward and backward models with their parameters), each fetched (or found
 * in the disk cache, model-cache.ts), verified and opened once, ahead of its epoch.
 */
import * as ort from 'onnxruntime-node'
import type { AssignmentPayload } from '../src/protocol/payloads.js'
import { StageTrainer } from '../src/runtime/trainer.js'
import { DoraError, ErrorCodes } from '../src/errors.js'
import type { ModelCache } from './model-cache.js'

type StageAssignment = AssignmentPayload['stages'][number]
type StageModel = NonNullable<StageAssignment['model']>

export interface StageReady {
  jobId: string
  epoch: number
  sha256: string
  inputs: readonly string[]
  outputs: readonly string[]
}

const ONE_THREAD = { intraOpNumThreads: 1, interOpNumThreads: 1 }

export class StageModels {
  /** Open onnxruntime sessions of stage models, by sha256. */
  readonly sessions = new Map<string, ort.InferenceSession>()
  private readonly loading = new Map<string, Promise<ort.InferenceSession>>()
  private readonly trainers = new Map<string, Promise<StageTrainer>>()

  constructor(private readonly models: ModelCache) {}

  /** A stage model's open session (fetched, verified and opened once). */
  session(model: StageModel): Promise<ort.InferenceSession> {
    const open = this.sessions.get(model.sha256)
    if (open) return Promise.resolve(open)
    let p = this.loading.get(model.sha256)
    if (!p) {
      p = (async () => {
        const bytes = await this.models.get(model)
        let session: ort.InferenceSession
        try {
          session = await ort.InferenceSession.create(bytes, ONE_THREAD)
        } catch (err) {
          throw new DoraError(ErrorCodes.STAGE_MODEL_LOAD, `stage model ${model.sha256} does not load in onnxruntime: ${(err as Error).message}`)
        }
        this.sessions.set(model.sha256, session)
        return session
      })().finally(() => this.loading.delete(model.sha256))
      this.loading.set(model.sha256, p)
    }
    return p
  }

  /** A training stage's trainer: forward and backward models fetched, sessions open (once per stage model). */
  trainer(stage: StageAssignment): Promise<StageTrainer> {
    const fwd = stage.model
    const bwd = stage.backward
    if (!fwd || !bwd || !stage.params) return Promise.reject(new DoraError(ErrorCodes.ASSIGNMENT_INVALID, `stage ${stage.stage} of ${stage.planId} is not a training stage`))
    const key = `${fwd.sha256}/${bwd.sha256}`
    let t = this.trainers.get(key)
    if (!t) {
      t = (async () => {
        const [f, b] = [await this.models.get(fwd), await this.models.get(bwd)]
        try {
          return await StageTrainer.create(f, b, stage.params!, ONE_THREAD)
        } catch (err) {
          throw new DoraError(ErrorCodes.STAGE_MODEL_LOAD, `training stage models ${fwd.sha256.slice(0, 12)}/${bwd.sha256.slice(0, 12)} do not load: ${(err as Error).message}`)
        }
      })()
      t.catch(() => this.trainers.delete(key))
      this.trainers.set(key, t)
    }
    return t
  }

  /** Fetches (or finds in the cache) every stage model of an assignment and opens it; tells `ready` of each. */
  async prepare(a: AssignmentPayload, ready?: (x: StageReady) => void): Promise<void> {
    for (const s of a.stages) {
      if (s.backward) {
        await this.trainer(s)
        ready?.({ jobId: a.jobId, epoch: a.epoch, sha256: s.model!.sha256, inputs: [], outputs: [] })
        continue
      }
      if (!s.model || this.sessions.has(s.model.sha256)) continue
      const session = await this.session(s.model)
      ready?.({ jobId: a.jobId, epoch: a.epoch, sha256: s.model.sha256, inputs: session.inputNames, outputs: session.outputNames })
    }
  }

  /** Releases every open session (`wait`: until onnxruntime has let them go). */
  async release(wait = true): Promise<void> {
    const open = [...this.sessions.values()]
    this.sessions.clear()
    for (const s of open) {
      if (wait) await s.release()
      else s.release().catch(() => undefined)
    }
  }
}
