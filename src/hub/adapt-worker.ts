/**
 * The adapter's search off the hub's event loop: one worker thread (adapt-thread.ts, loaded
 * through tsx as the hub is: bin/thread-ts.mjs) runs decide() for the hub's jobs, one request at
 * a time, so the embedded broker sharing the hub's thread keeps serving devices while a job
 * re-plans.
 *
 * - A reply is checked (adapt-result.ts); an unusable one is logged and the request runs in the
 *   hub's thread instead (the same pure call: the same decision, only blocking).
 * - A crashed worker (an uncaught error, an exit) is logged and respawned; its request is tried
 *   once more in the new worker, then in the hub's thread.
 * - A search running past `budgetMs` is stopped (the worker is terminated and respawned) and
 *   answered `timeout`: the job keeps its current epoch.
 * - An idle worker does not keep the process alive; stop() terminates it (hub shutdown).
 */
import { Worker } from 'node:worker_threads'
import type { Logger } from '../log.js'
import { decide, type AdaptRequest } from '../planner/adapt/decide.js'
import type { AdaptDecision } from '../planner/adapt/adapter.js'
import { checkReply } from './adapt-result.js'

export type SearchOutcome =
  | { readonly kind: 'decided'; readonly decision: AdaptDecision; readonly thread: 'worker' | 'hub' }
  | { readonly kind: 'timeout'; readonly budgetMs: number }
  /** Given up (the job stopped, or the hub): nothing to apply. */
  | { readonly kind: 'aborted' }

/** How a job asks for a decision (JobServiceDeps.search); `signal` gives the request up. */
export type Search = (request: AdaptRequest, signal?: AbortSignal) => Promise<SearchOutcome>

export interface AdaptWorkerOptions {
  /** A search running longer than this is stopped, ms (the time the worker takes to load does not count). */
  readonly budgetMs: number
  readonly log: Logger
  /** The worker's module (default: adapt-thread.ts; tests give one that crashes or hangs). */
  readonly module?: URL
}

interface Task {
  readonly request: AdaptRequest
  readonly signal: AbortSignal | undefined
  readonly settle: (o: SearchOutcome | Error) => void
  /** Workers that crashed on it so far. */
  crashes: number
}

const BOOT = new URL('../../bin/thread-ts.mjs', import.meta.url)
const DEFAULT_MODULE = new URL('./adapt-thread.ts', import.meta.url)

/** The same decision in the hub's thread (a fallback; blocking). */
export const inHubThread: Search = async (request) => ({ kind: 'decided', decision: decide(request), thread: 'hub' })

export class AdaptWorker {
  private worker: Worker | null = null
  /** Whether the worker has loaded its module (the budget runs from then). */
  private ready = false
  private readonly queue: Task[] = []
  private current: { task: Task; id: number; timer: NodeJS.Timeout | null } | null = null
  private nextId = 1
  private stopped = false
  /** Workers started so far (the first, and one per crash or stopped search). */
  spawned = 0

  constructor(private readonly o: AdaptWorkerOptions) {}

  /** Starts the worker ahead of the first search (it takes a moment to load). */
  start(): void {
    if (!this.stopped && !this.worker) this.spawn()
  }

  readonly run: Search = (request, signal) => new Promise<SearchOutcome>((resolve, reject) => {
    if (this.stopped || signal?.aborted) return resolve({ kind: 'aborted' })
    const onAbort = () => this.abandon(task)
    const task: Task = {
      request, signal, crashes: 0,
      settle: (o) => {
        signal?.removeEventListener('abort', onAbort)
        if (o instanceof Error) reject(o)
        else resolve(o)
      },
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    this.queue.push(task)
    this.pump()
  })

  /** Terminates the worker; searches not finished are answered `aborted`. */
  async stop(): Promise<void> {
    this.stopped = true
    for (const t of this.queue.splice(0)) t.settle({ kind: 'aborted' })
    if (this.current) this.finish({ kind: 'aborted' })
    await this.kill()
  }

  private spawn(): Worker {
    const w = new Worker(BOOT, { workerData: { module: (this.o.module ?? DEFAULT_MODULE).href } })
    this.worker = w
    this.ready = false
    this.spawned++
    w.unref()
    let error: Error | null = null
    w.on('message', (m: unknown) => {
      if (w !== this.worker) return
      if (isReady(m)) return this.loaded()
      this.replied(m)
    })
    w.on('messageerror', (err) => w === this.worker && this.unusable(`a reply that could not be read (${err.message})`))
    w.on('error', (err) => { error = err })
    w.on('exit', (code) => w === this.worker && this.crashed(error ?? new Error(`exited with code ${code}`)))
    return w
  }

  private pump(): void {
    if (this.current || this.stopped) return
    const task = this.queue.shift()
    if (!task) return
    const w = this.worker ?? this.spawn()
    const id = this.nextId++
    this.current = { task, id, timer: null }
    try {
      w.postMessage({ id, request: task.request })
    } catch (err) {
      // not structured-clone-safe: a bug in what the job sends; it still gets its decision
      this.o.log.error({ err: (err as Error).message, jobId: task.request.job.id }, 'an adapter request could not be sent to the worker thread; it runs in the hub\'s thread')
      return this.fallBack()
    }
    w.ref()
    if (this.ready) this.startBudget()
  }

  private loaded(): void {
    this.ready = true
    if (this.current && !this.current.timer) this.startBudget()
  }

  private startBudget(): void {
    const c = this.current!
    c.timer = setTimeout(() => {
      if (this.current !== c) return
      this.o.log.warn({ jobId: c.task.request.job.id, budgetMs: this.o.budgetMs, why: c.task.request.why }, 'the adapter\'s search ran past its time budget; it is stopped (the worker thread is restarted) and the job keeps its current epoch')
      this.restart()
      this.finish({ kind: 'timeout', budgetMs: this.o.budgetMs })
    }, this.o.budgetMs)
  }

  private replied(m: unknown): void {
    const check = checkReply(m)
    if (!check.ok) return this.unusable(check.problem)
    if (!this.current || check.reply.id !== this.current.id) return // a reply to a request given up
    this.finish('error' in check.reply ? new Error(check.reply.error) : { kind: 'decided', decision: check.reply.decision, thread: 'worker' })
  }

  /** A reply the hub cannot use: the request runs in the hub's thread. */
  private unusable(problem: string): void {
    if (!this.current) return
    this.o.log.error({ jobId: this.current.task.request.job.id, problem }, 'the adapter\'s worker thread replied with something unusable; the request runs in the hub\'s thread')
    this.fallBack()
  }

  private crashed(err: Error): void {
    this.worker = null
    const task = this.current?.task
    if (this.current?.timer) clearTimeout(this.current.timer)
    this.current = null
    if (task) task.crashes++
    const retry = task && task.crashes < 2
    this.o.log.error({ err: err.message, jobId: task?.request.job.id, crashes: task?.crashes }, `the adapter's worker thread crashed; it is restarted${task ? (retry ? ' and the search tried again there' : ' and the search runs in the hub\'s thread') : ''}`)
    if (this.stopped) return task?.settle({ kind: 'aborted' })
    this.spawn()
    if (task && retry) this.queue.unshift(task)
    else if (task) this.settleInHub(task)
    this.pump()
  }

  private fallBack(): void {
    const task = this.current!.task
    this.finish(null)
    this.settleInHub(task)
    this.pump()
  }

  private settleInHub(task: Task): void {
    try {
      task.settle({ kind: 'decided', decision: decide(task.request), thread: 'hub' })
    } catch (err) {
      task.settle(err as Error)
    }
  }

  /** Ends the current request with `o` (null: its caller settles it) and goes on to the next. */
  private finish(o: SearchOutcome | Error | null): void {
    const c = this.current!
    if (c.timer) clearTimeout(c.timer)
    this.current = null
    this.worker?.unref()
    if (o) c.task.settle(o)
    if (o) this.pump()
  }

  /** A request given up by its job: dropped from the queue, or its running search stopped. */
  private abandon(task: Task): void {
    const k = this.queue.indexOf(task)
    if (k >= 0) {
      this.queue.splice(k, 1)
      return task.settle({ kind: 'aborted' })
    }
    if (this.current?.task !== task) return
    this.restart()
    this.finish({ kind: 'aborted' })
  }

  /** Stops the worker's search in progress: it is terminated and a fresh one started. */
  private restart(): void {
    void this.kill()
    this.start()
  }

  private async kill(): Promise<void> {
    const w = this.worker
    this.worker = null
    this.ready = false
    if (w) await w.terminate()
  }
}

function isReady(m: unknown): boolean {
  return typeof m === 'object' && m !== null && (m as { ready?: unknown }).ready === true
}
