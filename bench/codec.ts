/**
 * CBOR tensor-chunk codec rate against a plain memory copy of the same bytes (one process).
 * encode = CRC-32 + CBOR framing of every chunk; decode = CBOR parse + schema + CRC check +
 * copy into the reassembled tensor.
 */
import { Reassembler, decodeTensorChunk, encodeTensorChunks } from '../src/protocol/index.js'

const MiB = 1024 * 1024

function best(fn: () => void, reps = 5): number {
  let min = Infinity
  for (let i = 0; i < reps; i++) {
    const t = performance.now()
    fn()
    min = Math.min(min, performance.now() - t)
  }
  return min / 1000
}

export interface CodecRow {
  chunkBytes: number
  copyGBps: number
  encodeGBps: number
  decodeGBps: number
  encodeVsCopy: number
  decodeVsCopy: number
}

export function codecBench(log: (s: string) => void): CodecRow[] {
  const size = 64 * MiB
  const tensor = new Uint8Array(size).map((_, i) => (i * 31) & 0xff)
  const target = new Uint8Array(size)
  const rows: CodecRow[] = []
  for (const chunk of [16 * 1024, 64 * 1024, 256 * 1024, MiB - 4096]) {
    const copyS = best(() => {
      for (let off = 0; off < size; off += chunk) target.set(tensor.subarray(off, Math.min(size, off + chunk)), off)
    })
    let msgs: Buffer[] = []
    const encS = best(() => {
      msgs = [...encodeTensorChunks({ req: 'r', name: 'x', dtype: 'uint8', shape: [size], epoch: null }, tensor, chunk)]
    })
    const decS = best(() => {
      const r = new Reassembler({ timeoutMs: 1e9, maxTensorBytes: 2 ** 31, maxPendingBytes: 2 ** 31 })
      let complete = false
      for (const m of msgs) {
        const d = decodeTensorChunk(m)
        if (!d.ok) throw new Error(d.error)
        complete = r.add(d.chunk, 0).status === 'complete'
      }
      if (!complete) throw new Error('did not reassemble')
    })
    const row = { chunkBytes: chunk, copyGBps: size / copyS / 1e9, encodeGBps: size / encS / 1e9, decodeGBps: size / decS / 1e9, encodeVsCopy: copyS / encS, decodeVsCopy: copyS / decS }
    rows.push(row)
    log(`  codec ${chunk / 1024} KiB chunks: copy ${row.copyGBps.toFixed(2)} GB/s, encode ${row.encodeGBps.toFixed(2)} GB/s, decode+reassemble ${row.decodeGBps.toFixed(2)} GB/s`)
  }
  return rows
}
