/**
 * An adapter worker thread with faults on demand (for test/hub/adapt-worker.test.ts): the real
 * decide() unless the request's `why` names a fault: `crash` (an uncaught error), `exit-once:FILE`
 * (exits unless FILE exists, which it then creates: a crash the retry does not meet), `hang` (a
 * search that never ends), `garbage` (a reply that is not a decision), `throw` (a search that fails).
 */
import { parentPort } from 'node:worker_threads'
import { existsSync, writeFileSync } from 'node:fs'
import { decide, type AdaptRequest } from '../../src/planner/adapt/decide.js'

const port = parentPort!
port.on('message', (m: { id: number; request: AdaptRequest }) => {
  const why = m.request.why
  if (why === 'crash') setImmediate(() => { throw new Error('a fault injected in the worker') })
  else if (why.startsWith('exit-once:') && !existsSync(why.slice(10))) {
    writeFileSync(why.slice(10), '')
    process.exit(3)
  } else if (why === 'hang') for (;;);
  else if (why === 'garbage') port.postMessage({ id: m.id, decision: { action: 'keep', state: null } })
  else if (why === 'throw') port.postMessage({ id: m.id, error: 'the search failed' })
  else port.postMessage({ id: m.id, decision: decide(m.request) })
})
port.postMessage({ ready: true })
