/**
 * Every message handler on the hub is guarded (issue 16): garbage on every topic the hub reads
 * (device caps, heartbeat and availability, job specs, uploads, Home Assistant goals) is answered
 * or logged and counted in Prometheus, never fatal, and changes no state; the hub then still
 * takes a well-formed device. Real hub on the embedded broker, real mqtt.js clients.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Hub } from '../../src/hub/hub.js'
import { ha, topics } from '../../src/protocol/topics.js'
import { encodeCbor } from '../../src/protocol/codec.js'
import { DEVICE_PASSWORD, caps, cbor, connect, deviceUrl, startHub, until } from '../helpers/hub.js'

let hub: Hub | null = null
afterEach(async () => {
  await hub?.stop()
  hub = null
})

/** Payloads no handler should choke on. */
function garbage(): Buffer[] {
  const depth = 5000
  return [
    Buffer.from([0xff]), Buffer.from('{"v":1'), Buffer.from([0x9f, 0x9f, 0x9f]), // broken, indefinite arrays never closed
    encodeCbor({ v: 1, deviceId: 123, compute: 'fast' }), encodeCbor('a'.repeat(100_000)), encodeCbor(null),
    Buffer.from(`${'['.repeat(depth)}1${']'.repeat(depth)}`), Buffer.concat([Buffer.alloc(depth, 0x81), Buffer.from([0x01])]), // nested 5,000 deep (JSON, CBOR) Buffer.alloc(200_000, 0x41), Buffer.from('__proto__'), Buffer.from('{"__proto__":{"polluted":1}}'),
  ]
}

describe('hub message handlers', () => {
  it('garbage on every topic the hub reads is counted, never fatal; state unchanged; a good device still joins', async () => {
    hub = await startHub({
      hub: { metrics: { host: '127.0.0.1', port: 0 }, uploads: { timeoutMs: 1000 } },
      homeassistant: { enabled: true },
      auth: { operators: [{ username: 'ops', password: 'ops-secret-1' }] },
      jobs: [{ id: 'cfg', model: 'mlp', rateRps: 1, goal: 'latency', recostCron: '0 0 * * * *' }],
    })
    const url = deviceUrl(hub)
    const dev = await connect(url, { username: 'dev-b', password: DEVICE_PASSWORD, clientId: 'dora-device-dev-b' })
    const ops = await connect(url, { username: 'ops', password: 'ops-secret-1' })
    for (const p of garbage()) {
      for (const kind of ['caps', 'heartbeat', 'availability'] as const) await dev.publishAsync(topics.device('dev-b', kind), p, { qos: 1 })
      await ops.publishAsync(topics.job('junk', 'spec'), p, { qos: 1 })
      await ops.publishAsync(topics.upload('a'.repeat(64), 0), p, { qos: 1 })
      await ops.publishAsync(ha.jobGoalSet('cfg'), p, { qos: 1 })
      await ops.publishAsync(ha.jobGoalSet('nope'), p, { qos: 1 })
    }
    const n = garbage().length
    let text = ''
    const want = [/kind="caps"/, /kind="heartbeat"/, /kind="availability"/, /kind="spec"/, /kind="goal"/]
    for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
      text = await (await fetch(`http://127.0.0.1:${hub.metricsPort}/metrics`)).text()
      const total = (re: RegExp) => text.split('\n').filter((l) => l.startsWith('dora_hub_bad_messages_total') && re.test(l)).reduce((a, l) => a + Number(l.split(' ').at(-1)), 0)
      if (want.every((re) => total(re) >= (re.source.includes('goal') ? 2 * n : n))) break
      await new Promise((r) => setTimeout(r, 200))
    }
    for (const re of want) expect(text, re.source).toMatch(new RegExp(`dora_hub_bad_messages_total\\{${re.source}`))
    expect(text).not.toMatch(/kind="handler"/)
    // nothing changed: no device, the configured job as it was, no submitted job, no prototype polluted
    expect(hub.registry.snapshot()).toEqual([])
    expect(hub.jobs.map((j) => [j.id, j.plannerJob?.goal])).toEqual([['cfg', 'latency']])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    // and the hub still works
    const good = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD, clientId: 'dora-device-dev-a' })
    await good.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a')), { qos: 1, retain: true })
    await until(() => hub!.registry.get('dev-a')?.status === 'online', 5000, 'the good device online')
    for (const c of [dev, ops, good]) await c.endAsync()
  }, 60_000)
})
