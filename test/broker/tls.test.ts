import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Hub } from '../../src/hub/hub.js'
import { DEVICE_PASSWORD, connect, startHub, until } from '../helpers/hub.js'

const bin = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))
const scenario = fileURLToPath(new URL('../../config/scenarios/smart-home.yaml', import.meta.url))

describe('embedded broker over TLS', () => {
  let hub: Hub
  let ca: Buffer
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dora-tls-'))
    const key = join(dir, 'key.pem')
    const cert = join(dir, 'cert.pem')
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
    ca = readFileSync(cert)
    hub = await startHub({ broker: { embedded: { tls: { port: 0, keyFile: key, certFile: cert } } } })
  })
  afterAll(async () => hub.stop())

  it('accepts a device that verifies the hub certificate', async () => {
    const c = await connect(`mqtts://127.0.0.1:${hub.boundPorts!.tlsPort}`, { username: 'dev-a', password: DEVICE_PASSWORD, ca, rejectUnauthorized: true })
    expect(c.connected).toBe(true)
    await c.endAsync()
  })

  it('dora device joins over mqtts with --ca (the CA file), and the hub registers it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dora-tls-ca-'))
    const caFile = join(dir, 'ca.pem')
    writeFileSync(caFile, ca)
    const args = [bin, 'device', '--id', 'dev-a', '--password', DEVICE_PASSWORD, '--broker', `mqtts://127.0.0.1:${hub.boundPorts!.tlsPort}`, '--ca', caFile, '--scenario', scenario, '--profile', 'laptop', '--cache-dir', dir]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    try {
      await until(() => hub.registry.get('dev-a')?.status === 'online' || null, 20_000, 'the device over TLS')
    } finally {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    }
  }, 30_000)

  it('a client that does not trust the certificate cannot connect', async () => {
    await expect(connect(`mqtts://127.0.0.1:${hub.boundPorts!.tlsPort}`, { username: 'dev-a', password: DEVICE_PASSWORD, rejectUnauthorized: true })).rejects.toThrow(/self-signed|certificate/i)
  })
})
