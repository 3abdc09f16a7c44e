/**
 * When a job plans again: fleet changes close together are merged (debounced), and while a plan
 * is being made the changes that arrive are merged latest-wins: one run in flight, one more after
 * it on the newest state, however many changes came (no queue of runs grows).
 */

/** Reasons named for one run, at most (the newest; the others are counted). */
const MAX_REASONS = 8

export interface ReplanGateOptions {
  /** Plans once; `why` names the changes merged into this run, `eventMs` the first one's time. */
  readonly run: (why: string, eventMs: number) => Promise<void>
  /** Changes within this window are planned together, ms. */
  readonly debounceMs: number
  readonly clock: () => number
  /** A run that failed (the current epoch stays). */
  readonly failed: (err: Error) => void
}

export class ReplanGate {
  private readonly reasons = new Set<string>()
  private more = 0
  private firstMs: number | null = null
  private timer: NodeJS.Timeout | null = null
  private inFlight: Promise<void> | null = null
  private stopped = false
  /** Runs started so far. */
  runs = 0

  constructor(private readonly o: ReplanGateOptions) {}

  /** A change: plan again shortly (after the run in flight, if one is). */
  changed(why: string): void {
    if (this.stopped) return
    // the newest reasons are named (a repeated one moves to the end), the older only counted
    this.reasons.delete(why)
    this.reasons.add(why)
    if (this.reasons.size > MAX_REASONS) {
      this.reasons.delete(this.reasons.values().next().value!)
      this.more++
    }
    this.firstMs ??= this.o.clock()
    this.arm()
  }

  /** Whether a run is in flight. */
  get busy(): boolean {
    return this.inFlight !== null
  }

  /** No more runs; resolves when the run in flight (if any) has ended. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.inFlight
  }

  private arm(): void {
    if (this.timer || this.inFlight || this.firstMs === null || this.stopped) return
    // a change that waited for the run in flight has had its debounce already
    const waitMs = Math.min(this.o.debounceMs, Math.max(0, this.firstMs + this.o.debounceMs - this.o.clock()))
    this.timer = setTimeout(() => this.fire(), waitMs)
  }

  private fire(): void {
    this.timer = null
    const why = [...this.reasons].join('; ') + (this.more ? ` (and ${this.more} earlier)` : '')
    const at = this.firstMs!
    this.reasons.clear()
    this.more = 0
    this.firstMs = null
    this.runs++
    this.inFlight = this.o.run(why, at).catch(this.o.failed).finally(() => {
      this.inFlight = null
      this.arm()
    })
  }
}
