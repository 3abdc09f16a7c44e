/**
 * How a long-running Dora process (`dora hub`, `dora device`, `dora demo`) ends. It stops on
 * SIGINT or SIGTERM, and also when the process that started it goes away: a child started with an
 * IPC channel (as `dora demo` starts its devices) sees the channel close however its parent died,
 * SIGKILL included. Whatever the stop waits for (a broker that is gone, a publish that never
 * settles), the process exits `graceMs` after the stop began; a second signal exits at once.
 */

/** What ended the process: a signal's name, or `parent` (its parent's IPC channel closed). */
export type StopReason = 'SIGINT' | 'SIGTERM' | 'parent'

/** Exit codes by reason (128 + signal number, as a shell reports a signal's death). */
const EXIT_CODES: Record<StopReason, number> = { SIGINT: 130, SIGTERM: 143, parent: 129 }

export interface Shutdown {
  /** Settles with the reason once a stop is asked for. */
  readonly requested: Promise<StopReason>
  /** The reason, once asked for (null before). */
  readonly reason: StopReason | null
  /** The code to exit with for that reason (0 before any). */
  readonly exitCode: number
}

/**
 * Listens for the stop signals and for the parent's departure from now on. From the first of
 * them, a deadline of `graceMs` runs: when the process is still alive then, it writes why to
 * stderr and exits (code 1).
 */
export function watchForStop(name: string, graceMs = 4000): Shutdown {
  let reason: StopReason | null = null
  let resolve!: (r: StopReason) => void
  const requested = new Promise<StopReason>((r) => (resolve = r))
  const stop = (why: StopReason) => {
    if (reason) {
      // a second request: leave now
      if (why !== 'parent') process.exit(EXIT_CODES[why])
      return
    }
    reason = why
    const deadline = setTimeout(() => {
      process.stderr.write(`${name}: still stopping ${graceMs} ms after ${why === 'parent' ? 'its parent went away' : why}; exiting now\n`)
      process.exit(1)
    }, graceMs)
    // the deadline alone does not keep the process alive
    deadline.unref()
    resolve(why)
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
  if (process.channel) {
    // bin/dora.mjs's exit-at-once while loading gives way to the clean stop
    for (const l of process.listeners('disconnect')) if ((l as { doraEarlyStop?: boolean }).doraEarlyStop) process.off('disconnect', l)
    process.once('disconnect', () => stop('parent'))
    // the channel alone does not keep the process alive either
    process.channel.unref()
  }
  return {
    requested,
    get reason() {
      return reason
    },
    get exitCode() {
      return reason ? EXIT_CODES[reason] : 0
    },
  }
}
