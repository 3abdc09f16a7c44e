/**
 * Tensor transfer throughput through the embedded broker (Aedes 1.2 + frame guard, QoS 1, CBOR
 * chunks, reassembly) against a raw TCP relay of the same bytes, measured in the same run.
 * Sender, receiver and broker/relay are separate processes on loopback.
 */
import net from 'node:net'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { EmbeddedBroker } from '../src/broker/embedded.js'
import { Acl } from '../src/broker/acl.js'
import { silentLogger } from '../src/log.js'

const KiB = 1024
const MiB = 1024 * KiB
const runTs = fileURLToPath(new URL('../bin/run-ts.mjs', import.meta.url))
const peer = fileURLToPath(new URL('./transfer-peer.ts', import.meta.url))

function startPeer(args: string[]): { proc: ReturnType<typeof spawn>; lines: string[]; waitFor: (pred: (l: string) => boolean) => Promise<string> } {
  const proc = spawn(process.execPath, [runTs, peer, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines: string[] = []
  const waiters: Array<{ pred: (l: string) => boolean; resolve: (l: string) => void }> = []
  let buf = ''
  proc.stdout!.on('data', (b: Buffer) => {
    buf += b.toString()
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      lines.push(line)
      for (const w of [...waiters]) if (w.pred(line)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(line)
      }
    }
  })
  const waitFor = (pred: (l: string) => boolean) =>
    new Promise<string>((resolve, reject) => {
      const hit = lines.find(pred)
      if (hit) return resolve(hit)
      waiters.push({ pred, resolve })
      proc.once('exit', (code) => setTimeout(() => reject(new Error(`peer ${args.join(' ')} exited ${code} before answering`)), 100))
    })
  return { proc, lines, waitFor }
}

async function runCase(mode: 'mqtt' | 'bare' | 'raw', port: number, size: number, count: number, chunk: number): Promise<number> {
  const recv = startPeer(['recv', mode, String(port), String(size), String(count), String(chunk)])
  await recv.waitFor((l) => l === 'ready')
  const send = startPeer(['send', mode, String(port), String(size), String(count), String(chunk)])
  const end = JSON.parse(await recv.waitFor((l) => l.startsWith('{"endMs"'))).endMs as number
  const start = JSON.parse(await send.waitFor((l) => l.startsWith('{"startMs"'))).startMs as number
  await Promise.all([recv, send].map((p) => (p.proc.exitCode === null ? new Promise((r) => p.proc.once('exit', r)) : null)))
  return (size * count) / ((end - start) / 1000)
}

function startRelay(): Promise<{ port: number; close: () => void }> {
  const server = net.createServer()
  let receiver: net.Socket | null = null
  server.on('connection', (s) => {
    s.once('data', (b) => {
      if (b[0] === 0x52) receiver = s // 'R'
      else {
        if (b.length > 1) receiver!.write(b.subarray(1))
        s.pipe(receiver!)
      }
    })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as net.AddressInfo).port, close: () => server.close() })))
}

export interface TransferRow {
  tensorBytes: number
  chunkBytes: number
  tensors: number
  brokerMBps: number
  bareMBps: number
  rawMBps: number
  ratio: number
  bareRatio: number
}

export async function transferBench(log: (s: string) => void): Promise<TransferRow[]> {
  const broker = new EmbeddedBroker({
    host: '127.0.0.1', port: 0, wsPort: null, tls: null, maxPacketBytes: 2 * MiB, drainTimeoutMs: 30_000, log: silentLogger,
    acl: new Acl({ hub: { username: 'h', password: 'unused-password' }, devices: [], observers: [], allowAnonymous: true, anonymousLoopbackOnly: true, jobsOf: () => [] }),
  })
  const { port } = await broker.start()
  const relay = await startRelay()
  const sizes = [1 * KiB, 64 * KiB, 1 * MiB, 16 * MiB, 64 * MiB]
  const chunks = [16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB - 4 * KiB]
  const rows: TransferRow[] = []
  for (const size of sizes) {
    const count = Math.max(2, Math.min(2000, Math.ceil((64 * MiB) / size)))
    const raw = await runCase('raw', relay.port, size, count, size)
    const applicable = chunks.filter((c, i) => c <= size || i === 0 || chunks[i - 1]! < size)
    for (const chunk of applicable) {
      const mqtt = await runCase('mqtt', port, size, count, chunk)
      const bare = await runCase('bare', port, size, count, chunk)
      const row = { tensorBytes: size, chunkBytes: Math.min(chunk, size), tensors: count, brokerMBps: mqtt / 1e6, bareMBps: bare / 1e6, rawMBps: raw / 1e6, ratio: mqtt / raw, bareRatio: bare / raw }
      rows.push(row)
      log(`  transfer ${fmtBytes(size)} in ${fmtBytes(row.chunkBytes)} chunks x${count}: Dora ${row.brokerMBps.toFixed(0)} MB/s, bare MQTT ${row.bareMBps.toFixed(0)} MB/s, raw relay ${row.rawMBps.toFixed(0)} MB/s`)
    }
  }
  relay.close()
  await broker.stop()
  return rows
}

export function fmtBytes(n: number): string {
  if (n >= MiB) return `${+(n / MiB).toFixed(2)} MiB`
  if (n >= KiB) return `${+(n / KiB).toFixed(2)} KiB`
  return `${n} B`
}
