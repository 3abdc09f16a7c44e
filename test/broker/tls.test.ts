import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Hub } from '../../src/hub/hub.js'
import { DEVICE_PASSWORD, connect, startHub } from '../helpers/hub.js'

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

  it('a client that does not trust the certificate cannot connect', async () => {
    await expect(connect(`mqtts://127.0.0.1:${hub.boundPorts!.tlsPort}`, { username: 'dev-a', password: DEVICE_PASSWORD, rejectUnauthorized: true })).rejects.toThrow(/self-signed|certificate/i)
  })
})
