/**
 * Vitest global setup: the test run leaves no file behind and writes none into the user's home.
 * One temporary folder holds the run's TMPDIR (every mkdtemp of the tests, of the hubs, devices,
 * demos, Mosquitto and Chromium they start) and the XDG base directories (hub state, models
 * folder, upload cache: src/config/user-dirs.ts). Every test process and every process it starts
 * inherits them, and the folder is removed when the run ends, so nothing outlives the run and no
 * hub reads what an earlier run left.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'dora-test-run-'))
  // others may pass through (not list): a Mosquitto started as root drops to its own user and must
  // reach the files a test hands it (test/broker/mosquitto-config.test.ts)
  chmodSync(root, 0o711)
  const dirs = { TMPDIR: 'tmp', XDG_STATE_HOME: 'state', XDG_DATA_HOME: 'data', XDG_CACHE_HOME: 'cache' }
  for (const [env, name] of Object.entries(dirs)) {
    mkdirSync(join(root, name))
    process.env[env] = join(root, name)
  }
  return () => rmSync(root, { recursive: true, force: true })
}
