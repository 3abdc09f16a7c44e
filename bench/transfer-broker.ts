/**
 * The embedded broker alone in its own process, for the transfer benchmark (so that sender,
 * broker and receiver each have an event loop, as devices and hub do). Prints {"port"}; exits on
 * SIGTERM or when stdin closes.
 */
import { EmbeddedBroker } from '../src/broker/embedded.js'
import { Acl } from '../src/broker/acl.js'
import { silentLogger } from '../src/log.js'

const broker = new EmbeddedBroker({
  host: '127.0.0.1', port: 0, wsPort: null, tls: null, maxPacketBytes: Number(process.argv[3] ?? 2 * 1024 * 1024), drainTimeoutMs: 30_000, log: silentLogger,
  acl: new Acl({ hub: { username: 'h', password: 'unused-password' }, devices: [], observers: [], allowAnonymous: true, anonymousLoopbackOnly: true, jobsOf: () => [] }),
})
const { port } = await broker.start()
process.stdout.write(`${JSON.stringify({ port })}\n`)
const stop = () => void broker.stop().then(() => process.exit(0))
process.once('SIGTERM', stop)
process.stdin.on('end', stop).resume()
