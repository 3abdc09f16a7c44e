/**
 * The install setting (README § Development, "Install scripts"): npm reads this project's
 * configuration without a warning, every dependency install script is reviewed in
 * package.json's allowScripts, and onnxruntime-node's (which would only download CUDA
 * libraries) is denied.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = new URL('..', import.meta.url)
const npmMajor = async () => Number((await run('npm', ['--version'])).stdout.trim().split('.')[0])

describe('install settings', () => {
  it('denies onnxruntime-node its install script and keeps no npm-unknown key in .npmrc', () => {
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { allowScripts?: Record<string, boolean> }
    expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false)
    let npmrc = ''
    try {
      npmrc = readFileSync(new URL('.npmrc', root), 'utf8')
    } catch {
      // no .npmrc at all
    }
    expect(npmrc).not.toMatch(/onnxruntime/)
  })

  it('npm lists no unreviewed install script and warns about nothing in the project config', async () => {
    if ((await npmMajor()) < 11) return // npm 10 has no install-script policy (README: ONNXRUNTIME_NODE_INSTALL=skip)
    const { stdout, stderr } = await run('npm', ['install-scripts', 'ls', '--json'], { cwd: root })
    expect(stderr).not.toMatch(/npm warn/i)
    expect((JSON.parse(stdout) as { allowScripts: unknown[] }).allowScripts).toEqual([])
  })
})
