import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { crc32 as zlibCrc32 } from 'node:zlib'
import { crc32 } from '../../src/protocol/crc32.js'

describe('CRC-32 of chunk data (topics.md § Tensor chunks: IEEE 802.3, as zlib)', () => {
  it('equals zlib for any bytes, views at any offset included', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 5000 }), fc.nat(16), (bytes, cut) => {
      const view = bytes.subarray(Math.min(cut, bytes.length))
      expect(crc32(view)).toBe(zlibCrc32(view))
    }))
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926)
  })
})
