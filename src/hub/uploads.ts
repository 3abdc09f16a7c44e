/**
 * ONNX models uploaded with a submitted job (`dora job submit` with a model file): the operator
 * publishes the file's chunks retained on `dora/v1/uploads/{sha256}/{i}` (the stage-model chunk
 * payload) and names it `upload:{sha256}` in the spec. The hub fetches the chunks, checks the
 * sizes and the sha256, and keeps the file in its upload folder (content-addressed: a second job
 * with the same model fetches nothing). Once the hub has the file, or has given up on it, the
 * retained chunks are cleared from the broker (clearUpload).
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { DoraClient } from '../mqtt/client.js'
import { decodeCbor } from '../protocol/codec.js'
import { CBOR_BUDGETS } from '../protocol/cbor-budgets.js'
import { formatIssues, modelChunkSchema } from '../protocol/payloads.js'
import { filters } from '../protocol/topics.js'
import { writeFileAtomic } from '../shared/atomic-write.js'

export const UPLOAD_PREFIX = 'upload:'

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** The sha256 an `upload:` model reference names, or null for any other reference. */
export function uploadRef(model: string): string | null {
  if (!model.startsWith(UPLOAD_PREFIX)) return null
  const h = model.slice(UPLOAD_PREFIX.length)
  if (!/^[0-9a-f]{64}$/.test(h)) throw new RangeError(`model ${JSON.stringify(model)}: an upload is named upload:<64 lowercase hex digits of its sha256>`)
  return h
}

/** The uploaded model's file in `dir` (fetched over MQTT unless it is there already). */
export async function fetchUpload(client: DoraClient, sha256: string, dir: string, o: { timeoutMs: number; maxBytes: number }): Promise<string> {
  const file = join(dir, `${sha256}.onnx`)
  try {
    if (sha(new Uint8Array(await readFile(file))) === sha256) return file
  } catch {
    // not here yet
  }
  const filter = filters.uploadChunks(sha256)
  const parts = new Map<number, Uint8Array>()
  let handler: ((topic: string, payload: Buffer) => void) | null = null
  const bytes = await new Promise<Uint8Array>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`uploaded model ${sha256}: ${parts.size} chunks after ${o.timeoutMs} ms (was it uploaded? dora job submit does so for a model file)`)), o.timeoutMs)
    const fail = (why: string) => {
      clearTimeout(timer)
      reject(new Error(`uploaded model ${sha256}: ${why}`))
    }
    handler = (topic, payload) => {
      if (!payload.length) return // a chunk cleared (after another job fetched the same model)
      const d = decodeCbor(payload, CBOR_BUDGETS.modelChunk)
      if (!d.ok) return fail(`chunk on ${topic}: ${d.error}`)
      const c = modelChunkSchema.safeParse(d.value)
      if (!c.success) return fail(`chunk on ${topic}: ${formatIssues(c.error)}`)
      if (c.data.sha256 !== sha256) return fail(`chunk on ${topic} names another model`)
      if (c.data.totalBytes > o.maxBytes) return fail(`${c.data.totalBytes} bytes is over the limit of ${o.maxBytes}`)
      parts.set(c.data.index, new Uint8Array(c.data.data))
      if (parts.size < c.data.count) return
      const out = new Uint8Array(c.data.totalBytes)
      let at = 0
      for (let i = 0; i < c.data.count; i++) {
        const p = parts.get(i)
        if (!p || at + p.length > out.length) return fail(`chunk ${i} is missing or too long`)
        out.set(p, at)
        at += p.length
      }
      if (at !== out.length || sha(out) !== sha256) return fail('the chunks do not add up to it (size or checksum mismatch)')
      clearTimeout(timer)
      resolve(out)
    }
    client.subscribe(filter, handler).catch((err: Error) => fail(err.message))
  }).finally(() => {
    if (handler) client.unsubscribe(filter, handler).catch(() => undefined)
  })
  await writeFileAtomic(file, bytes)
  return file
}

/**
 * Clears an upload's retained chunks from the broker: the retained chunk topics present within
 * `scanMs` get an empty retained message each.
 */
export async function clearUpload(client: DoraClient, sha256: string, scanMs = 300): Promise<number> {
  const filter = filters.uploadChunks(sha256)
  const seen = new Set<string>()
  const collect = (topic: string, payload: Buffer, retained: boolean) => {
    if (retained && payload.length) seen.add(topic)
  }
  await client.subscribe(filter, collect)
  await new Promise((r) => setTimeout(r, scanMs))
  await client.unsubscribe(filter, collect)
  for (const topic of seen) await client.publish(topic, Buffer.alloc(0), { qos: 1, retain: true })
  return seen.size
}
