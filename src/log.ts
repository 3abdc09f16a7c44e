/**
 * Structured logging (pino: JSON lines, cheap when disabled). One root logger per process,
 * children per component (`log.child({ component: 'registry' })`).
 */
import { pino, type Logger } from 'pino'

export type { Logger }

export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino({ level, base: { app: 'dora' } }, destination as pino.DestinationStream)
}

/** A logger that drops everything (tests that do not read logs). */
export const silentLogger: Logger = pino({ level: 'silent' })
