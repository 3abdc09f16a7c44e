/** A real pino logger whose JSON lines are kept in memory, so tests can read what was logged. */
import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../src/log.js'

export interface CapturedLog {
  readonly log: Logger
  /** Every line logged so far, parsed. */
  readonly lines: Array<Record<string, unknown>>
  /** Lines whose `msg` matches. */
  find(msg: RegExp): Array<Record<string, unknown>>
}

export function captureLog(level = 'info'): CapturedLog {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>)
      cb()
    },
  })
  return { log: createLogger(level, sink), lines, find: (msg) => lines.filter((l) => msg.test(String(l.msg))) }
}
