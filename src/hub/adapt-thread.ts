/**
 * The adapter's worker thread (started by adapt-worker.ts through bin/thread-ts.mjs): answers
 * each request `{ id, request }` with `{ id, decision }` (the pure decide(), as the hub's thread
 * would compute it) or `{ id, error }` when the search throws.
 */
import { parentPort } from 'node:worker_threads'
import { decide, type AdaptRequest } from '../planner/adapt/decide.js'
import type { ThreadReply } from './adapt-result.js'

const port = parentPort
if (!port) throw new Error('adapt-thread.ts runs as a worker thread')
port.on('message', (m: { id: number; request: AdaptRequest }) => {
  let reply: ThreadReply
  try {
    reply = { id: m.id, decision: decide(m.request) }
  } catch (err) {
    reply = { id: m.id, error: err instanceof Error ? err.message : String(err) }
  }
  port.postMessage(reply)
})
// loaded: the hub starts the search's time budget from here
port.postMessage({ ready: true })
