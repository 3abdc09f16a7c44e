/** `dora device`'s flags as a user types them: bad values are refused before anything starts. */
import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

const run = promisify(execFile)
const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const fail = (...args: string[]) =>
  run(process.execPath, [bin, 'device', ...args], { timeout: 20_000 }).then(() => { throw new Error('expected a non-zero exit') }, (e: { code: number; stderr: string }) => e)
const scenario = fileURLToPath(new URL('../../config/scenarios/smart-home.yaml', import.meta.url))

describe('dora device --chunk-bytes', () => {
  it.each(['12', '1e9', '65536.5', 'lots'])('refuses %s before measuring or connecting', async (v) => {
    const e = await fail('--id', 'cam-1', '--measure', '--chunk-bytes', v, '--broker', 'mqtt://127.0.0.1:1')
    expect(e.code).not.toBe(0)
    expect(e.stderr).toMatch(/--chunk-bytes must be a whole number of bytes from 1024 to 67108864/)
    expect(e.stderr).not.toMatch(/measuring this machine/)
  })

  it('is refused beside --scenario, whose network.chunkBytes an emulated device sends in', async () => {
    const e = await fail('--id', 'laptop', '--scenario', scenario, '--chunk-bytes', '65536', '--broker', 'mqtt://127.0.0.1:1')
    expect(e.stderr).toMatch(/--chunk-bytes is for --measure/)
  })
})
