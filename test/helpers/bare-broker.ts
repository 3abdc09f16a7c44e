/** A bare embedded broker for data-plane tests: anonymous loopback clients, no devices or jobs. */
import { EmbeddedBroker } from '../../src/broker/embedded.js'
import { Acl } from '../../src/broker/acl.js'
import { silentLogger } from '../../src/log.js'

/** Starts one on a free loopback port; `stops` gets its stop. Returns its URL. */
export async function startBareBroker(stops: Array<() => Promise<void>>): Promise<string> {
  const broker = new EmbeddedBroker({
    host: '127.0.0.1', port: 0, wsPort: null, tls: null, maxPacketBytes: 1024 * 1024, drainTimeoutMs: 5000, log: silentLogger,
    acl: new Acl({ hub: { username: 'h', password: 'unused-password' }, devices: [], observers: [], allowAnonymous: true, anonymousLoopbackOnly: true, jobsOf: () => [] }),
  })
  const { port } = await broker.start()
  stops.push(() => broker.stop())
  return `mqtt://127.0.0.1:${port}`
}
