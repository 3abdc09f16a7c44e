/**
 * The device's MQTT connection lifecycle: the first connection (which fails fast and stops
 * reconnecting), later outages (reported once each, never fatal), and bounded waits on mqtt.js
 * calls that never settle while the broker is unreachable (MQTT.js issue 1987).
 */
import type { MqttClient } from 'mqtt'
import { DoraError, ErrorCodes } from '../src/errors.js'

/** Resolves on the first CONNACK; on an error first, ends the client (no reconnecting in the background) and rejects. */
export function firstConnect(client: MqttClient, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      client.off('connect', onConnect)
      client.end(true)
      reject(new DoraError(ErrorCodes.BROKER_CONNECT, `${what}: ${err.message}`))
    }
    const onConnect = () => {
      client.off('error', onError)
      resolve()
    }
    client.once('connect', onConnect)
    client.once('error', onError)
  })
}

/** Later errors (a broker restarting) are the reconnect loop's business: the first of each outage is reported. */
export function reportOutages(client: MqttClient, report: (message: string) => void): void {
  let outage = false
  client.on('connect', () => (outage = false))
  client.on('error', (err) => {
    if (!outage) report(`broker: ${err.message} (reconnecting)`)
    outage = true
  })
}

/** Settles like `p`, or rejects after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new DoraError(ErrorCodes.NO_ANSWER, `no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer))
}
