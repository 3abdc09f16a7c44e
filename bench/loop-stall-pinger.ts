/**
 * The pinging device of bench/loop-stall.ts (a separate process, a real mqtt.js client): every
 * 5 ms it publishes its clock on a topic it subscribes to, through the broker under test, and
 * keeps each round trip. The parent sends `start` and `end` (the window whose pings count) and
 * `stop` (reply with the window's round trips, ms, and how many of its pings got no answer).
 *   node bin/run-ts.mjs bench/loop-stall-pinger.ts mqtt://127.0.0.1:PORT
 */
import mqtt from 'mqtt'

const url = process.argv[3]!
// not a topic of the contract (topics.md): the bench's own, under the prefix anonymous loopback clients may use (src/broker/acl.ts)
const topic = `dora/v1/bench/ping/${process.pid}`
const client = mqtt.connect(url, { reconnectPeriod: 0, clientId: `pinger-${process.pid}` })
/** Pings of the window: send time -> round trip (null: no answer yet). */
let pings = new Map<number, number | null>()
let window = { from: Infinity, to: Infinity }
client.on('message', (_t, payload) => {
  const at = Number(payload.toString())
  if (pings.has(at)) pings.set(at, performance.now() - at)
})
client.on('connect', () => {
  client.subscribe(topic, { qos: 0 }, () => {
    setInterval(() => {
      const now = performance.now()
      if (now >= window.from && now <= window.to) pings.set(now, null)
      client.publish(topic, String(now), { qos: 0 })
    }, 5)
    process.send!('ready')
  })
})
process.on('message', (m) => {
  if (m === 'start') {
    pings = new Map()
    window = { from: performance.now(), to: Infinity }
  } else if (m === 'end') window.to = performance.now()
  else if (m === 'stop') {
    const rtts = [...pings.values()].filter((x): x is number => x !== null)
    process.send!({ rtts, lost: pings.size - rtts.length })
  } else if (m === 'exit') client.end(true, () => process.exit(0))
})
