/**
 * The device's MQTT connection settings, and bounded waits on calls that may never settle while
 * the broker is unreachable (MQTT.js issue 1987). The connection's lifecycle itself (first
 * connection, outages, reconnections) is the shared client's (src/mqtt/client.ts).
 */
import type { DoraClientOptions } from '../src/mqtt/client.js'
import { AVAILABILITY, topics } from '../src/protocol/topics.js'
import { DoraError, ErrorCodes } from '../src/errors.js'

/** Publishes a device keeps awaiting acknowledgement at once, by default (tensor chunks: a window wide enough to keep a link busy). */
export const DEVICE_MAX_INFLIGHT = 64

/** What a device says of its connection (the agent's options). */
export interface DeviceConnection {
  readonly url: string
  readonly id: string
  /** Default: the device id. */
  readonly username?: string
  readonly password?: string
  readonly ca?: Buffer
  readonly maxInflight?: number
  /** Default: 60 s on the emulation clock. */
  readonly publishTimeoutMs?: number
}

/** The device's client: its id, its last will (`offline`, retained), timeouts stretched by the emulation clock `k`. */
export function deviceClientOptions(o: DeviceConnection, k: number, hooks: Pick<DoraClientOptions, 'onHandlerError' | 'onOutage' | 'onReconnect'>): DoraClientOptions {
  return {
    url: o.url,
    clientId: `dora-device-${o.id}`,
    username: o.username ?? o.id,
    password: o.password,
    ca: o.ca,
    label: `device ${o.id}`,
    maxInflight: o.maxInflight ?? DEVICE_MAX_INFLIGHT,
    publishTimeoutMs: o.publishTimeoutMs ?? 60_000 * k,
    // on a stretched emulation clock a link moves a big stage model slowly, and the broker's
    // PINGRESP waits behind it: the keep-alive stretches with the clock
    keepaliveS: Math.min(65_535, Math.round(60 * k)),
    connectTimeoutMs: 30_000,
    will: { topic: topics.device(o.id, 'availability'), payload: AVAILABILITY.offline, qos: 1, retain: true },
    ...hooks,
  }
}

/** Settles like `p`, or rejects after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new DoraError(ErrorCodes.NO_ANSWER, `no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer))
}
