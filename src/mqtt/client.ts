/**
 * The MQTT client every Dora process uses (hub, device bridge, tools). It fixes three gaps of
 * mqtt.js 5: publishes in flight are bounded (mqtt.js queues without limit), every publish has a
 * timeout (publishAsync never settles while the broker is unreachable, MQTT.js issue 1987), and
 * subscriptions are restored after every reconnect. Messages are routed to handlers by filter;
 * a handler that throws is reported (`onHandlerError`), never fatal. Publishes go in one of two
 * lanes with their own in-flight bounds: `control` (plans, assignments, states: the default) and
 * `bulk` (error replies and other best-effort answers, with a bounded queue), so answers to a
 * flooding client never queue in front of the control plane.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { Semaphore } from './semaphore.js'
import { storeWithoutCopy, payloadFor } from './no-copy-publish.js'
import { PayloadPool, lendingOptions } from './lent-payloads.js'
import { framedReads } from './pooled-reads.js'
import type { SplitPayload } from '../shared/split-payload.js'
import { topicMatches } from '../shared/topic-filter.js'
import { DoraError, ErrorCodes } from '../errors.js'

export type MessageHandler = (topic: string, payload: Buffer, retained: boolean) => void

export interface DoraClientOptions {
  url: string
  clientId: string
  username?: string | undefined
  password?: string | undefined
  /** Most publishes awaiting acknowledgement (or queued while offline) at once. */
  maxInflight: number
  publishTimeoutMs: number
  will?: { topic: string; payload: string | Buffer; qos: 0 | 1 | 2; retain: boolean }
  protocolVersion?: 4 | 5
  /** Milliseconds between reconnect attempts; 0 disables reconnecting. */
  reconnectPeriodMs?: number
  connectTimeoutMs?: number
  rejectUnauthorized?: boolean
  /** CA certificate(s) to trust for an mqtts:// broker with a private certificate authority. */
  ca?: Buffer | undefined
  /** MQTT keep-alive, seconds (default 60). */
  keepaliveS?: number
  /** Who connects, named in the first connection's error (default: `as {clientId}` after the URL). */
  label?: string
  /** Told of a message handler that threw (the other handlers still run). */
  onHandlerError?: (topic: string, err: Error) => void
  /** Told after every reconnection (not the first connection); the subscriptions are already being restored. */
  onReconnect?: () => void
  /** Told of the first error of each outage after the first connection (reconnecting goes on). */
  onOutage?: (message: string) => void
}

export interface SubscribeOptions {
  /**
   * The handler lets go of the payload when it returns (keeps no view of it, copies what it
   * keeps): large payloads of topics whose every handler says so arrive in reused buffers
   * (lent-payloads.ts).
   */
  transient?: boolean
}

export interface PublishOptions {
  qos?: 0 | 1 | 2
  retain?: boolean
  /** `bulk`: best effort, behind its own bound; refused at once when its queue is full. */
  lane?: 'control' | 'bulk'
}

/** Bulk publishes in flight at once, and waiting beyond those. */
const BULK_INFLIGHT = 4
const BULK_QUEUE = 64

export class DoraClient {
  private client: MqttClient | null = null
  private readonly handlers = new Map<string, Set<MessageHandler>>()
  /** Per filter, the handlers subscribed with `transient`. */
  private readonly transient = new Map<string, Set<MessageHandler>>()
  private readonly payloads = new PayloadPool((topic) => this.lendable(topic))
  private readonly inflight: Semaphore
  private readonly bulk = new Semaphore(BULK_INFLIGHT)
  /** Filters whose SUBACK is on its way. */
  private readonly subscribing = new Map<string, Promise<void>>()
  private ended = 0

  constructor(private readonly options: DoraClientOptions) {
    this.inflight = new Semaphore(options.maxInflight)
  }

  get connected(): boolean {
    return this.client?.connected ?? false
  }

  /**
   * Which connection this is: connections ended so far. A message and an acknowledgement read
   * under the same number came on one connection (mqtt.js re-sends unacknowledged publishes on
   * the next, and may settle them before it emits `connect`).
   */
  get connection(): number {
    return this.ended
  }

  /** Publishes sent and awaiting acknowledgement (at most maxInflight). */
  get publishesAwaitingAck(): number {
    return this.inflight.active
  }

  /** Publishes holding a slot, or waiting for one. */
  get publishesInFlight(): number {
    return this.inflight.active + this.inflight.waiting
  }

  /** Connects; rejects with a clear error when the first connection fails. */
  async start(): Promise<void> {
    const o = this.options
    const opts: IClientOptions = {
      clientId: o.clientId,
      username: o.username,
      password: o.password,
      protocolVersion: o.protocolVersion ?? 4,
      reconnectPeriod: o.reconnectPeriodMs ?? 1000,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      resubscribe: false,
      clean: true,
      rejectUnauthorized: o.rejectUnauthorized ?? true,
      keepalive: o.keepaliveS ?? 60,
    }
    if (o.ca) opts.ca = o.ca
    if (o.will) opts.will = { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: o.will.qos, retain: o.will.retain }
    const client = mqtt.connect(o.url, { ...lendingOptions(opts, this.payloads), manualConnect: true })
    framedReads(client, o.url, { lender: this.payloads, v311: opts.protocolVersion === 4 })
    client.connect()
    storeWithoutCopy(client)
    this.client = client
    client.on('message', (topic, payload, packet) => {
      this.dispatch(topic, payload, packet.retain === true)
      this.payloads.giveBack(payload)
    })
    // a connection that ends is over for good (a reconnection is another one), before any packet of the next arrives
    client.on('close', () => this.ended++)
    client.on('connect', () => {
      // mqtt.js leaves Nagle on: small packets (PUBACKs) would wait for delayed ACKs (40 ms).
      const stream = client.stream as { setNoDelay?: (on: boolean) => void }
      stream.setNoDelay?.(true)
      // Clean sessions lose subscriptions on reconnect: restore them all.
      const filters = [...this.handlers.keys()]
      if (filters.length) client.subscribe(filters, { qos: 1 }, () => {})
    })
    client.on('error', () => {}) // surfaced through start() or reconnects; never crashes the process
    await new Promise<void>((resolve, reject) => {
      const onConnect = () => {
        client.off('error', onError)
        resolve()
      }
      const onError = (err: Error) => {
        client.off('connect', onConnect)
        client.end(true)
        reject(new DoraError(ErrorCodes.BROKER_CONNECT, o.label ? `${o.label} cannot connect to ${o.url}: ${err.message}` : `cannot connect to ${o.url} as ${o.clientId}: ${err.message}`))
      }
      client.once('connect', onConnect)
      client.once('error', onError)
    })
    this.followOutages(client)
  }

  /** After the first connection: each outage's first error is reported once; every reconnection is told. */
  private followOutages(client: MqttClient): void {
    let outage = false
    client.on('connect', () => {
      outage = false
      this.options.onReconnect?.()
    })
    client.on('error', (err) => {
      if (!outage) this.options.onOutage?.(`broker: ${err.message} (reconnecting)`)
      outage = true
    })
  }

  /**
   * Adds a handler for a filter, or for several (subscribed in one SUBSCRIBE: granted together);
   * resolves once the broker has granted them (a handler of a filter whose SUBACK is still on its
   * way waits for that same SUBACK).
   */
  async subscribe(filter: string | readonly string[], handler: MessageHandler, options: SubscribeOptions = {}): Promise<void> {
    const list = typeof filter === 'string' ? [filter] : [...filter]
    const fresh: string[] = []
    const waits: Array<Promise<void>> = []
    for (const f of list) {
      let set = this.handlers.get(f)
      if (!set) {
        this.handlers.set(f, (set = new Set()))
        fresh.push(f)
      }
      set.add(handler)
      const transient = this.transient.get(f) ?? new Set()
      if (options.transient) this.transient.set(f, transient.add(handler))
      else transient.delete(handler)
      const pending = this.subscribing.get(f)
      if (pending) waits.push(pending)
    }
    const client = this.client
    if (fresh.length && client?.connected) {
      const p = (async () => {
        const granted = await client.subscribeAsync(fresh, { qos: 1 })
        const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic)
        if (refused.length) throw new DoraError(ErrorCodes.BROKER_CONNECT, `subscription to ${refused.join(', ')} refused by the broker`)
      })().finally(() => {
        for (const f of fresh) if (this.subscribing.get(f) === p) this.subscribing.delete(f)
      })
      for (const f of fresh) this.subscribing.set(f, p)
      waits.push(p)
    }
    await Promise.all(waits)
  }

  /** Removes a handler; the last one of a filter also unsubscribes it. */
  async unsubscribe(filter: string, handler: MessageHandler): Promise<void> {
    const set = this.handlers.get(filter)
    this.transient.get(filter)?.delete(handler)
    if (!set?.delete(handler) || set.size) return
    this.handlers.delete(filter)
    this.transient.delete(filter)
    if (this.client?.connected) await this.client.unsubscribeAsync(filter)
  }

  async publish(topic: string, payload: string | Buffer | SplitPayload, options: PublishOptions = {}): Promise<void> {
    const client = this.client
    if (!client) throw new DoraError(ErrorCodes.BROKER_CONNECT, 'client not started')
    const lane = options.lane === 'bulk' ? this.bulk : this.inflight
    if (lane === this.bulk && this.bulk.waiting >= BULK_QUEUE) throw new DoraError(ErrorCodes.PUBLISH_DROPPED, `publish to ${topic} dropped: the bulk lane is full`)
    const release = await lane.acquire()
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        client.publishAsync(topic, payloadFor(client, payload), { qos: options.qos ?? 1, retain: options.retain ?? false }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new DoraError(ErrorCodes.PUBLISH_TIMEOUT, `publish to ${topic} not acknowledged within ${this.options.publishTimeoutMs} ms`)),
            this.options.publishTimeoutMs,
          )
        }),
      ])
    } finally {
      clearTimeout(timer)
      release()
    }
  }

  /** Disconnects. `graceful` sends DISCONNECT (no last will); otherwise the socket is dropped. */
  async stop(graceful = true): Promise<void> {
    const client = this.client
    this.client = null
    if (!client) return
    // a broker that is gone never acknowledges what is in flight: then end at once, and never wait long
    let timer: NodeJS.Timeout | undefined
    const forced = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        client.end(true)
        resolve()
      }, 1000)
    })
    await Promise.race([client.endAsync(!graceful || !client.connected), forced])
    clearTimeout(timer)
  }

  /** Drops the connection at once without a DISCONNECT, as a crash would (the broker sends the last will). */
  drop(): void {
    const client = this.client
    this.client = null
    client?.stream?.destroy()
    client?.end(true)
  }

  /** Whether every handler of `topic` lets go of its payload on return (and there is one). */
  private lendable(topic: string): boolean {
    let any = false
    for (const [filter, set] of this.handlers) {
      if (!topicMatches(filter, topic)) continue
      const transient = this.transient.get(filter)
      for (const h of set) if (!transient?.has(h)) return false
      any = true
    }
    return any
  }

  private dispatch(topic: string, payload: Buffer, retained: boolean): void {
    for (const [filter, set] of this.handlers) {
      if (!topicMatches(filter, topic)) continue
      for (const handler of set) {
        const report = (err: unknown) => this.options.onHandlerError?.(topic, err instanceof Error ? err : new Error(String(err)))
        try {
          // an async handler's rejection is reported too, never an unhandled rejection
          const r: unknown = handler(topic, payload, retained)
          if (r instanceof Promise) r.catch(report)
        } catch (err) {
          report(err)
        }
      }
    }
  }
}
