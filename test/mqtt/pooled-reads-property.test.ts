/**
 * PacketFramer (src/mqtt/pooled-reads.ts) as a property: for random sequences of real packets
 * (mqtt-packet's generator: MQTT 3.1.1 and 5, QoS 0-2, every acknowledgement, payloads on both
 * sides of LEND_MIN_BYTES and of one read, long topics, an over-long packet) split at random
 * boundaries, and a short stream split at every byte and every pair of bytes, the buffers handed
 * on concatenate to the stream, each ends on a packet boundary, none is a view of the read
 * buffer, and a real parser gets every packet back, in order.
 */
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { LEND_MIN_BYTES, PayloadPool } from '../../src/mqtt/lent-payloads.js'
import { MAX_FRAMED_BYTES, PacketFramer } from '../../src/mqtt/pooled-reads.js'
import { seededRandom } from '../../src/shared/random.js'

const fromMqtt = createRequire(createRequire(import.meta.url).resolve('mqtt'))
const mqttPacket = fromMqtt('mqtt-packet') as { generate(p: object, o?: object): Buffer; parser(o: object): any }

type Rand = () => number
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!

/** One random packet for protocol version `v` (4 or 5). */
function randomPacket(r: Rand, v: 4 | 5, big: boolean): Buffer {
  const id = 1 + Math.floor(r() * 65535)
  const kind = pick(r, ['publish', 'publish', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'pingresp', 'suback', 'unsuback', 'connack'] as const)
  const props = v === 5 && r() < 0.5 ? { properties: { userProperties: { k: 'v'.repeat(Math.floor(r() * 40)) } } } : {}
  const o = { protocolVersion: v }
  switch (kind) {
    case 'publish': {
      const sizes = [0, 1, 100, LEND_MIN_BYTES - 20, LEND_MIN_BYTES, LEND_MIN_BYTES + 3, 200_000, 256 * 1024 + 11, big ? 1_200_000 : 5000]
      const n = r() < 0.3 ? Math.floor(r() * 3000) : pick(r, sizes)
      const topicLen = r() < 0.1 ? 1 + Math.floor(r() * 9000) : 1 + Math.floor(r() * 40)
      const topic = (r() < 0.7 ? 'dora/v1/tensors/' : 'other/') + 't'.repeat(topicLen)
      const qos = pick(r, [0, 1, 2] as const)
      const payload = Buffer.alloc(n, id & 0xff)
      return mqttPacket.generate({ cmd: 'publish', topic, payload, qos, messageId: qos ? id : undefined, dup: false, retain: r() < 0.1, ...props }, o)
    }
    case 'suback':
      return mqttPacket.generate({ cmd: 'suback', messageId: id, granted: [0, 1, 2].slice(0, 1 + Math.floor(r() * 3)), ...props }, o)
    case 'unsuback':
      return mqttPacket.generate(v === 5 ? { cmd: 'unsuback', messageId: id, granted: [0], ...props } : { cmd: 'unsuback', messageId: id }, o)
    case 'connack':
      return mqttPacket.generate(v === 5 ? { cmd: 'connack', reasonCode: 0, sessionPresent: false, ...props } : { cmd: 'connack', returnCode: 0, sessionPresent: false }, o)
    case 'pingresp':
      return mqttPacket.generate({ cmd: 'pingresp' }, o)
    default:
      return mqttPacket.generate(v === 5 ? { cmd: kind, messageId: id, reasonCode: 0, ...props } : { cmd: kind, messageId: id }, o)
  }
}

/** Pushes `whole` through a framer in reads of the given sizes, through one reused read buffer. */
function frame(whole: Buffer, sizes: number[], v: 4 | 5, pool: PayloadPool | null): Buffer[] {
  const out: Buffer[] = []
  const read = Buffer.alloc(sizes.reduce((m, n) => Math.max(m, n), 1))
  const framer = new PacketFramer({ lender: pool, v311: v === 4 }, (b) => out.push(b))
  let at = 0
  for (const n of sizes) {
    whole.copy(read, 0, at, at + n)
    framer.push(read.subarray(0, n))
    read.fill(0xee) // reused: nothing handed on may be a view of it
    at += n
  }
  expect(at).toBe(whole.length)
  return out
}

/** Checks the framed buffers against the packets: same bytes, packet boundaries, same parse. */
function check(packets: Buffer[], out: Buffer[], v: 4 | 5): void {
  const whole = Buffer.concat(packets)
  expect(Buffer.compare(Buffer.concat(out), whole)).toBe(0)
  const ends = new Set<number>()
  let e = 0
  for (const p of packets) ends.add((e += p.length))
  const over: Array<[number, number]> = [] // over-long packets pass through piecewise: ends inside them allowed
  e = 0
  for (const p of packets) {
    if (p.length > MAX_FRAMED_BYTES) over.push([e, e + p.length])
    e += p.length
  }
  let at = 0
  for (const b of out) {
    at += b.length
    if (!over.some(([a, z]) => at > a && at < z)) expect(ends.has(at), `a buffer ends at ${at}, inside a packet`).toBe(true)
  }
  const parser = mqttPacket.parser({ protocolVersion: v })
  const got: Array<{ cmd: string; length: number }> = []
  const errors: Error[] = []
  parser.on('packet', (p: { cmd: string; length: number }) => got.push(p))
  parser.on('error', (err: Error) => errors.push(err))
  for (const b of out) parser.parse(b)
  expect(errors).toEqual([])
  const expected = packets.map((p) => {
    const q = mqttPacket.parser({ protocolVersion: v })
    let one: { cmd: string; length: number } | null = null
    q.on('packet', (x: { cmd: string; length: number }) => (one = x))
    q.parse(p)
    return one!
  })
  expect(got.map((p) => [p.cmd, p.length])).toEqual(expected.map((p) => [p.cmd, p.length]))
}

const wants = (topic: string) => topic.startsWith('dora/v1/tensors/')

describe('PacketFramer, as a property', () => {
  it('random packet sequences, split at random boundaries (MQTT 3.1.1 and 5, with and without a lender)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = seededRandom(seed * 7919)
      const v: 4 | 5 = seed % 3 === 0 ? 5 : 4
      const packets = Array.from({ length: 5 + Math.floor(r() * 40) }, () => randomPacket(r, v, seed % 5 === 0))
      const whole = Buffer.concat(packets)
      const maxRead = pick(r, [1, 2, 3, 5, 64, 1000, 65_536, 256 * 1024])
      const sizes: number[] = []
      for (let left = whole.length; left > 0;) {
        const n = Math.min(left, 1 + Math.floor(r() * maxRead))
        sizes.push(n)
        left -= n
      }
      check(packets, frame(whole, sizes, v, seed % 2 ? new PayloadPool(wants) : null), v)
    }
  })

  it('a short stream split at every byte, and at every pair of bytes', () => {
    const r = seededRandom(42)
    const packets = [
      mqttPacket.generate({ cmd: 'puback', messageId: 3 }),
      mqttPacket.generate({ cmd: 'publish', topic: 'dora/v1/tensors/a', payload: Buffer.alloc(200, 1), qos: 1, messageId: 9 }),
      mqttPacket.generate({ cmd: 'pingresp' }),
      // a header with a 3-byte remaining length, a lent topic: every split of its header and topic
      mqttPacket.generate({ cmd: 'publish', topic: 'dora/v1/tensors/b', payload: Buffer.alloc(LEND_MIN_BYTES + 1, 2), qos: 0 }),
      mqttPacket.generate({ cmd: 'publish', topic: 'x', payload: Buffer.alloc(130, 3), qos: 2, messageId: 10 }),
      mqttPacket.generate({ cmd: 'pubrel', messageId: 10 }),
    ]
    const whole = Buffer.concat(packets)
    const points = [...new Set([...Array.from({ length: 400 }, (_, i) => i), ...Array.from({ length: 60 }, (_, i) => whole.length - 400 + i * 7), whole.length - 1])]
      .filter((i) => i > 0 && i < whole.length).sort((a, b) => a - b)
    for (const i of points) check(packets, frame(whole, [i, whole.length - i], 4, new PayloadPool(wants)), 4)
    for (let k = 0; k < 3000; k++) {
      const i = 1 + Math.floor(r() * 300)
      const j = i + 1 + Math.floor(r() * 300)
      check(packets, frame(whole, [i, j - i, whole.length - j], 4, new PayloadPool(wants)), 4)
    }
  })

  it('an over-long packet between framed ones, split at random boundaries', () => {
    const r = seededRandom(5)
    const huge = mqttPacket.generate({ cmd: 'publish', topic: 'dora/v1/tensors/h', payload: Buffer.alloc(MAX_FRAMED_BYTES + 1, 7), qos: 1, messageId: 2 })
    const packets = [mqttPacket.generate({ cmd: 'puback', messageId: 1 }), huge, mqttPacket.generate({ cmd: 'publish', topic: 'dora/v1/tensors/a', payload: Buffer.alloc(70_000, 1), qos: 1, messageId: 3 }), mqttPacket.generate({ cmd: 'pingresp' })]
    const whole = Buffer.concat(packets)
    for (const maxRead of [100_000, 256 * 1024]) {
      const sizes: number[] = []
      for (let left = whole.length; left > 0;) {
        const n = Math.min(left, 1 + Math.floor(r() * maxRead))
        sizes.push(n)
        left -= n
      }
      check(packets, frame(whole, sizes, 4, new PayloadPool(wants)), 4)
    }
    // the header itself split byte by byte, then the rest
    const sizes = [1, 1, 1, 1, 1, 1, 2]
    for (let left = whole.length - 8; left > 0; left -= 200_000) sizes.push(Math.min(left, 200_000))
    check(packets, frame(whole, sizes, 4, new PayloadPool(wants)), 4)
  })
})
