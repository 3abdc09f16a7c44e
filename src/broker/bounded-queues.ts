/**
 * A bound on what the embedded broker keeps for each persistent session (MQTT clean=false): the
 * QoS 1 messages queued for it while it is away and those sent to it and not yet acknowledged.
 * Aedes keeps both without limit, so one client that subscribes with a persistent session to a
 * busy filter (an observer's `dora/v1/#`, or a device's own tensors) and never acknowledges, or
 * goes away, grew the hub's memory by every tensor of the fleet (measured: 3,000 x 64 KiB
 * publishes, +199 MB held). Mosquitto bounds the same queue with `max_queued_messages` and
 * `max_queued_bytes` (mosquitto-config.ts writes the same values): past the bound, a session's
 * new QoS 1 messages are dropped, as Mosquitto drops them; a dropped tensor chunk is re-sent by
 * its source after the reassembly timeout. Clean sessions queue nothing and are not affected.
 *
 * The bound holds per account (all the persistent sessions one login opened, `accountOf`), so
 * opening more sessions does not buy more room: one dashboard login with a thousand client ids
 * holds what one session may.
 *
 * Wraps any Aedes persistence (in memory, or Redis) by its queue calls: enqueue counts, the
 * message id given when a queued message is sent is remembered with its size, and the
 * acknowledgement (outgoingClearMessageId) gives the room back.
 */
export interface QueueBounds {
  readonly maxMessages: number
  readonly maxBytes: number
}

interface Queued {
  messages: number
  bytes: number
  /** Dropped since the account last had room (accounts only). */
  dropped: number
}

interface Session extends Queued {
  readonly account: Queued
  readonly accountKey: string
  /** Message id -> bytes, for the messages sent and awaiting acknowledgement. */
  readonly sent: Map<number, number>
}

interface QueuePacket {
  readonly payload?: Uint8Array | string
  readonly messageId?: number
}

interface Sub {
  readonly clientId: string
}

interface QueuePersistence {
  outgoingEnqueue(sub: Sub, packet: QueuePacket): Promise<void>
  outgoingEnqueueCombi(subs: Sub[], packet: QueuePacket): Promise<void>
  outgoingUpdate(client: { id: string }, packet: QueuePacket): Promise<void>
  outgoingClearMessageId(client: { id: string }, packet: QueuePacket): Promise<unknown>
  cleanSubscriptions(client: { id: string }): Promise<void>
  outgoingStream(client: { id: string }): AsyncIterable<QueuePacket>
}

const bytesOf = (p: QueuePacket): number => (typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload?.byteLength ?? 0)

export class BoundedQueues {
  private readonly sessions = new Map<string, Session>()
  private readonly accounts = new Map<string, Queued>()
  /** Messages dropped for accounts over their bound, in all. */
  dropped = 0

  constructor(
    private readonly bounds: QueueBounds,
    /** Told once per episode (the first drop after the account had room) of an account over its bound. */
    private readonly onFull: (account: string, clientId: string, queued: { messages: number; bytes: number }) => void,
    /** The account a client id belongs to (the connection policy's owner); unknown: the id alone. */
    private readonly accountOf: (clientId: string) => string | undefined = () => undefined,
  ) {}

  /** What is queued for a session now, and for its account (tests, metrics). */
  queued(clientId: string): { messages: number; bytes: number; account: { messages: number; bytes: number } } {
    const q = this.sessions.get(clientId)
    return { messages: q?.messages ?? 0, bytes: q?.bytes ?? 0, account: { messages: q?.account.messages ?? 0, bytes: q?.account.bytes ?? 0 } }
  }

  /** The persistence with its queues bounded: every other call goes to it unchanged. */
  wrap<P extends object>(persistence: P): P {
    const inner = persistence as unknown as QueuePersistence
    const own: Partial<QueuePersistence> = {
      outgoingEnqueue: (sub, packet) => (this.admit(sub.clientId, packet) ? inner.outgoingEnqueue(sub, packet) : Promise.resolve()),
      outgoingEnqueueCombi: (subs, packet) => {
        const kept = subs.filter((s) => this.admit(s.clientId, packet))
        return kept.length ? inner.outgoingEnqueueCombi(kept, packet) : Promise.resolve()
      },
      outgoingUpdate: (client, packet) => {
        // (a QoS 2 PUBREL updates the same id without a payload: the first size stays)
        const q = this.sessions.get(client.id)
        if (q && packet.messageId !== undefined && !q.sent.has(packet.messageId)) q.sent.set(packet.messageId, bytesOf(packet))
        return inner.outgoingUpdate(client, packet)
      },
      outgoingClearMessageId: async (client, packet) => {
        const cleared = await inner.outgoingClearMessageId(client, packet)
        this.release(client.id, packet.messageId)
        return cleared
      },
      // a clean connection discards the session [MQTT-3.1.2-6]; Aedes keeps its queue in the
      // persistence all the same (only subscriptions go): cleared here, for sessions that queued
      cleanSubscriptions: async (client) => {
        await inner.cleanSubscriptions(client)
        const q = this.sessions.get(client.id)
        if (!q) return
        this.forget(client.id, q)
        for await (const p of inner.outgoingStream(client)) await inner.outgoingClearMessageId(client, p).catch(() => undefined)
      },
    }
    return new Proxy(persistence, {
      get: (target, prop, receiver) => {
        if (typeof prop === 'string' && prop in own) return own[prop as keyof QueuePersistence]
        const v = Reflect.get(target, prop, receiver) as unknown
        // the persistence's own methods run on it, not on the proxy (private fields)
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    })
  }

  private admit(clientId: string, packet: QueuePacket): boolean {
    const q = this.session(clientId)
    const a = q.account
    const bytes = bytesOf(packet)
    if (a.messages + 1 > this.bounds.maxMessages || a.bytes + bytes > this.bounds.maxBytes) {
      this.dropped++
      if (a.dropped++ === 0) this.onFull(q.accountKey, clientId, { messages: a.messages, bytes: a.bytes })
      return false
    }
    q.messages++
    q.bytes += bytes
    a.messages++
    a.bytes += bytes
    return true
  }

  private session(clientId: string): Session {
    let q = this.sessions.get(clientId)
    if (q) return q
    const accountKey = this.accountOf(clientId) ?? `client:${clientId}`
    let account = this.accounts.get(accountKey)
    if (!account) this.accounts.set(accountKey, (account = { messages: 0, bytes: 0, dropped: 0 }))
    this.sessions.set(clientId, (q = { messages: 0, bytes: 0, dropped: 0, account, accountKey, sent: new Map() }))
    return q
  }

  private release(clientId: string, messageId: number | undefined): void {
    const q = this.sessions.get(clientId)
    if (!q || messageId === undefined) return
    const bytes = q.sent.get(messageId)
    if (bytes === undefined) return
    q.sent.delete(messageId)
    q.messages--
    q.bytes -= bytes
    q.account.messages--
    q.account.bytes -= bytes
    q.account.dropped = 0
    if (q.messages === 0) this.forget(clientId, q)
  }

  /** A session with nothing queued, or discarded: its account gives back what it held. */
  private forget(clientId: string, q: Session): void {
    this.sessions.delete(clientId)
    q.account.messages -= q.messages
    q.account.bytes -= q.bytes
    for (const other of this.sessions.values()) if (other.account === q.account) return
    this.accounts.delete(q.accountKey)
  }
}
