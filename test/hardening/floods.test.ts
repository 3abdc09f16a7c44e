/**
 * Floods of bad payloads (issue 16, "Floods and slow clients"): answers to a flooding client are
 * rate-limited and go in their own lane, so a device joining right after still gets its
 * assignment promptly; every bad message is counted in Prometheus; a throwing or rejecting
 * message handler is reported, never fatal. Real hub, embedded broker, mqtt.js clients.
 * Figures before/after: `npm run bench -- flood` (BENCHMARKS.md § Hardening).
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Hub } from '../../src/hub/hub.js'
import { topics } from '../../src/protocol/topics.js'
import { deviceClientId } from '../../src/broker/connection-policy.js'
import { DoraClient } from '../../src/mqtt/client.js'
import { DEVICE_PASSWORD, caps, cbor, connect, deviceUrl, startHub, until } from '../helpers/hub.js'

let hub: Hub | null = null
afterEach(async () => {
  await hub?.stop()
  hub = null
})

const scrape = async (h: Hub) => (await fetch(`http://127.0.0.1:${h.metricsPort}/metrics`)).text()

describe('a flood of bad heartbeats', () => {
  it('20,000 bad heartbeats: at most `burst` error replies, all counted; a device joining right after gets its assignment', async () => {
    hub = await startHub({
      hub: { metrics: { host: '127.0.0.1', port: 0 } },
      jobs: [{ id: 'digits', model: 'mlp', rateRps: 2, goal: 'latency', recostCron: '0 0 * * * *' }],
    })
    const url = deviceUrl(hub)
    const flooder = await connect(url, { username: 'dev-b', password: DEVICE_PASSWORD, clientId: deviceClientId('dev-b') })
    let replies = 0
    flooder.on('message', () => replies++)
    await flooder.subscribeAsync(topics.device('dev-b', 'error'), { qos: 1 })
    const junk = Buffer.from([0xff, 0xfe, 0x00])
    for (let i = 0; i < 20_000; i++) flooder.publish(topics.device('dev-b', 'heartbeat'), junk, { qos: 0 })
    await flooder.publishAsync(topics.device('dev-b', 'heartbeat'), junk, { qos: 1 })

    const t0 = Date.now()
    const joiner = await connect(url, { username: 'dev-a', password: DEVICE_PASSWORD, clientId: deviceClientId('dev-a') })
    const assigned = new Promise<number>((r) => joiner.on('message', (_t, p) => p.length && r(Date.now() - t0)))
    await joiner.subscribeAsync(topics.device('dev-a', 'assignment'), { qos: 1 })
    await joiner.publishAsync(topics.device('dev-a', 'caps'), cbor(caps('dev-a')), { qos: 1, retain: true })
    // 3.6 s before the error replies had their own lane and limit (0.16 s with no flood); see BENCHMARKS.md
    expect(await assigned).toBeLessThan(2500)

    let text = ''
    for (const deadline = Date.now() + 10_000; !/kind="heartbeat",code="DORA_PAYLOAD_NOT_CBOR"\} 20001/.test(text) && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 100))
      text = await scrape(hub)
    }
    expect(text).toMatch(/dora_hub_bad_messages_total\{kind="heartbeat",code="DORA_PAYLOAD_NOT_CBOR"\} 20001/)
    await new Promise((r) => setTimeout(r, 300))
    expect(replies).toBe(10)
    expect(await scrape(hub)).toMatch(/dora_hub_error_replies_suppressed_total\{kind="heartbeat"\} 19991/)
    flooder.end(true)
    joiner.end(true)
  })
})

describe('message handlers are guarded', () => {
  it('a handler that throws or rejects is reported; the other handlers and the client carry on', async () => {
    hub = await startHub()
    const errors: string[] = []
    const c = new DoraClient({ url: deviceUrl(hub), clientId: 'guarded', username: 'dash', password: 'dash-secret', maxInflight: 4, publishTimeoutMs: 2000, onHandlerError: (t, e) => errors.push(`${t}: ${e.message}`) })
    await c.start()
    const got: string[] = []
    await c.subscribe('dora/v1/hub/#', () => {
      throw new Error('boom')
    })
    await c.subscribe('dora/v1/hub/#', async () => {
      throw new Error('async boom')
    })
    await c.subscribe('dora/v1/hub/#', (t) => got.push(t))
    await until(() => got.length >= 2, 3000, 'retained hub topics delivered')
    expect(errors.filter((e) => e.endsWith(': boom')).length).toBe(got.length)
    await until(() => errors.filter((e) => e.endsWith(': async boom')).length === got.length, 1000, 'async rejections reported')
    await c.stop()
  })

  it('bulk publishes wait behind their own bound, and a full bulk lane refuses at once', async () => {
    hub = await startHub()
    const c = new DoraClient({ url: deviceUrl(hub), clientId: 'lanes', username: 'dev-a', password: DEVICE_PASSWORD, maxInflight: 4, publishTimeoutMs: 5000 })
    await c.start()
    const hb = topics.device('dev-a', 'heartbeat')
    const bulk = Array.from({ length: 100 }, () => c.publish(hb, Buffer.from([0xa0]), { qos: 1, lane: 'bulk' }).then(() => 'sent', (e: Error) => e.message))
    const order: string[] = []
    const control = c.publish(topics.device('dev-a', 'availability'), 'online', { qos: 1, retain: true }).then(() => order.push('control'))
    void Promise.all(bulk.map((p) => p.then(() => order.push('bulk'))))
    const outcomes = await Promise.all(bulk)
    await control
    expect(outcomes.filter((o) => o === 'sent')).toHaveLength(68) // 4 in flight + 64 queued
    expect(outcomes.filter((o) => /bulk lane is full/.test(o))).toHaveLength(32)
    // the control publish did not wait for the 68 bulk ones
    expect(order.indexOf('control')).toBeLessThan(order.lastIndexOf('bulk'))
    await c.stop()
  })
})
