/**
 * What the hub does with a message it cannot accept (topics.md § Device error): every one is
 * counted (Prometheus `dora_hub_bad_messages_total{kind, code}`); per sender, the first
 * `burst` in each window are logged and answered on the sender's error topic, the rest only
 * counted, with one summary line per sender and window. A client flooding bad payloads thus costs
 * the hub a decode and a counter each, not a log line and a QoS 1 publish each.
 */
import type { Logger } from '../log.js'

export interface BadMessageOptions {
  /** Replies and log lines per sender per window. */
  readonly burst: number
  readonly windowMs: number
  readonly clock: () => number
  readonly log: Logger
  /** Counts every bad message (metrics). */
  readonly count: (kind: string, code: string) => void
  /** Counts the replies left out (metrics). */
  readonly suppressed?: (kind: string) => void
}

export interface BadMessage {
  /** Who sent it: a device id, or the topic's job for operator topics. */
  readonly sender: string
  /** What kind of message: caps, heartbeat, availability, spec, upload, goal, handler, ... */
  readonly kind: string
  readonly topic: string
  readonly code: string
  readonly error: string
}

/** Senders tracked at once; beyond it, windows that have ended are forgotten first. */
const MAX_SENDERS = 10_000

export class BadMessages {
  private readonly windows = new Map<string, { startMs: number; seen: number }>()

  constructor(private readonly o: BadMessageOptions) {}

  /** Counts a bad message; true when the sender should get an answer (within its burst). */
  report(m: BadMessage): boolean {
    this.o.count(m.kind, m.code)
    const now = this.o.clock()
    let w = this.windows.get(m.sender)
    if (w && now - w.startMs >= this.o.windowMs) {
      this.summarise(m.sender, w)
      w = undefined
    }
    if (!w) {
      if (this.windows.size >= MAX_SENDERS) this.forget(now)
      w = { startMs: now, seen: 0 }
      this.windows.set(m.sender, w)
    }
    w.seen++
    if (w.seen <= this.o.burst) {
      this.o.log.warn({ sender: m.sender, topic: m.topic, code: m.code, error: m.error }, `rejected ${m.kind} message`)
      return true
    }
    this.o.suppressed?.(m.kind)
    return false
  }

  private summarise(sender: string, w: { seen: number }): void {
    if (w.seen > this.o.burst) {
      this.o.log.warn({ sender, rejected: w.seen, unanswered: w.seen - this.o.burst, windowMs: this.o.windowMs }, 'bad messages from one sender over the rate limit: counted, not answered')
    }
  }

  private forget(now: number): void {
    for (const [sender, w] of this.windows) {
      if (now - w.startMs >= this.o.windowMs) {
        this.summarise(sender, w)
        this.windows.delete(sender)
      }
    }
    // all windows still open: the oldest goes (its sender gets a fresh burst later, nothing more)
    if (this.windows.size >= MAX_SENDERS) this.windows.delete(this.windows.keys().next().value!)
  }
}
