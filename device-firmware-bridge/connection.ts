/**
 * Bounded waits on calls that may never settle while the broker is unreachable (MQTT.js issue
 * 1987). The connection's lifecycle itself (first connection, outages, reconnections) is the
 * shared client's (src/mqtt/client.ts).
 */
import { DoraError, ErrorCodes } from '../src/errors.js'

/** Publishes a device keeps awaiting acknowledgement at once, by default (tensor chunks: a window wide enough to keep a link busy). */
export const DEVICE_MAX_INFLIGHT = 64

/** Settles like `p`, or rejects after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new DoraError(ErrorCodes.NO_ANSWER, `no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer))
}
