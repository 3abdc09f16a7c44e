/**
 * Hub-granted air over MQTT (topics.md § Air grants), with a real hub (embedded Aedes on a
 * loopback port) and real mqtt.js device connections: grants go one at a time, shortest first,
 * an ask overtaken at most MAX_OVERTAKEN times, a grant not given back ends at its lease, hostile
 * asks are bounded, and the device side measures each grant's round trip apart from its queueing.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import { connect, deviceUrl, DEVICE_PASSWORD, startHub, stopHubAndClients } from '../helpers/hub.js'
import type { Hub } from '../../src/hub/hub.js'
import { AirGrants } from '../../src/runtime/air-grants.js'
import { topics } from '../../src/protocol/topics.js'
import { encodeCbor } from '../../src/protocol/codec.js'
import { MAX_OVERTAKEN } from '../../src/protocol/air-order.js'

let hub: Hub | null = null
const clients: MqttClient[] = []
afterEach(async () => {
  await stopHubAndClients(hub, clients)
  hub = null
})

async function device(id: string, timeoutMs = 5000): Promise<{ c: MqttClient; air: AirGrants }> {
  const c = await connect(deviceUrl(hub!), { username: id, password: DEVICE_PASSWORD, clientId: id })
  clients.push(c)
  const air = new AirGrants({ deviceId: id, clock: () => performance.now(), timeoutMs, estimateMs: (bytes) => bytes / 10, publish: async (t, p, qos) => void (await c.publishAsync(t, p, { qos })) })
  c.on('message', (topic, payload) => topic === topics.device(id, 'grant') && air.onGrant(payload))
  await c.subscribeAsync(topics.device(id, 'grant'), { qos: 1 })
  return { c, air }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('hub-granted air', () => {
  it('grants the air to one transfer at a time, in order of asking, and the device measures the round trip', async () => {
    hub = await startHub()
    const a = await device('dev-a')
    const b = await device('dev-b')
    const log: string[] = []
    const hold = (who: string, ms: number) => async () => {
      log.push(`${who}+`)
      await sleep(ms)
      log.push(`${who}-`)
    }
    const first = a.air.withAir(1000, hold('a', 60))
    await sleep(5) // a asks first
    const second = b.air.withAir(1000, hold('b', 30))
    await sleep(5) // then b (its ask and a2's go on two connections: asked at once, either may reach the hub first)
    const third = a.air.withAir(1000, hold('a2', 10))
    await Promise.all([first, second, third])
    expect(log).toEqual(['a+', 'a-', 'b+', 'b-', 'a2+', 'a2-'])
    expect(a.air.stats.granted + b.air.stats.granted).toBe(3)
    expect(a.air.stats.timedOut + b.air.stats.timedOut).toBe(0)
    // b's ask waited behind a's transfer at the hub; its round trip alone is far shorter than that
    expect(b.air.stats.queuedMs[0]).toBeGreaterThan(20)
    for (const rtt of [...a.air.stats.roundTripsMs, ...b.air.stats.roundTripsMs]) {
      expect(rtt).toBeGreaterThan(0)
      expect(rtt).toBeLessThan(1000)
    }
    // the heartbeat takes the round trips measured since the last one (hub/grant-round-trips.ts plans with them)
    expect(a.air.takeRoundTrips()).toEqual(a.air.stats.roundTripsMs)
    expect(a.air.takeRoundTrips()).toEqual([])
  })

  it('grants the shortest ask first', async () => {
    hub = await startHub()
    const a = await device('dev-a')
    const b = await device('dev-b')
    const log: string[] = []
    const hold = (who: string, ms: number) => async () => {
      log.push(who)
      await sleep(ms)
    }
    const first = a.air.withAir(1000, hold('a', 80))
    await sleep(10)
    const big = b.air.withAir(3000, hold('big', 5))
    await sleep(10)
    const small = a.air.withAir(50, hold('small', 5))
    await Promise.all([first, big, small])
    // the 50-byte transfer asked last and went before the 3,000-byte one
    expect(log).toEqual(['a', 'small', 'big'])
  })

  it(`a big ask is overtaken by at most ${MAX_OVERTAKEN} shorter ones however many come`, async () => {
    hub = await startHub()
    const a = await device('dev-a')
    const b = await device('dev-b')
    const log: string[] = []
    const hold = (who: string, ms: number) => async () => {
      log.push(who)
      await sleep(ms)
    }
    const first = a.air.withAir(1000, hold('a', 150))
    await sleep(20)
    const big = b.air.withAir(3000, hold('big', 5))
    await sleep(20)
    // a keeps asking for short transfers while it holds the air: shortest first alone would let them all go before b's
    const smalls = Array.from({ length: MAX_OVERTAKEN + 3 }, (_, i) => a.air.withAir(50, hold(`small ${i}`, 5)))
    await Promise.all([first, big, ...smalls])
    expect(log[0]).toBe('a')
    expect(log.indexOf('big')).toBe(1 + MAX_OVERTAKEN)
    expect(log).toHaveLength(MAX_OVERTAKEN + 5)
  })

  it('a grant that is never given back ends at its lease, and the next device gets the air', async () => {
    hub = await startHub()
    const a = await device('dev-a')
    const b = await device('dev-b')
    // dev-a asks by hand and never says done: a 20 ms estimate leases 2 x 20 + 50 = 90 ms
    const t0 = performance.now()
    await a.c.publishAsync(topics.device('dev-a', 'air'), encodeCbor({ v: 1, kind: 'ask', seq: 7, bytes: 100, airMs: 20 }), { qos: 1 })
    await sleep(10)
    await b.air.withAir(100, async () => undefined)
    const waited = performance.now() - t0
    // dev-a's grant came after its ask, and dev-b's only once that lease ran out
    expect(waited).toBeGreaterThanOrEqual(89)
    expect(waited).toBeLessThan(2000)
    expect(b.air.stats.granted).toBe(1)
  })

  it('malformed asks and a flood of asks from one device leave the others served', async () => {
    hub = await startHub()
    const a = await device('dev-a')
    const b = await device('dev-b')
    await a.c.publishAsync(topics.device('dev-a', 'air'), Buffer.from('not cbor'), { qos: 1 })
    await a.c.publishAsync(topics.device('dev-a', 'air'), encodeCbor({ v: 1, kind: 'ask', seq: -1, bytes: 1e12, airMs: 1e9 }), { qos: 1 })
    // 200 asks never given back, each leasing the air for 2 x 10 + 50 = 70 ms: only 16 may wait
    for (let i = 0; i < 200; i++) a.c.publish(topics.device('dev-a', 'air'), encodeCbor({ v: 1, kind: 'ask', seq: 1000 + i, bytes: 10, airMs: 10 }), { qos: 0 })
    await sleep(100)
    const t0 = performance.now()
    await b.air.withAir(100, async () => undefined)
    // at most 16 of dev-a's leases (70 ms each) stand before dev-b's: about 1.1 s, not 14 s
    expect(performance.now() - t0).toBeLessThan(3000)
    expect(b.air.stats.granted).toBe(1)
  })

  it('a device with many old asks it never gives back cannot keep another device waiting for all their leases', async () => {
    hub = await startHub()
    const hostile = await device('dev-b')
    const a = await device('dev-a', 15_000)
    // 16 asks of 1 s of air (leases of 2,050 ms each), never given back: in order of asking they
    // would all stand before dev-a's ask once passed over (33 s)
    for (let i = 0; i < 16; i++) await hostile.c.publishAsync(topics.device('dev-b', 'air'), encodeCbor({ v: 1, kind: 'ask', seq: 500 + i, bytes: 10, airMs: 1000 }), { qos: 1 })
    await sleep(1200)
    const t0 = performance.now()
    await a.air.withAir(100, async () => undefined)
    // dev-a goes once the first lease and a halved second one ran out (about 1.9 s), not after all 16
    expect(a.air.stats.timedOut).toBe(0)
    expect(a.air.stats.granted).toBe(1)
    expect(performance.now() - t0).toBeLessThan(5000)
  }, 30_000)

  it('an ask the device gave up on (its grant came too late, it sent anyway) is never granted after: it would hold the air for its lease', async () => {
    hub = await startHub()
    const a = await device('dev-a')
    const b = await device('dev-b', 50) // waits 50 ms for a grant, then sends anyway
    const holding = a.air.withAir(1000, () => sleep(300)) // lease 250 ms (the desk's: twice 100 ms, plus 50)
    await sleep(20)
    // b's ask (4 s of air: a lease of 8 s) waits behind a's grant; b gives up, sends, and says done
    await b.air.withAir(40_000, async () => undefined)
    expect(b.air.stats.timedOut).toBe(1)
    await holding
    await sleep(20)
    const t0 = performance.now()
    await a.air.withAir(1000, async () => undefined)
    expect(a.air.stats.timedOut).toBe(0)
    expect(performance.now() - t0).toBeLessThan(1000) // not behind b's abandoned ask's 8 s lease
  })

  it('sends anyway when no grant comes in time (no hub answering)', async () => {
    hub = await startHub()
    const a = await device('dev-a', 150)
    await hub.stop()
    hub = null
    const t0 = performance.now()
    const sent = await a.air.withAir(100, async () => 'sent')
    expect(sent).toBe('sent')
    expect(a.air.stats.timedOut).toBe(1)
    expect(performance.now() - t0).toBeLessThan(2000)
  })
})
