/** The part of aedes-persistence-redis Dora uses (the package ships no types). */
declare module 'aedes-persistence-redis' {
  interface RedisPersistenceOptions {
    host?: string
    port?: number
    username?: string
    password?: string
    db?: number
    /** An ioredis connection to use instead of opening one. */
    conn?: unknown
  }
  interface RedisPersistence {
    destroy(cb: () => void): void
  }
  export default function aedesPersistenceRedis(opts?: RedisPersistenceOptions): RedisPersistence
}
