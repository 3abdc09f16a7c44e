/**
 * Training checkpoints on disk (`hub.stateDir/checkpoints/{jobId}.ckpt`), so a hub restart does not
 * lose a crashed device's stage state (topics.md § Training checkpoints). One file per job holds the
 * newest state of each parameter: per record a 4-byte big-endian header length, a CBOR header
 * `{name, dims, t, step, epoch, from}`, then `3 * prod(dims)` float32 (values, first and second
 * moment). Writes are off the hot path: at most one in flight per job, the latest state wins, to a
 * temporary file (mode 0600) renamed into place. Reading checks every record against the job's own
 * parameters (name known, dims equal, each name once), so the bytes read are bounded by the job's
 * parameter list; a damaged file is reported and ignored, never fatal. A file whose job the hub
 * has not known for `orphanTtlMs` since it first looked (a job cancelled while the hub was down:
 * its retained spec cleared on an external broker) is removed by `pruneOrphans`.
 */
import { open, readdir, rm } from 'node:fs/promises'
import { constants } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import type { Logger } from '../log.js'
import { decodeCbor, encodeCbor } from '../protocol/codec.js'
import { CBOR_BUDGETS } from '../protocol/cbor-budgets.js'
import { isValidId } from '../protocol/topics.js'
import type { CheckpointState } from '../runtime/checkpoint-intake.js'
import { writeFileAtomic } from '../shared/atomic-write.js'

const MAX_HEADER_BYTES = 4096
const headerSchema = z.object({
  name: z.string().min(1).max(1024),
  dims: z.array(z.number().int().positive().max(2 ** 31)).max(16),
  t: z.number().int().nonnegative(),
  step: z.number().int().nonnegative(),
  epoch: z.number().int().nonnegative(),
  from: z.string().min(1).max(256),
})

export class CheckpointFiles {
  /** Per job: the write under way, and whether newer state came in meanwhile. */
  private readonly writes = new Map<string, { busy: Promise<void>; again: (() => Iterable<CheckpointState>) | null }>()

  /** Files of jobs the hub does not know: since when (clock ms) they have been seen so. */
  private readonly unknownSince = new Map<string, number>()
  private pruning: Promise<number> | null = null

  constructor(readonly dir: string, private readonly log: Logger) {}

  /**
   * Removes the files of jobs `known` has not named for `ttlMs` of `now` since first seen unknown;
   * resolves to how many went. One pass at a time (a call during a pass joins it).
   */
  pruneOrphans(known: (jobId: string) => boolean, now: number, ttlMs: number): Promise<number> {
    this.pruning ??= this.prune(known, now, ttlMs).finally(() => (this.pruning = null))
    return this.pruning
  }

  private async prune(known: (jobId: string) => boolean, now: number, ttlMs: number): Promise<number> {
    let names: string[]
    try {
      names = await readdir(join(this.dir, 'checkpoints'))
    } catch {
      return 0
    }
    const ids = new Set(names.filter((n) => n.endsWith('.ckpt')).map((n) => n.slice(0, -5)).filter((id) => isValidId(id) && !known(id)))
    for (const id of this.unknownSince.keys()) if (!ids.has(id)) this.unknownSince.delete(id)
    let removed = 0
    for (const id of ids) {
      const since = this.unknownSince.get(id)
      if (since === undefined) this.unknownSince.set(id, now)
      else if (now - since >= ttlMs && !this.writes.has(id)) {
        this.unknownSince.delete(id)
        await this.remove(id)
        this.log.info({ jobId: id }, 'checkpoints: removed the file of a job no longer known')
        removed++
      }
    }
    return removed
  }

  private file(jobId: string): string {
    if (!isValidId(jobId)) throw new RangeError(`not a job id: ${JSON.stringify(jobId)}`)
    return join(this.dir, 'checkpoints', `${jobId}.ckpt`)
  }

  /** Stores `states()` for a job soon: one write in flight per job; the latest state wins. */
  save(jobId: string, states: () => Iterable<CheckpointState>): void {
    const w = this.writes.get(jobId)
    if (w) {
      w.again = states
      return
    }
    const entry = { busy: Promise.resolve(), again: null as (() => Iterable<CheckpointState>) | null }
    const run = async (get: () => Iterable<CheckpointState>): Promise<void> => {
      try {
        await this.write(jobId, [...get()])
      } catch (err) {
        this.log.warn({ jobId, err: (err as Error).message }, 'checkpoints: could not write; a restart may lose them')
      }
      const next = entry.again
      entry.again = null
      if (next) return run(next)
      this.writes.delete(jobId)
    }
    this.writes.set(jobId, entry)
    entry.busy = run(states)
  }

  /** A job is gone: its file too (after any write under way). */
  async remove(jobId: string): Promise<void> {
    const w = this.writes.get(jobId)
    if (w) {
      w.again = null
      await w.busy
    }
    await rm(this.file(jobId), { force: true }).catch((err: Error) => this.log.warn({ jobId, err: err.message }, 'checkpoints: could not remove'))
  }

  /** Waits for the writes (and any orphan pass) under way. */
  async flush(): Promise<void> {
    await this.pruning
    while (this.writes.size > 0) await Promise.all([...this.writes.values()].map((w) => w.busy))
  }

  private async write(jobId: string, states: CheckpointState[]): Promise<void> {
    const parts: Buffer[] = []
    for (const s of states) {
      const head = encodeCbor({ name: s.name, dims: [...s.dims], t: s.t, step: s.step, epoch: s.epoch, from: s.from })
      const len = Buffer.alloc(4)
      len.writeUInt32BE(head.byteLength)
      parts.push(len, head, Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength))
    }
    await writeFileAtomic(this.file(jobId), parts, { private: true })
  }

  /** The stored states of a job, each checked against its parameters; a damaged file gives none. */
  async load(jobId: string, paramDims: (name: string) => readonly number[] | undefined): Promise<CheckpointState[]> {
    let fh
    try {
      fh = await open(this.file(jobId), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.error({ jobId, err: (err as Error).message }, 'checkpoints: stored file unreadable; ignored')
      return []
    }
    try {
      const st = await fh.stat()
      if (!st.isFile()) throw new Error('not a regular file')
      const out: CheckpointState[] = []
      let at = 0
      while (at < st.size) {
        const head = await readExactly(fh, at, 4)
        const n = head.readUInt32BE(0)
        if (n === 0 || n > MAX_HEADER_BYTES) throw new Error(`record header of ${n} bytes at ${at}`)
        const d = decodeCbor(await readExactly(fh, at + 4, n), CBOR_BUDGETS.checkpointRecord)
        const h = d.ok ? headerSchema.safeParse(d.value) : null
        if (!h?.success) throw new Error(`record header at ${at} malformed`)
        const want = paramDims(h.data.name)
        if (!want || want.length !== h.data.dims.length || want.some((x, i) => x !== h.data.dims[i])) throw new Error(`record ${h.data.name.slice(0, 256)} is not a parameter of the job in that shape`)
        if (out.some((s) => s.name === h.data.name)) throw new Error(`record ${h.data.name} twice`)
        const bytes = 3 * 4 * want.reduce((a, b) => a * b, 1)
        const data = await readExactly(fh, at + 4 + n, bytes)
        const f = new Float32Array(bytes / 4)
        new Uint8Array(f.buffer).set(data)
        out.push({ ...h.data, dims: [...want], data: f })
        at += 4 + n + bytes
      }
      return out
    } catch (err) {
      this.log.error({ jobId, err: (err as Error).message.slice(0, 300) }, 'checkpoints: stored file damaged; ignored')
      return []
    } finally {
      await fh.close()
    }
  }
}

async function readExactly(fh: import('node:fs/promises').FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length)
  const { bytesRead } = await fh.read(buf, 0, length, position)
  if (bytesRead !== length) throw new Error(`file ends at ${position + bytesRead}, ${length} bytes wanted`)
  return buf
}
