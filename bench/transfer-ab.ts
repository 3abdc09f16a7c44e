/**
 * A/B of the transfer benchmark's peers (bench/transfer-peer.ts) from two or more source trees
 * (checkouts of different commits), interleaved case by case in one run against the same brokers,
 * so that a change is measured under the same machine load as what it replaces. Prints each
 * case's rate and CPU ms per MB of sender / receiver / broker (or relay).
 *   node bin/run-ts.mjs bench/transfer-ab.ts ROUNDS MIB,... MODES BROKERS TREE [TREE...]
 *   MODES: mqtt,bare,raw (the Node relay, bench/transfer-relay.ts),socat (when installed); the
 *   relay cases run this file's tree's peers and relay, whatever the TREEs; BROKERS: aedes (the embedded broker of BROKER_TREE, default the first
 *   tree), aedes@TREE (the embedded broker of that tree: several of them A/B the broker itself,
 *   with the same peers), mosq (Mosquitto's defaults), mosqnd (set_tcp_nodelay true).
 * Environment: CHUNK (bytes, default 256 KiB), MUL (tensors x MUL), PROF (a folder: --cpu-prof
 * of every peer and the embedded broker, one subfolder per case), BROKER_NODE_ARGS (node flags
 * for the embedded brokers, space-separated, e.g. --trace-gc), WARM=1 (one unreported 16 MiB x 16
 * case through each broker first: a fresh broker spends its first 0.5-1 s of CPU compiling).
 */
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { startMosquitto } from '../test/helpers/mosquitto.js'
import { haveSocat, processMiddle, runCase as runCaseOf, socatMiddle, startPeer as startPeerIn, startRelay, type Middle, type Peer } from './transfer.js'

const [roundsS, sizesS, modesS, brokersS, ...trees] = process.argv.slice(3)
const rounds = Number(roundsS)
const sizes = sizesS!.split(',').map((s) => Math.round(Number(s) * 1024 * 1024))
const modes = modesS!.split(',')
const chunk = Number(process.env.CHUNK ?? 256 * 1024)
const prof = process.env.PROF
const profArgs = (tag: string) => (prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}/${tag}`] : [])

function startPeer(tree: string, script: string, args: string[], tag = '', nodeArgs: string[] = []): Peer {
  return startPeerIn(`${tree}/bench/${script}`, args, { via: `${tree}/bin/run-ts.mjs`, nodeArgs: [...nodeArgs, ...(tag ? profArgs(tag) : [])], cwd: tree })
}
const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '')
async function runCase(tree: string, mode: string, via: Middle, size: number, count: number, tag: string) {
  const start = (_script: string, args: string[]) => startPeer(tree, 'transfer-peer.ts', args, `${args[0]}-${tag}`)
  const res = await runCaseOf(mode === 'socat' ? 'raw' : (mode as 'mqtt' | 'bare' | 'raw'), via, size, count, chunk, start)
  return { MBps: res.MBps, cpu: res.cpuMsPerMB }
}

const brokerTree = process.env.BROKER_TREE ?? trees[0]!
const brokers: Array<{ name: string; via: Middle; stop: () => Promise<void> }> = []
for (const b of brokersS!.split(',')) {
  if (b === 'aedes' || b.startsWith('aedes@')) {
    const tree = b === 'aedes' ? brokerTree : b.slice('aedes@'.length)
    const name = b === 'aedes' ? 'aedes' : `aedes@${tree.split('/').pop()}`
    const nodeArgs = (process.env.BROKER_NODE_ARGS ?? '').split(' ').filter(Boolean)
    const e = startPeer(tree, 'transfer-broker.ts', [String(1024 * 1024)], prof ? name : '', nodeArgs)
    const port = JSON.parse(await e.waitFor((l) => l.startsWith('{"port"'))).port
    brokers.push({ name, via: processMiddle(e.proc.pid!, port), stop: async () => { e.proc.stdin!.end(); await new Promise((r) => e.proc.once('exit', r)) } })
  } else {
    const m = await startMosquitto(undefined, `max_queued_messages 0\n${b === 'mosqnd' ? 'set_tcp_nodelay true\n' : ''}`)
    brokers.push({ name: b, via: processMiddle(m.pid, m.port), stop: m.stop })
  }
}
for (const b of brokers) process.stderr.write(`# broker ${b.name} port ${b.via.recvPort}\n`)
const relay = await startRelay()
if (modes.includes('socat') && !haveSocat()) throw new Error('socat is not installed (Debian/Ubuntu: apt-get install socat); drop the socat mode')
console.log(`# ${new Date().toISOString()} load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} chunk ${chunk}`)
try {
  if (process.env.WARM === '1') for (const b of brokers) await runCase(trees[0]!, 'mqtt', b.via, 16 * 1024 * 1024, 16, `warm-${b.name}`)
  for (let r = 0; r < rounds; r++) {
    for (const size of sizes) {
      const count = (size <= 1024 ? 20_000 : Math.max(4, Math.ceil((128 * 1024 * 1024) / size))) * Number(process.env.MUL ?? 1)
      for (const mode of modes) {
        const bs = mode === 'raw' ? [{ name: 'relay', via: relay.middle }] : mode === 'socat' ? [{ name: 'socat', via: null }] : brokers
        for (const b of bs) {
          for (const tree of mode === 'raw' || mode === 'socat' ? [here] : trees) {
            const tag = `${tree.split('/').pop()}-${b.name}-${mode}-${size}`
            const res = await runCase(tree, mode, b.via ?? (await socatMiddle()), size, count, tag)
            console.log(`r${r} ${(size / 1048576).toFixed(3)}MiB ${b.name.padEnd(10)} ${mode.padEnd(4)} ${tree.padEnd(24)} ${res.MBps.toFixed(1).padStart(7)} MB/s  cpu ${res.cpu.map((x) => x.toFixed(2)).join(' / ')}  load ${os.loadavg()[0]!.toFixed(1)}`)
          }
        }
      }
    }
  }
} finally {
  await relay.stop()
  for (const b of brokers) await b.stop()
}
