/**
 * A TCP relay in front of a real broker that a test can cut, to force the order of events of a
 * broker shutdown: `cutAll()` drops every connection through it as a dead link would (the broker
 * publishes their last wills); `cutAfterWills(ids)` lets the wills of those devices through to
 * its client and then closes that client's connection (FIN after them), while nothing the client
 * says after them reaches the broker: a broker that delivered the wills and then went away.
 */
import net from 'node:net'
import { AVAILABILITY, topics } from '../../src/protocol/topics.js'

export interface CutProxy {
  readonly url: string
  cutAll(): void
  /** Resolves once the wills of every id went through and the connection carrying them was closed. */
  cutAfterWills(ids: readonly string[]): Promise<void>
  close(): Promise<void>
}

/** Whether `b` holds a QoS 1 PUBLISH of `offline` on the device's availability topic (packet id between). */
function holdsWill(b: Buffer, deviceId: string): boolean {
  const topic = Buffer.from(topics.device(deviceId, 'availability'))
  for (let i = b.indexOf(topic); i >= 0; i = b.indexOf(topic, i + 1)) {
    const at = i + topic.length + 2
    if (b.subarray(at, at + AVAILABILITY.offline.length).toString() === AVAILABILITY.offline) return true
  }
  return false
}

export async function startCutProxy(brokerPort: number): Promise<CutProxy> {
  const pairs = new Set<{ down: net.Socket; up: net.Socket }>()
  let watch: { ids: Set<string>; done: () => void } | null = null
  const server = net.createServer((down) => {
    const up = net.connect(brokerPort, '127.0.0.1')
    const pair = { down, up }
    pairs.add(pair)
    const close = () => {
      pairs.delete(pair)
      up.destroy()
      down.destroy()
    }
    // from the first will on, the broker reads nothing more from this client (Mosquitto sends the
    // wills after its loop has stopped), and after the last one the connection ends
    let deaf = false
    down.on('data', (b: Buffer) => void (deaf || up.write(b)))
    up.on('data', (b: Buffer) => {
      const w = watch
      if (w) for (const id of [...w.ids]) if (holdsWill(b, id)) {
        w.ids.delete(id)
        deaf = true
      }
      if (!w || w.ids.size) return void down.write(b)
      watch = null
      // the wills reach the client, then its connection ends; what it answers is never relayed
      up.off('close', close)
      pairs.delete(pair)
      up.destroy()
      down.end(b, () => w.done())
    })
    for (const s of [up, down]) {
      s.on('close', close)
      s.on('error', () => undefined)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `mqtt://127.0.0.1:${port}`,
    cutAll: () => {
      for (const p of [...pairs]) {
        p.up.destroy()
        p.down.destroy()
      }
    },
    cutAfterWills: (ids) => new Promise<void>((done) => (watch = { ids: new Set(ids), done })),
    close: () => {
      for (const p of [...pairs]) {
        p.up.destroy()
        p.down.destroy()
      }
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
