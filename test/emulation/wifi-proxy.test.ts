/** The emulated shared Wi-Fi (EMULATION): real sockets through one airtime budget. */
import { afterEach, describe, expect, it } from 'vitest'
import net from 'node:net'
import mqtt from 'mqtt'
import { WifiProxy } from '../../src/emulation/wifi-proxy.js'
import { WIFI5, contendedThroughputsBps, soloEfficiency } from '../../src/planner/network/wifi.js'
import { startHub, DEVICE_PASSWORD, until } from '../helpers/hub.js'
import type { Hub } from '../../src/hub/hub.js'

let proxy: WifiProxy | null = null
let sink: net.Server | null = null
let hub: Hub | null = null

afterEach(async () => {
  await proxy?.close()
  proxy = null
  await new Promise<void>((resolve) => (sink ? sink.close(() => resolve()) : resolve()))
  sink = null
  await hub?.stop()
  hub = null
})

/** A TCP sink that counts bytes per connection; resolves the port. */
async function startSink(): Promise<number> {
  sink = net.createServer((s) => s.resume())
  await new Promise<void>((resolve) => sink!.listen(0, '127.0.0.1', () => resolve()))
  return (sink.address() as net.AddressInfo).port
}

/** Sends `bytes` through a station's port; resolves the seconds until the proxy carried them all. */
async function send(p: WifiProxy, port: number, station: string, bytes: number): Promise<number> {
  const s = net.connect(port, '127.0.0.1')
  await new Promise<void>((resolve) => s.once('connect', () => resolve()))
  const t0 = performance.now()
  const before = p.carried.get(station) ?? 0
  s.write(Buffer.alloc(bytes, 7))
  await until(() => (p.carried.get(station) ?? 0) - before >= bytes, 20_000, `${station} to carry ${bytes} bytes`)
  s.destroy()
  return (performance.now() - t0) / 1000
}

describe('emulated Wi-Fi proxy (EMULATION)', () => {
  it('paces a lone station at its solo rate, and a slow station drags a fast one when both send', async () => {
    const port = await startSink()
    proxy = new WifiProxy({ brokerHost: '127.0.0.1', brokerPort: port, standard: WIFI5 })
    const fast = await proxy.addStation('fast', 200e6)
    const slow = await proxy.addStation('slow', 20e6)
    const bytes = 2_000_000
    const alone = await send(proxy, fast, 'fast', bytes)
    const soloBps = (bytes * 8) / alone
    expect(soloBps / (200e6 * soloEfficiency(WIFI5, 200e6))).toBeGreaterThan(0.6)
    expect(soloBps / (200e6 * soloEfficiency(WIFI5, 200e6))).toBeLessThan(1.15)
    // together: the DCF model gives both the same frame rate, so the fast one slows to the slow one's pace
    const [tFast] = await Promise.all([send(proxy, fast, 'fast', bytes), send(proxy, slow, 'slow', bytes)])
    const sharedBps = (bytes * 8) / tFast
    const expected = contendedThroughputsBps(WIFI5, [200e6, 20e6])[0]!
    expect(sharedBps).toBeLessThan(soloBps / 3)
    expect(sharedBps / expected).toBeGreaterThan(0.6)
    expect(sharedBps / expected).toBeLessThan(1.4)
  })

  it('counts the wall time it could not replay when its process was starved (a blocked event loop)', async () => {
    const port = await startSink()
    proxy = new WifiProxy({ brokerHost: '127.0.0.1', brokerPort: port, standard: WIFI5 })
    await proxy.addStation('a', 100e6)
    await new Promise((r) => setTimeout(r, 50))
    expect(proxy.stalledMs).toBeLessThan(1000)
    const before = proxy.stalledMs
    // block this process for 3 s: the proxy replays 2 s of it and counts the rest as lost
    const until = Date.now() + 3000
    while (Date.now() < until) { /* starve the event loop */ }
    await new Promise((r) => setTimeout(r, 50))
    expect(proxy.stalledMs - before).toBeGreaterThan(700)
    expect(proxy.stalledMs - before).toBeLessThan(1300)
  })

  it('carries a real MQTT session between a device and the hub\'s broker', async () => {
    hub = await startHub()
    proxy = new WifiProxy({ brokerHost: '127.0.0.1', brokerPort: hub.boundPorts!.port, standard: WIFI5 })
    const port = await proxy.addStation('dev-a', 100e6)
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'dev-a', password: DEVICE_PASSWORD, clientId: 'dev-a', reconnectPeriod: 0 })
    await c.subscribeAsync('dora/v1/devices/dev-a/#')
    const got = new Promise<Buffer>((resolve) => c.once('message', (_t, p) => resolve(p)))
    await c.publishAsync('dora/v1/devices/dev-a/availability', 'online', { qos: 1 })
    expect((await got).toString()).toBe('online')
    expect(proxy.carried.get('dev-a')).toBeGreaterThan(0)
    await c.endAsync()
  })
})
