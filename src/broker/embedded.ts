/**
 * The embedded MQTT broker: Aedes on TCP, WebSocket and (when configured) TLS, behind the frame
 * guard (packet size limit, partial-packet timeout), the connection policy (client ids bound to
 * accounts, connections per account, keepalive cap) and the ACL. `start()` binds, `stop()` closes
 * every client and server.
 */
import net from 'node:net'
import tls from 'node:tls'
import http from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { Aedes, type Client, type AuthenticateError } from 'aedes'
import { WebSocketServer, createWebSocketStream } from 'ws'
import mqemitterRedis from 'mqemitter-redis'
import aedesPersistenceRedis from 'aedes-persistence-redis'
import aedesMemoryPersistence from 'aedes-persistence'
import { Redis } from 'ioredis'
import { Acl, type Principal } from './acl.js'
import { GuardedConnection } from './frame-guard.js'
import { ConnectionPolicy, accountOf, type Admission } from './connection-policy.js'
import { BoundedQueues, type QueueBounds } from './bounded-queues.js'
import { FileSessionOwners, RedisSessionOwners, type SessionOwnerStore } from './session-owners.js'
import type { Logger } from '../log.js'
import { DoraError, ErrorCodes } from '../errors.js'

export interface EmbeddedBrokerOptions {
  host: string
  port: number
  wsPort: number | null
  tls: { port: number; keyFile: string; certFile: string } | null
  maxPacketBytes: number
  drainTimeoutMs: number
  acl: Acl
  log: Logger
  /** Connections one account may hold at once (the hub's own account excepted). */
  maxConnectionsPerAccount?: number
  /** Keepalive given to a client asking for 0 (never time out) or for more, s. */
  maxKeepaliveS?: number
  /** A packet begun and not finished within this time closes the connection, ms. */
  partialPacketTimeoutMs?: number
  /** What a persistent session may have queued (QoS 1, away or unacknowledged); beyond, its new messages are dropped (bounded-queues.ts). */
  maxQueued?: QueueBounds
  /** Told of every connection the policy refuses (for metrics). */
  onRefused?: (reason: 'client-id' | 'connections') => void
  /**
   * Redis URL shared by several hubs (scale-out): messages travel between their brokers through
   * Redis pub/sub (mqemitter-redis) and retained messages and sessions live in Redis
   * (aedes-persistence-redis). Null: this broker alone, in memory.
   */
  redis?: string | null
  /**
   * Where the owners of persistent sessions are kept without Redis (a file in it; with Redis they
   * live in Redis, beside the sessions). Null: in memory only.
   */
  stateDir?: string | null
}

export interface BoundPorts {
  port: number
  wsPort: number | null
  tlsPort: number | null
}

const SYS_PREFIX = '$SYS/'

/** Aedes's Redis back-ends for a Redis URL (redis://[user:password@]host:port[/db]). */
function redisBackends(url: string): { mq: ReturnType<typeof mqemitterRedis>; persistence: unknown; conn: Redis } {
  const u = new URL(url)
  if (u.protocol !== 'redis:') throw new DoraError(ErrorCodes.CONFIG_INVALID, `broker.embedded.redis must be a redis:// URL, not ${JSON.stringify(url)}`)
  const opts = {
    host: u.hostname, port: Number(u.port || 6379),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    db: Number(u.pathname.slice(1) || 0),
  }
  const conn = new Redis({ ...opts, connectionName: 'dora-persistence' })
  return { mq: mqemitterRedis({ ...opts, connectionName: 'dora-mq' }), persistence: aedesPersistenceRedis({ conn }), conn }
}

/** Aedes's own default persistence (a CommonJS module: its default import is the factory, whatever its types say). */
const memoryPersistence = aedesMemoryPersistence as unknown as () => object

/** Mosquitto's figures as Dora's Mosquitto config sets them (mosquitto-config.ts): 10,000 messages, 256 MiB. */
export const DEFAULT_MAX_QUEUED: QueueBounds = { maxMessages: 10_000, maxBytes: 256 * 1024 * 1024 }

export class EmbeddedBroker {
  private aedes: Aedes | null = null
  private redisConn: Redis | null = null
  private readonly servers: Array<net.Server | http.Server> = []
  private wss: WebSocketServer | null = null
  private readonly principals = new WeakMap<Client, Principal>()
  private readonly policy: ConnectionPolicy
  /** Owners of persistent sessions that outlive this broker (session-owners.ts); null: memory only. */
  private owners: SessionOwnerStore | null = null
  /** What each persistent session has queued, bounded (null until the broker starts). */
  queues: BoundedQueues | null = null

  constructor(private readonly options: EmbeddedBrokerOptions) {
    this.policy = new ConnectionPolicy({ maxConnectionsPerAccount: options.maxConnectionsPerAccount ?? 16, maxKeepaliveS: options.maxKeepaliveS ?? 300 })
  }

  /** Binds every configured listener; on any failure, closes what was opened and rethrows. */
  async start(): Promise<BoundPorts> {
    try {
      return await this.open()
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  private async open(): Promise<BoundPorts> {
    const { options: o } = this
    const log = o.log
    const shared = o.redis ? redisBackends(o.redis) : null
    this.redisConn = shared?.conn ?? null
    this.owners = shared ? new RedisSessionOwners(shared.conn) : o.stateDir ? await FileSessionOwners.open(join(o.stateDir, 'session-owners.json')) : null
    this.queues = new BoundedQueues(
      o.maxQueued ?? DEFAULT_MAX_QUEUED,
      (account, clientId, q) => log.warn({ account, clientId, ...q }, 'broker: an account\'s persistent sessions hold their most queued messages; new QoS 1 messages to them are dropped until they acknowledge'),
      (clientId) => this.policy.ownerOf(clientId),
    )
    const aedes = await Aedes.createBroker({
      ...(shared ? { mq: shared.mq } : {}),
      persistence: this.queues.wrap((shared?.persistence as object | undefined) ?? memoryPersistence()) as never,
      drainTimeout: o.drainTimeoutMs,
      preConnect: (_client, packet, done) => {
        // [MQTT-3.1.2-24] keepalive 0 means never time out: capped, like any larger value
        packet.keepalive = this.policy.keepaliveFor(packet.keepalive ?? 0)
        done(null, true)
      },
      authenticate: (client, username, password, done) => {
        this.authenticate(client, username, password).then((r) => done(r, r === null), (err: Error) => {
          o.log.warn({ clientId: client.id, err: err.message }, 'broker: could not check the client id\'s session owner; connection refused')
          done(Object.assign(new Error(err.message), { returnCode: 3 }) as AuthenticateError, false)
        })
      },
      authorizePublish: (client, packet, done) => {
        if (packet.topic.startsWith(SYS_PREFIX)) return done(new Error(`${SYS_PREFIX} topics are reserved`))
        if (!client) return done(null)
        const who = this.principals.get(client)
        if (who && o.acl.canPublish(who, packet.topic)) return done(null)
        log.warn({ clientId: client.id, topic: packet.topic, role: who?.role }, 'broker: publish refused by ACL')
        done(new Error(`not authorised to publish to ${packet.topic}`))
      },
      // training state reaches only the hub and its addressee, whatever a client subscribed to
      authorizeForward: (client, packet) => {
        const who = this.principals.get(client)
        return !who || o.acl.canReceive(who, packet.topic) ? packet : null
      },
      authorizeSubscribe: (client, sub, done) => {
        const who = this.principals.get(client)
        if (who && o.acl.canSubscribe(who, sub.topic)) return done(null, sub)
        log.warn({ clientId: client.id, filter: sub.topic, role: who?.role }, 'broker: subscription refused by ACL')
        done(null, null)
      },
    })
    this.aedes = aedes
    aedes.on('clientDisconnect', (client) => this.policy.closed(client))
    aedes.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'broker: client error'))
    aedes.on('connectionError', (client, err) => log.debug({ clientId: client?.id, err: err.message }, 'broker: connection error'))

    const serve = (conn: Duplex, remote: string | undefined, req?: http.IncomingMessage) =>
      aedes.handle(new GuardedConnection(conn, o.maxPacketBytes, (reason) => log.warn({ remote, reason }, 'broker: connection closed by frame guard'), remote, o.partialPacketTimeoutMs), req)

    // noDelay: small packets (PUBACKs, heartbeats) must not wait on Nagle + delayed ACK (40 ms).
    const tcp = net.createServer({ noDelay: true }, (socket) => {
      serve(socket, socket.remoteAddress)
    })
    return {
      port: await this.listen(tcp, o.port, 'TCP'),
      wsPort: o.wsPort !== null ? await this.openWebSocket(o.wsPort, serve) : null,
      tlsPort: o.tls ? await this.openTls(o.tls, serve) : null,
    }
  }

  /**
   * Credentials checked by the ACL, then the connection policy (client id, connections per
   * account, and the stored owner of a persistent session under the id). Null: admitted.
   */
  private async authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<AuthenticateError | null> {
    const { options: o } = this
    const log = o.log
    const remote = (client.conn as { remoteAddress?: string }).remoteAddress
    const who = o.acl.authenticate(username, password, remote)
    if (!who) {
      log.warn({ clientId: client.id, username: username ?? null, remote }, 'broker: connection refused (bad credentials or anonymous not allowed)')
      return Object.assign(new Error('bad username or password'), { returnCode: 4 }) as AuthenticateError
    }
    const account = accountOf(who)
    const stored = await this.owners?.get(client.id)
    const admitted: Admission = stored && stored !== account
      ? { ok: false, reason: `client id ${client.id} is in use by another account (persistent session)`, owner: stored }
      : this.policy.admit(client, who)
    if (!admitted.ok) {
      const idTaken = admitted.owner !== undefined
      log.warn({ clientId: client.id, username: username ?? null, remote, clean: client.clean, owner: admitted.owner, reason: admitted.reason },
        idTaken ? 'broker: client id takeover refused' : 'broker: connection refused (too many connections for the account)')
      o.onRefused?.(idTaken ? 'client-id' : 'connections')
      // [MQTT-3.2.2-3] 0x02 identifier rejected; a full account is "server unavailable" (0x03)
      return Object.assign(new Error(admitted.reason), { returnCode: idTaken ? 2 : 3 }) as AuthenticateError
    }
    // a persistent session is its account's until a clean connection under the id ends it ([MQTT-3.1.2-6])
    if (!client.clean) await this.owners?.set(client.id, account)
    else if (stored) await this.owners?.delete(client.id)
    this.principals.set(client, who)
    return null
  }

  private async openWebSocket(port: number, serve: (conn: Duplex, remote: string | undefined, req?: http.IncomingMessage) => void): Promise<number> {
    const server = http.createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n')
    })
    this.wss = new WebSocketServer({ server, maxPayload: this.options.maxPacketBytes + 16 })
    this.wss.on('error', () => {}) // the http server's own errors surface through listen()
    this.wss.on('connection', (ws, req) => {
      const stream = createWebSocketStream(ws)
      stream.on('error', () => {})
      serve(stream, req.socket.remoteAddress, req)
    })
    return this.listen(server, port, 'WebSocket')
  }

  private async openTls(t: NonNullable<EmbeddedBrokerOptions['tls']>, serve: (conn: Duplex, remote: string | undefined) => void): Promise<number> {
    let key: Buffer, cert: Buffer
    try {
      key = readFileSync(t.keyFile)
      cert = readFileSync(t.certFile)
    } catch (err) {
      throw new DoraError(ErrorCodes.BROKER_START, `cannot read TLS key/certificate: ${(err as Error).message}`)
    }
    const server = tls.createServer({ key, cert }, (socket) => {
      socket.setNoDelay(true)
      serve(socket, socket.remoteAddress)
    })
    return this.listen(server, t.port, 'TLS')
  }

  /** For tests and tools: how many clients are connected. */
  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0
  }

  async stop(): Promise<void> {
    const aedes = this.aedes
    this.aedes = null
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()))
    // the Redis persistence runs on a connection of ours, closed here (its own destroy() waits on
    // the broker's emitter, which aedes.close() has already shut)
    this.redisConn?.disconnect()
    this.redisConn = null
    for (const client of this.wss?.clients ?? []) client.terminate()
    this.wss?.close()
    await Promise.all(
      this.servers.splice(0).map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve())
            if ('closeAllConnections' in s) s.closeAllConnections()
          }),
      ),
    )
  }

  private listen(server: net.Server | http.Server, port: number, what: string): Promise<number> {
    return new Promise((resolve, reject) => {
      server.once('error', (err) =>
        reject(new DoraError(ErrorCodes.BROKER_START, `cannot listen for ${what} on ${this.options.host}:${port}: ${err.message}`)),
      )
      server.listen(port, this.options.host, () => {
        this.servers.push(server)
        resolve((server.address() as net.AddressInfo).port)
      })
    })
  }
}
