import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { FrameScanner } from '../../src/broker/frame-guard.js'
import { filterWithin, topicMatches } from '../../src/shared/topic-filter.js'
import { packet, remainingLength } from '../helpers/mqtt-packets.js'

describe('FrameScanner [MQTT-2.2.3]', () => {
  it('property: packets within the limit pass however the stream is split', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20000 }), { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 20 }), (sizes, cuts) => {
        const stream = Buffer.concat(sizes.map(packet))
        const scanner = new FrameScanner(20005)
        let at = 0
        for (const cut of [...cuts, stream.length]) {
          const next = Math.min(stream.length, at + cut)
          expect(scanner.feed(stream.subarray(at, next))).toBeNull()
          at = next
          if (at >= stream.length) break
        }
      }),
    )
  })

  it('property: the first packet over the limit is reported from its header alone', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1001, max: 268_435_455 }), (okCount, big) => {
        const scanner = new FrameScanner(1000)
        const ok = Buffer.concat(Array.from({ length: okCount }, () => packet(10)))
        expect(scanner.feed(ok)).toBeNull()
        // only the fixed header: the body is never needed (nor built: up to 256 MiB)
        expect(scanner.feed(Buffer.concat([Buffer.from([0x30]), remainingLength(big)]))).toMatch(/exceeds the limit of 1000/)
      }),
    )
  })

  it('knows when a packet is begun and not finished (the partial-packet timeout)', () => {
    const scanner = new FrameScanner(1e6)
    const p = packet(1000)
    expect(scanner.feed(p.subarray(0, 500))).toBeNull()
    expect([scanner.midPacket, scanner.packetsBegun]).toEqual([true, 1])
    expect(scanner.feed(Buffer.concat([p.subarray(500), packet(0), p.subarray(0, 1)]))).toBeNull()
    expect([scanner.midPacket, scanner.packetsBegun]).toEqual([true, 3])
    expect(scanner.feed(p.subarray(1))).toBeNull()
    expect(scanner.midPacket).toBe(false)
  })

  it('reports a remaining length of more than four bytes as malformed', () => {
    expect(new FrameScanner(1e9).feed(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]))).toMatch(/malformed/)
  })
})

describe('topic filters [MQTT-4.7]', () => {
  it('matches topics', () => {
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true)
    expect(topicMatches('a/#', 'a/b/c')).toBe(true)
    expect(topicMatches('a/#', 'a')).toBe(true)
    expect(topicMatches('a/+', 'a/b/c')).toBe(false)
    expect(topicMatches('a/b', 'a/b/c')).toBe(false)
  })
  it('decides whether a subscription stays inside an allowed filter', () => {
    expect(filterWithin('dora/v1/devices/x/caps', 'dora/v1/devices/x/#')).toBe(true)
    expect(filterWithin('dora/v1/devices/x/#', 'dora/v1/devices/x/#')).toBe(true)
    expect(filterWithin('dora/v1/devices/+/caps', 'dora/v1/devices/x/#')).toBe(false)
    expect(filterWithin('dora/v1/#', 'dora/v1/devices/x/#')).toBe(false)
    expect(filterWithin('dora/v1/jobs/j/tensors/x', 'dora/v1/jobs/j/tensors/+')).toBe(true)
    expect(filterWithin('dora/v1/jobs/j/tensors/#', 'dora/v1/jobs/j/tensors/+')).toBe(false)
  })
})
