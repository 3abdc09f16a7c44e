/**
 * The device's stage models: fetched over MQTT in chunks (retained on
 * `dora/v1/models/{sha256}/{i}`), reassembled, verified against their sha256, and cached on disk
 * as `{cacheDir}/{sha256}.onnx`, so a restart does not fetch them again. A cached file is
 * re-verified before use; a bad one is fetched anew.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { DoraClient, MessageHandler } from '../src/mqtt/client.js'
import { decodeCbor } from '../src/protocol/codec.js'
import { CBOR_BUDGETS } from '../src/protocol/cbor-budgets.js'
import { filters } from '../src/protocol/topics.js'
import { formatIssues, modelChunkSchema } from '../src/protocol/payloads.js'
import { DoraError, ErrorCodes } from '../src/errors.js'

export interface ModelRef {
  readonly sha256: string
  readonly bytes: number
  readonly chunks: number
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

export class ModelCache {
  /** Chunks received over MQTT (a cache hit receives none). */
  chunksFetched = 0
  private readonly inflight = new Map<string, Promise<Uint8Array>>()

  constructor(private readonly dir: string, private readonly client: () => DoraClient | null, private readonly timeoutMs = 60_000, private readonly onWarning?: (message: string) => void) {}

  /** The model's bytes: from the disk cache if it verifies, else fetched over MQTT and cached. */
  async get(ref: ModelRef): Promise<Uint8Array> {
    const file = join(this.dir, `${ref.sha256}.onnx`)
    try {
      const cached = new Uint8Array(await readFile(file))
      if (sha(cached) === ref.sha256) return cached
    } catch {
      // not cached yet
    }
    let p = this.inflight.get(ref.sha256)
    if (!p) {
      p = this.fetch(ref).finally(() => this.inflight.delete(ref.sha256))
      this.inflight.set(ref.sha256, p)
    }
    const bytes = await p
    // several device processes may share a cache folder: each writes its own temporary file and
    // renames it into place (atomic); a failed write only costs a later fetch
    const part = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.part`
    try {
      await mkdir(this.dir, { recursive: true })
      await writeFile(part, bytes)
      await rename(part, file)
    } catch (err) {
      await rm(part, { force: true }).catch(() => undefined)
      this.onWarning?.(`model ${ref.sha256} not cached on disk: ${(err as Error).message}`)
    }
    return bytes
  }

  private fetch(ref: ModelRef): Promise<Uint8Array> {
    const client = this.client()
    if (!client) return Promise.reject(new DoraError(ErrorCodes.NOT_CONNECTED, 'not connected'))
    const filter = filters.modelChunks(ref.sha256)
    const parts = new Map<number, Uint8Array>()
    return new Promise<Uint8Array>((resolve, reject) => {
      const done = (err: Error | null, bytes?: Uint8Array) => {
        clearTimeout(timer)
        client.unsubscribe(filter, onMessage).catch(() => undefined)
        if (err) reject(err)
        else resolve(bytes!)
      }
      // an idle timeout: a large model on a slow link takes long, but its chunks keep coming
      const stalled = () => done(new DoraError(ErrorCodes.MODEL_FETCH, `model ${ref.sha256}: ${parts.size} of ${ref.chunks} chunks, then none for ${this.timeoutMs} ms`))
      let timer = setTimeout(stalled, this.timeoutMs)
      const onMessage: MessageHandler = (topic, payload) => {
        clearTimeout(timer)
        timer = setTimeout(stalled, this.timeoutMs)
        const d = decodeCbor(payload, CBOR_BUDGETS.modelChunk)
        if (!d.ok) return done(new DoraError(ErrorCodes.MODEL_FETCH, `model chunk on ${topic}: ${d.error}`))
        const c = modelChunkSchema.safeParse(d.value)
        if (!c.success) return done(new DoraError(ErrorCodes.MODEL_FETCH, `model chunk on ${topic}: ${formatIssues(c.error)}`))
        if (c.data.sha256 !== ref.sha256 || c.data.count !== ref.chunks) return done(new DoraError(ErrorCodes.MODEL_FETCH, `model chunk on ${topic} belongs to another model`))
        this.chunksFetched++
        parts.set(c.data.index, new Uint8Array(c.data.data))
        if (parts.size < ref.chunks) return
        const bytes = new Uint8Array(ref.bytes)
        let at = 0
        for (let i = 0; i < ref.chunks; i++) {
          bytes.set(parts.get(i)!, at)
          at += parts.get(i)!.length
        }
        if (at !== ref.bytes || sha(bytes) !== ref.sha256) return done(new DoraError(ErrorCodes.MODEL_FETCH, `model ${ref.sha256}: the chunks do not add up to it (checksum mismatch)`))
        done(null, bytes)
      }
      client.subscribe(filter, onMessage).catch((err: Error) => done(err))
    })
  }
}
