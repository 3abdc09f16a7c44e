// Runs a TypeScript worker-thread module through tsx's loader, as run-ts.mjs and dora.mjs run
// the main thread (a worker does not inherit the parent's loader hooks on Node 20): the worker
// is started on this file with `workerData.module`, the module's file URL.
import { register } from 'tsx/esm/api'
import { workerData } from 'node:worker_threads'
register()
await import(workerData.module)
