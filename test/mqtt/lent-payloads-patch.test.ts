/**
 * The lending parse fails safe (src/mqtt/lent-payloads.ts `patchParser`): it goes into mqtt-packet's
 * parser only for the version and the prototype it was written against, and a patched parser
 * without a pool, or of an MQTT 5 client, parses as mqtt-packet does. Real mqtt-packet parsers
 * (subclasses, so the process's own parser is not touched) on real generated PUBLISH packets.
 */
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { LEND_MIN_BYTES, PayloadPool, isLent, patchParser } from '../../src/mqtt/lent-payloads.js'

const fromMqtt = createRequire(createRequire(import.meta.url).resolve('mqtt'))
const Parser = fromMqtt('mqtt-packet/parser') as any
const { version } = fromMqtt('mqtt-packet/package.json') as { version: string }
const generate = fromMqtt('mqtt-packet').generate as (packet: object, opts?: object) => Buffer

const payload = Buffer.alloc(LEND_MIN_BYTES + 1000, 7)
const publish = (protocolVersion = 4) => generate({ cmd: 'publish', topic: 't/x', payload, qos: 1, messageId: 9, dup: false, retain: false }, { protocolVersion })

/** Parses `bytes` with a parser of `Cls` and these settings; the packet it emits. */
function parse(Cls: new () => { parser(o: object): { on(e: string, f: (p: { payload: Buffer }) => void): void; parse(b: Buffer): void } }, settings: object, bytes: Buffer): { payload: Buffer } {
  const p = new Cls().parser(settings)
  let got: { payload: Buffer } | null = null
  p.on('packet', (x) => void (got = x))
  p.parse(bytes)
  if (!got) throw new Error('no packet parsed')
  return got
}

const lending = (pool: PayloadPool) => ({ [Symbol.for('dora.lentPayloads')]: pool })

describe('the lending parse', () => {
  it('leaves another mqtt-packet version alone (its own parse runs, nothing is lent)', () => {
    class Later extends Parser {}
    expect(patchParser(Later.prototype, '10.0.0')).toBe(false)
    expect(Object.hasOwn(Later.prototype, '_parsePublish')).toBe(false)
    const got = parse(Later as never, { protocolVersion: 4, ...lending(new PayloadPool(() => true)) }, publish())
    expect(isLent(got.payload)).toBe(false)
    expect(Buffer.compare(got.payload, payload)).toBe(0)
  })

  it('leaves a parser without the internals it uses alone', () => {
    expect(patchParser({ _parsePublish() {} }, version)).toBe(false)
    expect(patchParser(undefined, version)).toBe(false)
  })

  it('lends on the version it was written for, only with a pool and MQTT 3.1.1, byte for byte', () => {
    class Patched extends Parser {}
    expect(patchParser(Patched.prototype, version)).toBe(true)
    const pool = new PayloadPool(() => true)
    const lent = parse(Patched as never, { protocolVersion: 4, ...lending(pool) }, publish())
    expect(isLent(lent.payload)).toBe(true)
    expect(Buffer.compare(lent.payload, payload)).toBe(0)
    pool.giveBack(lent.payload)
    for (const [settings, bytes] of [[{ protocolVersion: 4 }, publish()], [{ protocolVersion: 5, ...lending(pool) }, publish(5)]] as const) {
      const got = parse(Patched as never, settings, bytes)
      expect(isLent(got.payload)).toBe(false)
      expect(Buffer.compare(got.payload, payload)).toBe(0)
    }
  })
})
