/** The connection policy alone (topics.md § Client ids): pure, no broker. */
import { describe, expect, it } from 'vitest'
import { ConnectionPolicy, accountOf } from '../../src/broker/connection-policy.js'

const client = (id: string, clean = true) => ({ id, clean, closed: false })
const dev = (deviceId: string) => ({ role: 'device' as const, deviceId })
const obs = (username: string) => ({ role: 'observer' as const, username })

describe('ConnectionPolicy', () => {
  it("reserves dora-device-<id> for device <id>", () => {
    const p = new ConnectionPolicy({ maxConnectionsPerAccount: 4, maxKeepaliveS: 60 })
    expect(p.admit(client('dora-device-a'), obs('dash'))).toMatchObject({ ok: false, owner: 'device:a' })
    expect(p.admit(client('dora-device-a'), dev('b'))).toMatchObject({ ok: false, owner: 'device:a' })
    expect(p.admit(client('dora-device-a'), dev('a'))).toEqual({ ok: true })
    expect(p.admit(client('dora-device-a'), dev('a'))).toEqual({ ok: true }) // its own reconnect
  })

  it('a persistent session stays its account\'s after the client leaves; a clean one frees the id', () => {
    const p = new ConnectionPolicy({ maxConnectionsPerAccount: 4, maxKeepaliveS: 60 })
    const durable = client('panel', false)
    expect(p.admit(durable, obs('dash')).ok).toBe(true)
    durable.closed = true
    p.closed(durable)
    expect(p.admit(client('panel', true), obs('other')).ok).toBe(false)
    const back = client('panel', true)
    expect(p.admit(back, obs('dash')).ok).toBe(true) // the owner, ending the session with a clean connection
    back.closed = true
    p.closed(back)
    expect(p.admit(client('panel'), obs('other')).ok).toBe(true)
  })

  it('caps connections per account (not the hub), and caps keepalive 0 and above the limit', () => {
    const p = new ConnectionPolicy({ maxConnectionsPerAccount: 2, maxKeepaliveS: 60 })
    const a = client('x1')
    expect(p.admit(a, obs('dash')).ok).toBe(true)
    expect(p.admit(client('x2'), obs('dash')).ok).toBe(true)
    expect(p.admit(client('x3'), obs('dash'))).toMatchObject({ ok: false })
    a.closed = true
    expect(p.admit(client('x3'), obs('dash')).ok).toBe(true)
    for (let i = 0; i < 10; i++) expect(p.admit(client(`h${i}`), { role: 'hub' }).ok).toBe(true)
    expect([0, 30, 60, 61, 65535].map((k) => p.keepaliveFor(k))).toEqual([60, 30, 60, 60, 60])
    expect(accountOf({ role: 'operator', username: 'device:a' })).toBe('operator:device:a')
  })
})
