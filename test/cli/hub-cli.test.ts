/** `dora hub` as a user runs it: flags, busy ports, bad config (issue 2 § Hub). */
import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import net from 'node:net'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../helpers/mosquitto.js'

const run = promisify(execFile)
const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const hub = (...args: string[]) =>
  run(process.execPath, [bin, 'hub', '--host', '127.0.0.1', '--log-level', 'silent', ...args], { timeout: 15_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string; killed?: boolean }) => ({ code: e.killed ? -1 : e.code, stderr: e.stderr }),
  )

async function occupy(): Promise<{ port: number; close: () => void }> {
  const port = await freePort()
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(port, '127.0.0.1', () => r()))
  return { port, close: () => s.close() }
}

describe('dora hub failures exit promptly with a clear message', () => {
  it('the TCP port is taken', async () => {
    const busy = await occupy()
    const r = await hub('--port', String(busy.port), '--ws-port', '0')
    busy.close()
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(new RegExp(`cannot listen for TCP on 127.0.0.1:${busy.port}.*EADDRINUSE`))
  })

  it('the WebSocket port is taken (the TCP listener it opened is closed again)', async () => {
    const busy = await occupy()
    const r = await hub('--port', '0', '--ws-port', String(busy.port))
    busy.close()
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/cannot listen for WebSocket/)
  })

  it('the config file is invalid', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'dora-hub-')), 'hub.yaml')
    writeFileSync(file, 'hub:\n  heartbeatTimeoutMs: 5\n')
    const r = await hub('--config', file, '--port', '0', '--ws-port', '0')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/invalid configuration .*hub\.heartbeatTimeoutMs/)
  })

  it('a flag is malformed', async () => {
    const r = await hub('--broker', 'http://example')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/unsupported broker URL scheme http:/)
  })
})
