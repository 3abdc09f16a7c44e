/**
 * onnxruntime-node's telemetry is off in every Dora process unless the user turns it on
 * (bin/dora.mjs sets ORT_DISABLE_TELEMETRY=1 when unset): no device id and event cache under
 * ~/.cache/Microsoft, no $TMPDIR/mat-debug-PID.log. The control run with the variable at 0 shows
 * what the library does otherwise, so the check can fail.
 */
import { describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const CI_VARIABLES = ['CI', 'TF_BUILD', 'GITHUB_ACTIONS', 'GITLAB_CI', 'CIRCLECI', 'TRAVIS', 'JENKINS_URL', 'CODEBUILD_BUILD_ID', 'BUILDKITE', 'TEAMCITY_VERSION', 'APPVEYOR', 'BITBUCKET_BUILD_NUMBER']

/** `dora profile mlp --measure 1` with HOME in a fresh folder; its pid and whether telemetry left its files. */
async function profileWith(telemetry: string | undefined): Promise<{ deviceId: boolean; tmpLog: boolean }> {
  const home = mkdtempSync(join(tmpdir(), 'dora-telemetry-'))
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CACHE_HOME: join(home, '.cache') }
  delete env.ORT_DISABLE_TELEMETRY
  // the library stays quiet on its own when it sees a CI service (these names are in libonnxruntime):
  // the control run needs a machine that looks like a user's
  for (const ci of CI_VARIABLES) delete env[ci]
  if (telemetry !== undefined) env.ORT_DISABLE_TELEMETRY = telemetry
  const child = spawn(process.execPath, [bin, 'profile', 'mlp', '--measure', '1', '--json'], { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const code = await new Promise<number | null>((r) => child.on('exit', r))
  expect(code, stderr).toBe(0)
  // the library writes it to $TMPDIR (here the test run's temporary tree), else /tmp
  const log = join(tmpdir(), `mat-debug-${child.pid}.log`)
  const out = { deviceId: existsSync(join(home, '.cache', 'Microsoft', 'DeveloperTools', '.onnxruntime', 'deviceid')), tmpLog: existsSync(log) }
  rmSync(log, { force: true })
  rmSync(home, { recursive: true, force: true })
  return out
}

describe('onnxruntime telemetry', () => {
  it('is off by default in a Dora process, and on only when the user sets ORT_DISABLE_TELEMETRY=0', async () => {
    expect(await profileWith(undefined)).toEqual({ deviceId: false, tmpLog: false })
    expect(await profileWith('0')).toEqual({ deviceId: true, tmpLog: true })
  }, 60_000)
})
