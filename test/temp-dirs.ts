/**
 * Vitest global setup: the test run writes no file into the user's home. The XDG base
 * directories (hub state, models folder, upload cache: src/config/user-dirs.ts) point into one
 * temporary folder that every test process and every process they start inherits, and the folder
 * is removed when the run ends, so a hub started with its default folders leaves nothing behind
 * and reads nothing an earlier run left.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'dora-test-xdg-'))
  process.env.XDG_STATE_HOME = join(root, 'state')
  process.env.XDG_DATA_HOME = join(root, 'data')
  process.env.XDG_CACHE_HOME = join(root, 'cache')
  return () => rmSync(root, { recursive: true, force: true })
}
