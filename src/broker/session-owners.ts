/**
 * Which account owns each persistent (`clean=false`) MQTT session, kept where the sessions are
 * (connection-policy.ts says who may resume one): with the Redis back-ends, where the sessions
 * live, in a Redis hash every hub of the scale-out reads; on a lone embedded broker, in a JSON file
 * in `hub.stateDir`. So "persistent sessions only for the same account" holds across a hub
 * restart and across hubs. Bounded: at most MAX_OWNERS entries (the oldest forgotten first);
 * a damaged file is set aside and starts empty.
 */
import { readFile, rename } from 'node:fs/promises'
import type { Redis } from 'ioredis'
import { writeFileAtomic } from '../shared/atomic-write.js'

const MAX_OWNERS = 10_000
const REDIS_KEY = 'dora:session-owners'
/** Client ids and accounts as MQTT and Dora allow them (bounded before they are stored). */
const MAX_ID = 256

export interface SessionOwnerStore {
  /** The account that holds a persistent session under `clientId`, if any. */
  get(clientId: string): Promise<string | null>
  set(clientId: string, account: string): Promise<void>
  delete(clientId: string): Promise<void>
}

export class RedisSessionOwners implements SessionOwnerStore {
  constructor(private readonly redis: Redis) {}

  async get(clientId: string): Promise<string | null> {
    return (await this.redis.hget(REDIS_KEY, clientId)) ?? null
  }

  async set(clientId: string, account: string): Promise<void> {
    if (clientId.length > MAX_ID || account.length > MAX_ID) return
    if ((await this.redis.hlen(REDIS_KEY)) >= MAX_OWNERS && !(await this.redis.hexists(REDIS_KEY, clientId))) return
    await this.redis.hset(REDIS_KEY, clientId, account)
  }

  async delete(clientId: string): Promise<void> {
    await this.redis.hdel(REDIS_KEY, clientId)
  }
}

export class FileSessionOwners implements SessionOwnerStore {
  private owners = new Map<string, string>()
  private writing: Promise<void> = Promise.resolve()

  private constructor(private readonly file: string) {}

  /** The owners the file holds (none when it is missing; a damaged one is renamed aside). */
  static async open(file: string): Promise<FileSessionOwners> {
    const s = new FileSessionOwners(file)
    let text: string | null = null
    try {
      text = await readFile(file, 'utf8')
    } catch {
      return s // none yet
    }
    try {
      const parsed = JSON.parse(text) as { v?: unknown; owners?: unknown }
      if (parsed.v !== 1 || typeof parsed.owners !== 'object' || parsed.owners === null) throw new Error('not a session-owner file')
      for (const [id, account] of Object.entries(parsed.owners)) {
        if (typeof account === 'string' && id.length <= MAX_ID && account.length <= MAX_ID && s.owners.size < MAX_OWNERS) s.owners.set(id, account)
      }
    } catch {
      s.owners.clear()
      await rename(file, `${file}.damaged`).catch(() => undefined)
    }
    return s
  }

  async get(clientId: string): Promise<string | null> {
    return this.owners.get(clientId) ?? null
  }

  async set(clientId: string, account: string): Promise<void> {
    if (clientId.length > MAX_ID || account.length > MAX_ID || this.owners.get(clientId) === account) return
    this.owners.delete(clientId)
    if (this.owners.size >= MAX_OWNERS) this.owners.delete(this.owners.keys().next().value!)
    this.owners.set(clientId, account)
    await this.save()
  }

  async delete(clientId: string): Promise<void> {
    if (this.owners.delete(clientId)) await this.save()
  }

  /** Writes the file (a temporary file renamed over it: never half written), one write at a time. */
  private save(): Promise<void> {
    const body = JSON.stringify({ v: 1, owners: Object.fromEntries(this.owners) })
    this.writing = this.writing.catch(() => undefined).then(async () => {
      await writeFileAtomic(this.file, body)
    })
    return this.writing
  }
}
