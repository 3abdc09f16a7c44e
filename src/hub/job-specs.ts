/**
 * Jobs submitted at run time: an operator's spec on `dora/v1/jobs/{job}/spec` (JSON, retained;
 * empty cancels), answered on `.../status` (topics.md § Topic tree). Each job id has its own
 * queue, so one spec waiting for a stalled upload delays no other job. A refused spec changes no
 * state: a running job keeps running, its retained status stays `accepted` (the refusal goes to
 * the status topic unretained, for the submitter), and its retained spec is put back; a refused
 * spec with no running job is cleared from the broker, as are an upload's chunks once the hub
 * has the file (or gave up on it). The same spec delivered again (a reconnect) is ignored.
 */
import { hubJobSchema, type Config } from '../config/schema.js'
import type { DoraClient } from '../mqtt/client.js'
import type { Logger } from '../log.js'
import { PROTOCOL_VERSION, parseTopic, topics } from '../protocol/topics.js'
import { formatIssues } from '../protocol/payloads.js'
import { ErrorCodes } from '../errors.js'
import type { JobService } from './job-service.js'
import type { BadMessages } from './bad-messages.js'
import { clearUpload, fetchUpload, uploadRef } from './uploads.js'
import type { OrphanUploads } from './orphan-uploads.js'
import { submittedModel } from './model-path.js'
import type { JobStore } from './job-store.js'
import { userDir } from '../config/user-dirs.js'

export type JobEntry = Config['jobs'][number]
export type JobStatusState = 'accepted' | 'rejected' | 'cancelled'

export interface JobSpecsDeps {
  readonly client: DoraClient
  readonly config: Readonly<Config>
  readonly log: Logger
  readonly clock: () => number
  readonly jobs: Map<string, { service: JobService; source: 'config' | 'submitted' }>
  readonly newJob: (entry: JobEntry) => JobService
  /** Jobs came or went. */
  readonly changed: () => void
  readonly bad: BadMessages | null
  /** Keeps the accepted specs across hub restarts (null: not kept). */
  readonly store?: JobStore | null
  /** Told which uploads specs name (the others are cleared after a while). */
  readonly uploads?: OrphanUploads | null
}

export class JobSpecs {
  private readonly queues = new Map<string, Promise<void>>()
  /** The spec bytes each running submitted job was accepted from. */
  private readonly accepted = new Map<string, Buffer>()
  /** Spec topics the hub itself cleared (their empty message is not an operator's cancel). */
  private readonly ownClears = new Set<string>()

  constructor(private readonly d: JobSpecsDeps) {}

  /** A message on dora/v1/jobs/+/spec: queued behind earlier specs of the same job only. */
  onMessage(topic: string, payload: Buffer): void {
    const t = parseTopic(topic)
    if (t?.scope !== 'job' || t.kind !== 'spec') return
    const id = t.jobId
    const next = (this.queues.get(id) ?? Promise.resolve())
      .then(() => this.handle(id, topic, payload))
      .catch((err: Error) => this.d.log.error({ jobId: id, err: err.message }, 'job spec handling failed'))
    this.queues.set(id, next)
    void next.then(() => {
      if (this.queues.get(id) === next) this.queues.delete(id)
    })
  }

  /** Waits for every spec being handled. */
  async stop(): Promise<void> {
    while (this.queues.size) await Promise.all([...this.queues.values()])
  }

  async publishStatus(jobId: string, state: JobStatusState, source: 'config' | 'submitted', error?: string, retain = true): Promise<void> {
    const body = { v: PROTOCOL_VERSION, jobId, state, source, timeMs: this.d.clock(), ...(error ? { error } : {}) }
    await this.d.client.publish(topics.job(jobId, 'status'), JSON.stringify(body), { qos: 1, retain })
  }

  private async handle(id: string, topic: string, payload: Buffer): Promise<void> {
    if (!payload.length && this.ownClears.delete(topic)) return
    const existing = this.d.jobs.get(id)
    if (existing?.source === 'config') return this.refuse(id, topic, payload, `job ${id} is configured in the hub's config file; change it there`)
    if (!payload.length) return this.cancel(id)
    if (existing && this.accepted.get(id)?.equals(payload)) return
    let entry: JobEntry
    try {
      entry = await this.entryOf(id, payload)
    } catch (err) {
      return this.refuse(id, topic, payload, (err as Error).message)
    }
    const service = this.d.newJob(entry)
    // scale-out: the lease decides which hub plans it
    if (this.d.config.broker.url === null && this.d.config.broker.embedded.redis) service.setLeader(false)
    // kept before the job runs: a crash once devices hold its plan must not lose it
    await this.d.store?.saveSpec(id, payload)
    try {
      await service.start()
    } catch (err) {
      await service.stop()
      const kept = existing ? this.accepted.get(id) : undefined
      if (kept) await this.d.store?.saveSpec(id, kept)
      return this.refuse(id, topic, payload, (err as Error).message)
    }
    if (existing) await existing.service.stop()
    this.d.jobs.set(id, { service, source: 'submitted' })
    this.accepted.set(id, payload)
    await this.publishStatus(id, 'accepted', 'submitted')
    this.d.changed()
    this.d.log.info({ jobId: id, model: entry.model }, 'job submitted')
  }

  /** The job a spec describes, its model resolved (an upload fetched): throws what is wrong. */
  private async entryOf(id: string, payload: Buffer): Promise<JobEntry> {
    let spec: unknown
    try {
      spec = JSON.parse(payload.toString('utf8'))
    } catch (err) {
      throw new Error(`spec is not JSON: ${(err as Error).message}`)
    }
    const checked = hubJobSchema.safeParse(spec)
    if (!checked.success) throw new Error(formatIssues(checked.error))
    const problems = jobSpecProblems(checked.data, id)
    if (problems.length) throw new Error(problems.join('; '))
    const h = this.d.config.hub
    const model = await submittedModel(checked.data.model, h.modelsDir ?? userDir('data', 'models'))
    const upload = uploadRef(model)
    if (!upload) return { ...checked.data, model }
    this.d.uploads?.claim(upload)
    try {
      const file = await fetchUpload(this.d.client, upload, h.uploads.dir ?? userDir('cache', 'uploads'), { timeoutMs: h.uploads.timeoutMs, maxBytes: h.uploads.maxBytes })
      this.d.log.info({ jobId: id, sha256: upload, file }, 'uploaded model received')
      return { ...checked.data, model: file }
    } finally {
      // the hub has the file, or never will from these chunks: they leave the broker either way
      await clearUpload(this.d.client, upload).catch((err: Error) => this.d.log.warn({ sha256: upload, err: err.message }, 'could not clear the upload'))
      this.d.uploads?.release(upload)
    }
  }

  private async cancel(id: string): Promise<void> {
    const existing = this.d.jobs.get(id)
    if (!existing) return
    await existing.service.stop()
    this.d.jobs.delete(id)
    this.accepted.delete(id)
    await this.d.store?.removeSpec(id)
    await this.d.client.publish(topics.job(id, 'plan'), Buffer.alloc(0), { qos: 1, retain: true })
    await this.publishStatus(id, 'cancelled', 'submitted')
    this.d.changed()
    this.d.log.info({ jobId: id }, 'job cancelled')
  }

  /**
   * Refuses a spec without changing any state: a running job keeps its retained status and spec
   * (the refusal goes unretained to whoever waits for it); otherwise the refusal is the job's
   * status and the spec is cleared.
   */
  private async refuse(id: string, topic: string, payload: Buffer, error: string): Promise<void> {
    this.d.bad?.report({ sender: id, kind: 'spec', topic, code: ErrorCodes.SPEC_REJECTED, error })
    const running = this.d.jobs.get(id)
    // the retained spec first: whoever reads the answer finds the broker as the hub left it
    const keep = running ? this.accepted.get(id) : undefined
    if (keep) await this.d.client.publish(topic, keep, { qos: 1, retain: true })
    else if (payload.length) {
      this.ownClears.add(topic)
      await this.d.client.publish(topic, Buffer.alloc(0), { qos: 1, retain: true })
    }
    await this.publishStatus(id, 'rejected', running?.source ?? 'submitted', error, !running)
    // a stored spec that no longer passes (its model file gone, say) is forgotten too
    if (!running) await this.d.store?.removeSpec(id)
  }
}

/** What a valid-looking job spec still gets wrong (the checks the config schema makes for its jobs). */
export function jobSpecProblems(j: JobEntry, topicJobId: string): string[] {
  const out: string[] = []
  if (j.id !== topicJobId) out.push(`id: the spec says ${j.id} but was published for ${topicJobId}`)
  if (j.rateRps === undefined && !j.sources) out.push('rateRps: required (or give sources with their rates)')
  if (j.training && (!j.source || j.sources)) out.push('source: a training job needs one source device (the device that holds the training data)')
  return out
}
