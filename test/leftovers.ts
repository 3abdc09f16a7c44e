/**
 * Vitest global setup: the test run leaves no process behind (issue 16 § Processes). Every
 * process a test starts inherits a marker in its environment; when the run ends, any marked
 * `dora.mjs device|hub|demo`, Mosquitto or Redis still alive 5 s later fails the run (and is
 * killed, so that a failed run leaves nothing either). The marker, not the parent, identifies
 * them: an orphan's parent is gone, and other test runs on the same machine carry another marker.
 */
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'

const MARKER = 'DORA_TEST_RUN'
const WATCHED = /dora\.mjs\u0000(device|hub|demo)\u0000|(^|\/)mosquitto\u0000|(^|\/)redis-server\u0000/

/** Processes of this run (by their environment's marker) that look like ones the tests start. */
function leftovers(run: string): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = []
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8')
      if (/^\d+ \(.*\) Z/.test(stat)) continue // exited, not yet reaped
      if (!readFileSync(`/proc/${e}/environ`, 'utf8').split('\u0000').includes(`${MARKER}=${run}`)) continue
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8')
      if (WATCHED.test(cmd)) out.push({ pid: Number(e), cmd: cmd.split('\u0000').join(' ').trim() })
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out
}

export default function setup(): () => Promise<void> {
  const run = randomBytes(8).toString('hex')
  process.env[MARKER] = run
  return async () => {
    if (process.platform !== 'linux') return
    const until = Date.now() + 5000
    let left = leftovers(run)
    while (left.length && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100))
      left = leftovers(run)
    }
    if (!left.length) return
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL')
      } catch {
        // gone meanwhile
      }
    }
    // vitest reports an error thrown here but would still exit 0
    process.exitCode = 1
    throw new Error(`the tests left ${left.length} process(es) running 5 s after the run (now killed):\n${left.map((p) => `  ${p.pid} ${p.cmd}`).join('\n')}`)
  }
}
