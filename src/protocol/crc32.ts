/**
 * CRC-32 (IEEE 802.3, as zlib) of tensor-chunk data. @node-rs/crc32 (crc32fast: PCLMULQDQ on
 * x86-64, the CRC instructions on ARMv8) runs about twice as fast as Node's zlib.crc32 on this
 * machine (2.6 against 1.4 GB/s under load; BENCHMARKS.md issue 18), and CRC is one pass over
 * every byte on both sender and receiver. Where its prebuilt binary is missing the zlib one is
 * used; both give the same value.
 */
import { createRequire } from 'node:module'
import { crc32 as zlibCrc32 } from 'node:zlib'

type Crc32 = (data: Uint8Array) => number

function load(): Crc32 {
  try {
    const native = createRequire(import.meta.url)('@node-rs/crc32') as { crc32(input: Uint8Array, initial?: number): number }
    if (native.crc32(Buffer.from('123456789')) === 0xcbf43926) return (data) => native.crc32(data)
  } catch {
    // no prebuilt binary for this platform: zlib's
  }
  return (data) => zlibCrc32(data)
}

export const crc32: Crc32 = load()
