/**
 * Who may connect with which MQTT client id, how often, and for how long a client may stay
 * silent (README § Security, topics.md § Client ids). Kept apart from the ACL (what a connected
 * client may publish and subscribe) because it is about sessions, not topics:
 * - a device's client id `dora-device-{id}` belongs to the account of device `{id}` alone;
 * - a client id that is connected, or that holds a persistent (`clean=false`) session, belongs
 *   to the account that opened it: another account neither takes the connection over (Aedes
 *   would close the first client, [MQTT-3.1.4-2]) nor resumes or wipes the session;
 * - an account holds at most `maxConnectionsPerAccount` connections at once (the hub's own
 *   account excepted);
 * - a keepalive of 0 (never time out) or above `maxKeepaliveS` is capped to `maxKeepaliveS`.
 * Owners of persistent sessions are also kept where the sessions outlive this process
 * (session-owners.ts: Redis with the Redis back-ends, else a file in hub.stateDir); the embedded
 * broker checks those before this policy.
 */
import type { Principal } from './acl.js'

/** The client id a device agent connects with. */
export const DEVICE_CLIENT_PREFIX = 'dora-device-'
export const deviceClientId = (deviceId: string) => `${DEVICE_CLIENT_PREFIX}${deviceId}`

/** Client ids remembered before closed clean ones are swept (clients that never completed CONNECT leave theirs). */
const MAX_OWNERS = 10_000

export interface ConnectionPolicyOptions {
  readonly maxConnectionsPerAccount: number
  readonly maxKeepaliveS: number
}

/** A connection as the policy sees it (an Aedes client). */
export interface PolicyClient {
  readonly id: string
  readonly clean: boolean
  readonly closed: boolean
}

export type Admission = { ok: true } | { ok: false; reason: string; owner?: string }

/** The account a principal acts for: the unit of client-id ownership and connection counting. */
export function accountOf(who: Principal): string {
  switch (who.role) {
    case 'hub':
    case 'anonymous':
      return who.role
    case 'device':
      return `device:${who.deviceId}`
    default:
      return `${who.role}:${who.username}`
  }
}

export class ConnectionPolicy {
  private readonly live = new Map<string, Set<PolicyClient>>()
  /** Client id -> the account that opened it (connected now, or holding a persistent session). */
  private readonly owners = new Map<string, { account: string; persistent: boolean; client: PolicyClient | null }>()

  constructor(private readonly options: ConnectionPolicyOptions) {}

  /** The keepalive a client gets, s: its own, unless 0 (never) or above the cap. */
  keepaliveFor(requestedS: number): number {
    const cap = this.options.maxKeepaliveS
    return requestedS <= 0 || requestedS > cap ? cap : requestedS
  }

  /** Whether `client` (authenticated as `who`) may connect now; on success, records it. */
  admit(client: PolicyClient, who: Principal): Admission {
    const account = accountOf(who)
    const reserved = client.id.startsWith(DEVICE_CLIENT_PREFIX) ? `device:${client.id.slice(DEVICE_CLIENT_PREFIX.length)}` : null
    if (reserved && reserved !== account) return { ok: false, reason: `client id ${client.id} is reserved for ${reserved}`, owner: reserved }
    const held = this.owners.get(client.id)
    if (held && held.account !== account && (held.persistent || (held.client && !held.client.closed))) {
      return { ok: false, reason: `client id ${client.id} is in use by another account${held.persistent ? ' (persistent session)' : ''}`, owner: held.account }
    }
    const mine = this.prune(account)
    if (account !== 'hub' && mine.size >= this.options.maxConnectionsPerAccount) {
      return { ok: false, reason: `${account} already holds ${mine.size} connections (broker.embedded.maxConnectionsPerAccount)` }
    }
    mine.add(client)
    this.live.set(account, mine)
    if (this.owners.size >= MAX_OWNERS) this.sweep()
    // a clean connection ends any session the id held ([MQTT-3.1.2-6]); a persistent one keeps it
    this.owners.set(client.id, { account, persistent: !client.clean, client })
    return { ok: true }
  }

  /** A client is gone: its id is free again unless it holds a persistent session. */
  /** The account that opened a client id (connected now, or holding a persistent session). */
  ownerOf(clientId: string): string | undefined {
    return this.owners.get(clientId)?.account
  }

  closed(client: PolicyClient): void {
    const held = this.owners.get(client.id)
    if (held?.client === client) {
      if (held.persistent) held.client = null
      else this.owners.delete(client.id)
    }
    for (const [account, set] of this.live) {
      if (set.delete(client) && !set.size) this.live.delete(account)
    }
  }

  /** Connections an account holds now. */
  connections(account: string): number {
    return this.prune(account).size
  }

  private sweep(): void {
    for (const [id, held] of this.owners) if (!held.persistent && (!held.client || held.client.closed)) this.owners.delete(id)
  }

  private prune(account: string): Set<PolicyClient> {
    const set = this.live.get(account) ?? new Set<PolicyClient>()
    for (const c of set) if (c.closed) set.delete(c)
    return set
  }
}
