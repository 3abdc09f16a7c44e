/**
 * What the hub keeps across restarts (`hub.stateDir`): the specs of the jobs submitted at run
 * time, as accepted, and the last plan epoch of every job. On the embedded broker retained
 * messages die with the hub; without this a restarted hub forgot its submitted jobs and numbered
 * its epochs from 1 again, which devices ignore (they keep the newest epoch they saw).
 *
 * Layout: `specs/{jobId}.json` (the spec's bytes) and `epochs.json` (`{v: 1, epochs: {jobId: n}}`).
 * Everything read back is checked like outside input: file names, types and sizes before reading,
 * JSON shapes after; what fails is skipped with a warning, never fatal. Writes go to a temporary
 * file renamed into place, so a crash leaves the old or the new file, never half of one.
 */
import { open, readdir, rm } from 'node:fs/promises'
import { constants } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { isValidId, topics } from '../protocol/topics.js'
import type { Logger } from '../log.js'
import type { Config } from '../config/schema.js'
import type { DoraClient } from '../mqtt/client.js'
import { DoraError, ErrorCodes } from '../errors.js'
import { userDir } from '../config/user-dirs.js'
import { writeFileAtomic } from '../shared/atomic-write.js'

/** Epochs skipped after a restart: more than can be published between two stored ones. */
export const EPOCH_MARGIN = 16

/** Largest stored file read back (a spec is a few hundred bytes; epochs a few per job). */
const MAX_FILE_BYTES = 1024 * 1024

const epochsSchema = z.object({ v: z.literal(1), epochs: z.record(z.string(), z.number().int().nonnegative().max(2 ** 31)) })

export class JobStore {
  private epochs = new Map<string, number>()
  private writing: Promise<void> = Promise.resolve()
  /** The specs found at open, until republished. */
  private found: Array<{ jobId: string; spec: Buffer }> = []

  /** The hub's store (hub.stateDir, default ~/.local/state/dora/{hub.id}), with what a previous run left read in. */
  static async open(c: Readonly<Config>, log: Logger): Promise<JobStore> {
    const dir = c.hub.stateDir ?? userDir('state', c.hub.id)
    const store = new JobStore(dir, log)
    try {
      store.found = (await store.load()).specs
    } catch (err) {
      throw new DoraError(ErrorCodes.STATE_DIR, `cannot use hub.stateDir ${dir}: ${(err as Error).message}`)
    }
    return store
  }

  /**
   * The embedded broker's retained specs died with the last run: the stored ones go back as
   * retained specs, and the hub handles (checks) them anew like an operator's.
   */
  async republishSpecs(client: DoraClient): Promise<string[]> {
    const specs = this.found
    this.found = []
    for (const { jobId, spec } of specs) await client.publish(topics.job(jobId, 'spec'), spec, { qos: 1, retain: true })
    return specs.map((x) => x.jobId)
  }

  constructor(
    /** The state folder. */
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** Reads what a previous run left: the stored specs and the last epoch of every job. */
  async load(): Promise<{ specs: Array<{ jobId: string; spec: Buffer }>; epochs: ReadonlyMap<string, number> }> {
    const specs: Array<{ jobId: string; spec: Buffer }> = []
    let names: string[] = []
    try {
      names = await readdir(join(this.dir, 'specs'))
    } catch (err) {
      // nothing stored yet (the folder is made at the first write)
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    for (const name of names.sort()) {
      const m = /^(.+)\.json$/.exec(name)
      if (!m || !isValidId(m[1]!)) {
        if (!name.startsWith('.')) this.log.warn({ file: name }, 'state: not a job spec file name; ignored')
        continue
      }
      const bytes = await this.read(join(this.dir, 'specs', name))
      if (bytes) specs.push({ jobId: m[1]!, spec: bytes })
    }
    const raw = await this.read(join(this.dir, 'epochs.json'))
    if (raw) {
      try {
        const parsed = epochsSchema.parse(JSON.parse(raw.toString('utf8')))
        this.epochs = new Map(Object.entries(parsed.epochs).filter(([id]) => isValidId(id)))
      } catch (err) {
        this.log.warn({ file: 'epochs.json', err: (err as Error).message.slice(0, 300) }, 'state: stored epochs unreadable; epochs start anew')
      }
    }
    return { specs, epochs: this.epochs }
  }

  /**
   * The epoch a job's numbering continues after (0: none known): the stored reservation, which is
   * written before any epoch up to it is published (reserveEpoch), plus a margin for state folders
   * written by hubs that stored the last published epoch after publishing it. Epochs need only grow.
   */
  epochOf(jobId: string): number {
    const e = this.epochs.get(jobId)
    return e === undefined ? 0 : e + EPOCH_MARGIN
  }

  /** A submitted job was accepted from these spec bytes. */
  saveSpec(jobId: string, spec: Buffer): Promise<void> {
    return this.queue(() => atomicWrite(join(this.dir, 'specs', `${checked(jobId)}.json`), spec))
  }

  /** A submitted job was cancelled or its stored spec refused. */
  removeSpec(jobId: string): Promise<void> {
    return this.queue(() => rm(join(this.dir, 'specs', `${checked(jobId)}.json`), { force: true }))
  }

  /**
   * Before a job publishes `epoch`: a restarted hub must continue after it, even when killed the
   * moment it is published, so the store holds a reservation ahead of the published epochs and
   * writes it BEFORE the publish. It writes only when an epoch passes the reservation (once every
   * EPOCH_MARGIN epochs), so most plans wait for no disk write.
   */
  reserveEpoch(jobId: string, epoch: number): Promise<void> {
    // (the stored figure is the reservation: epochOf adds the margin again when read back)
    if ((this.epochs.get(checked(jobId)) ?? -1) >= epoch) return Promise.resolve()
    this.epochs.set(jobId, epoch + EPOCH_MARGIN - 1)
    const body = JSON.stringify({ v: 1, epochs: Object.fromEntries(this.epochs) })
    return this.queue(() => atomicWrite(join(this.dir, 'epochs.json'), Buffer.from(body)))
  }

  /** Waits for the writes under way. */
  flush(): Promise<void> {
    return this.writing
  }

  private queue(write: () => Promise<void>): Promise<void> {
    this.writing = this.writing.then(write).catch((err: Error) => this.log.warn({ dir: this.dir, err: err.message }, 'state: could not write; a restart may forget it'))
    return this.writing
  }

  /** A regular file's bytes, checked from its descriptor (no FIFO, device or oversized file), or null. */
  private async read(file: string): Promise<Buffer | null> {
    let fh
    try {
      fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ file, err: (err as Error).message }, 'state: unreadable; ignored')
      return null
    }
    try {
      const st = await fh.stat()
      if (!st.isFile() || st.size > MAX_FILE_BYTES) {
        this.log.warn({ file, size: st.size }, `state: not a regular file of at most ${MAX_FILE_BYTES} bytes; ignored`)
        return null
      }
      return await fh.readFile()
    } finally {
      await fh.close()
    }
  }
}

function checked(jobId: string): string {
  if (!isValidId(jobId)) throw new RangeError(`not a job id: ${JSON.stringify(jobId)}`)
  return jobId
}

function atomicWrite(file: string, bytes: Buffer): Promise<void> {
  return writeFileAtomic(file, bytes, { private: true })
}
