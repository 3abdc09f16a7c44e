/**
 * Reads into one reused buffer (src/mqtt/pooled-reads.ts): the framer hands on whole packets in
 * buffers of their own, whatever the reads' boundaries, byte for byte; lends only large MQTT
 * 3.1.1 PUBLISH packets of QoS 0/1 whose topic the lender wants; passes malformed and over-long
 * packets through for the parser to refuse; and never hands on a view of the read buffer. Real
 * packets from mqtt-packet's generator, parsed back by a real (patched) mqtt-packet parser.
 */
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { LEND_MIN_BYTES, PayloadPool, isLent, patchParser } from '../../src/mqtt/lent-payloads.js'
import { MAX_FRAMED_BYTES, PacketFramer } from '../../src/mqtt/pooled-reads.js'
import { seededRandom } from '../../src/shared/random.js'

const fromMqtt = createRequire(createRequire(import.meta.url).resolve('mqtt'))
const Parser = fromMqtt('mqtt-packet/parser') as any
const { version } = fromMqtt('mqtt-packet/package.json') as { version: string }
const generate = fromMqtt('mqtt-packet').generate as (packet: object, opts?: object) => Buffer
class Patched extends Parser {}
patchParser(Patched.prototype, version)

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff))
const publish = (topic: string, n: number, qos: 0 | 1 | 2, id: number) => generate({ cmd: 'publish', topic, payload: bytes(n, id), qos, messageId: qos ? id : undefined, dup: false, retain: false })

/** A stream of assorted packets: acknowledgements, pings, small and large publishes, a long topic. */
function stream(): Buffer[] {
  return [
    generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }),
    publish('dora/v1/tensors/j/dev-b', 1000, 1, 1),
    generate({ cmd: 'puback', messageId: 7 }),
    publish('dora/v1/tensors/j/dev-b', 256 * 1024 + 77, 1, 2),
    generate({ cmd: 'pingresp' }),
    publish('dora/v1/other', 300_000, 1, 3), // not wanted: fresh buffer
    publish('dora/v1/tensors/j/dev-b', LEND_MIN_BYTES + 5, 0, 4),
    publish('dora/v1/tensors/j/dev-b', 200_000, 2, 5), // QoS 2: never lent
    publish(`dora/v1/tensors/${'x'.repeat(3000)}`, 70_000, 1, 6), // a topic longer than a small read
    publish('dora/v1/tensors/j/dev-b', 0, 1, 8),
    ...Array.from({ length: 50 }, (_, k) => generate({ cmd: 'puback', messageId: 100 + k })),
    publish('dora/v1/tensors/j/dev-b', 1024 * 1024, 1, 9),
  ]
}

/** Pushes `whole` in reads of random sizes through one reused buffer, as a socket would. */
function run(whole: Buffer, seed: number, maxRead: number, pool: PayloadPool | null, v311 = true): Buffer[] {
  const out: Buffer[] = []
  const read = Buffer.alloc(maxRead)
  const framer = new PacketFramer({ lender: pool, v311 }, (b) => out.push(b))
  const rand = seededRandom(seed)
  for (let at = 0; at < whole.length;) {
    const n = Math.min(whole.length - at, 1 + Math.floor(rand() * maxRead))
    whole.copy(read, 0, at, at + n)
    framer.push(read.subarray(0, n))
    read.fill(0xee) // the read buffer is reused: nothing handed on may be a view of it
    at += n
  }
  return out
}

const wants = (topic: string) => topic.startsWith('dora/v1/tensors/')

describe('reads into one reused buffer', () => {
  it('hands on whole packets, byte for byte, whatever the reads (seeded random read sizes)', () => {
    const packets = stream()
    const whole = Buffer.concat(packets)
    for (const [seed, maxRead] of [[1, 7], [2, 100], [3, 4096], [4, 65536], [5, 256 * 1024], [6, 2 * 1024 * 1024]] as const) {
      const out = run(whole, seed, maxRead, new PayloadPool(wants))
      expect(Buffer.compare(Buffer.concat(out), whole)).toBe(0)
      // each buffer handed on holds whole packets: the parser gets every packet, in order, from them
      const parser = new Patched().parser({ protocolVersion: 4 })
      const got: Array<{ cmd: string; payload?: Buffer; messageId?: number }> = []
      parser.on('packet', (p: never) => got.push(p))
      for (const b of out) {
        parser.parse(b)
        expect(parser._list.length).toBe(0) // nothing left over: the buffer ended on a packet boundary
      }
      expect(got.map((p) => p.cmd)).toEqual(packets.map((p) => ({ 2: 'connack', 3: 'publish', 4: 'puback', 13: 'pingresp' })[p[0]! >> 4]))
    }
  })

  it('lends large QoS 0/1 publishes of wanted topics (MQTT 3.1.1), and no others', () => {
    const pool = new PayloadPool(wants)
    const out = run(Buffer.concat(stream()), 9, 65536, pool)
    const parser = new Patched().parser({ protocolVersion: 4, [Symbol.for('dora.lentPayloads')]: pool })
    const seen: Array<{ id: number; lent: boolean; ok: boolean }> = []
    parser.on('packet', (p: { cmd: string; payload: Buffer; messageId?: number; qos: number }) => {
      if (p.cmd !== 'publish') return
      const id = p.messageId ?? 4
      seen.push({ id, lent: isLent(p.payload), ok: Buffer.compare(p.payload, bytes(p.payload.length, id)) === 0 })
    })
    for (const b of out) parser.parse(b)
    expect(seen).toEqual([
      { id: 1, lent: false, ok: true }, { id: 2, lent: true, ok: true }, { id: 3, lent: false, ok: true },
      { id: 4, lent: true, ok: true }, { id: 5, lent: false, ok: true }, { id: 6, lent: true, ok: true },
      { id: 8, lent: false, ok: true }, { id: 9, lent: true, ok: true },
    ])
    // the framer itself lent exactly those four packets' buffers (each a packet alone)
    const packets = stream()
    expect(out.filter((b) => isLent(b)).map((b) => b.length)).toEqual([packets[3]!, packets[6]!, packets[8]!, packets.at(-1)!].map((p) => p.length))
    // a lent buffer whose topic is no longer wanted when parsed (a handler that keeps payloads came): a copy, never the lent buffer
    const late = new Patched().parser({ protocolVersion: 4, [Symbol.for('dora.lentPayloads')]: new PayloadPool(() => false) })
    let kept: Buffer | null = null
    late.on('packet', (p: { payload: Buffer }) => void (kept = p.payload))
    late.parse(out.find((b) => isLent(b))!)
    expect(isLent(kept!)).toBe(false)
    expect(Buffer.compare(kept!, bytes(kept!.length, 2))).toBe(0)
    // no pool, or MQTT 5: nothing lent
    for (const [lender, v311] of [[null, true], [pool, false]] as const) {
      expect(run(Buffer.concat(stream()), 3, 65536, lender, v311).some((b) => isLent(b))).toBe(false)
    }
  })

  it('passes a malformed length and an over-long packet through, for the parser to refuse, without allocating it', () => {
    const bad = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3])
    const out = run(Buffer.concat([generate({ cmd: 'puback', messageId: 1 }), bad]), 1, 3, null)
    expect(Buffer.compare(Buffer.concat(out), Buffer.concat([generate({ cmd: 'puback', messageId: 1 }), bad]))).toBe(0)
    const parser = new Patched().parser({ protocolVersion: 4 })
    const errors: Error[] = []
    parser.on('error', (e: Error) => errors.push(e))
    for (const b of out) parser.parse(b)
    expect(errors.length).toBeGreaterThan(0)
    // a header announcing more than MAX_FRAMED_BYTES: handed on as the bytes come, each piece at most one read
    const n = MAX_FRAMED_BYTES + 10
    const head = Buffer.from([0x30, (n & 0x7f) | 0x80, ((n >> 7) & 0x7f) | 0x80, ((n >> 14) & 0x7f) | 0x80, n >> 21])
    const pieces = run(Buffer.concat([head, Buffer.alloc(100_000)]), 2, 4096, null)
    expect(Math.max(...pieces.map((b) => b.length))).toBeLessThanOrEqual(4096)
    expect(pieces.reduce((s, b) => s + b.length, 0)).toBe(head.length + 100_000)
  })
})
