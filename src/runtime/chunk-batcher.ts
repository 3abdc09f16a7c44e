/**
 * Sends tensor-chunk messages, batching the small ones per topic (topics.md § Tensor chunks,
 * batches). No timer and no added wait: a small message goes out at once while its topic has
 * fewer than `inflightPerTopic` publishes awaiting acknowledgement; past that, small messages
 * wait in the topic's batch, which goes out as one message when a publish of the topic is
 * acknowledged or the batch is full. So an idle link sends every tensor at once, and a busy one
 * sends many per MQTT message. Large messages always go alone.
 */
import { MAX_BATCH_CHUNKS, encodeChunkBatch } from '../protocol/chunk-batch.js'
import { parseTopic } from '../protocol/topics.js'
import { SplitPayload } from '../shared/split-payload.js'

/** Large chunks come as SplitPayloads (header, then a view of the tensor) and go out unjoined. */
export type Publish = (topic: string, payload: Buffer | SplitPayload) => Promise<void>

export interface ChunkBatcherOptions {
  /** Largest batch message, bytes (keep below the broker's packet limit). */
  readonly maxBatchBytes: number
  /** Messages up to this size may be batched. */
  readonly smallBytes: number
  /** Publishes of one topic awaiting acknowledgement before small messages batch up. */
  readonly inflightPerTopic: number
}

interface Waiter {
  resolve: () => void
  reject: (err: unknown) => void
}

interface TopicState {
  inflight: number
  messages: Buffer[]
  bytes: number
  waiters: Waiter[]
}

/** Batching for a link whose chunks are at most `chunkBytes` of data: batches stay within one chunk message's size. */
export function batcherOptions(chunkBytes: number): ChunkBatcherOptions {
  const maxBatchBytes = Math.min(64 * 1024, chunkBytes)
  return { maxBatchBytes, smallBytes: Math.floor(maxBatchBytes / 4), inflightPerTopic: 2 }
}

export class ChunkBatcher {
  private readonly topics = new Map<string, TopicState>()
  /** Messages sent inside batches, and batch messages (for tests and benchmarks). */
  readonly stats = { batched: 0, batches: 0 }

  constructor(private readonly publish: Publish, private readonly o: ChunkBatcherOptions) {}

  /** Sends one chunk message to `topic`; resolves when the broker acknowledged it (alone or in its batch). */
  send(topic: string, payload: Buffer | SplitPayload): Promise<void> {
    let s = this.topics.get(topic)
    if (!s) this.topics.set(topic, (s = { inflight: 0, messages: [], bytes: 0, waiters: [] }))
    const small = payload.byteLength <= this.o.smallBytes && carriesChunks(topic)
    if (!small) return this.out(topic, s, payload)
    // a small message is joined (a copy of at most smallBytes) so that it can join a batch
    const message = payload instanceof SplitPayload ? payload.join() : payload
    if (s.inflight < this.o.inflightPerTopic && s.messages.length === 0) return this.out(topic, s, message)
    if (s.bytes + message.byteLength > this.o.maxBatchBytes || s.messages.length >= MAX_BATCH_CHUNKS) this.flush(topic, s)
    const done = new Promise<void>((resolve, reject) => s.waiters.push({ resolve, reject }))
    s.messages.push(message)
    s.bytes += message.byteLength
    return done
  }

  private out(topic: string, s: TopicState, payload: Buffer | SplitPayload): Promise<void> {
    s.inflight++
    const settle = () => {
      s.inflight--
      if (s.messages.length) this.flush(topic, s)
      else if (s.inflight === 0) this.topics.delete(topic)
    }
    return this.publish(topic, payload).finally(settle)
  }

  private flush(topic: string, s: TopicState): void {
    const { messages, waiters } = s
    if (!messages.length) return
    s.messages = []
    s.bytes = 0
    s.waiters = []
    if (messages.length > 1) {
      this.stats.batched += messages.length
      this.stats.batches++
    }
    const payload = messages.length === 1 ? messages[0]! : encodeChunkBatch(messages)
    this.out(topic, s, payload).then(
      () => waiters.forEach((w) => w.resolve()),
      (err: unknown) => waiters.forEach((w) => w.reject(err)),
    )
  }
}

/** Topics whose messages are tensor chunks (topics.md: requests, tensors, results; not receipts), the only ones batched. */
export function carriesChunks(topic: string): boolean {
  const t = parseTopic(topic)
  return t?.scope === 'tensors' || (t?.scope === 'results' && t.kind === 'results') || (t?.scope === 'job' && t.kind === 'requests')
}
