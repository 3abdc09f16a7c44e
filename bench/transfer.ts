/**
 * Tensor transfer through an MQTT broker against a raw TCP relay of the same bytes, measured in
 * the same run, on the embedded broker (Aedes 1.2 + frame guard, in its own process as a hub
 * would run it) and on Mosquitto. Sender, receiver and broker/relay are separate processes on
 * loopback; every case reports each process's CPU time per MB, which is steadier than the rates
 * on a shared machine. Dora = as devices send (sendTensor + chunk batcher, QoS 1, CRC, reassembly);
 * bare = the same chunk bytes as plain QoS 1 payloads, one per message, no codec.
 */
import net from 'node:net'
import { readFileSync } from 'node:fs'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { DEFAULT_CHUNK_BYTES } from '../src/protocol/chunks.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'
import { DATA_PLANE_LINES } from '../src/broker/mosquitto-config.js'

const KiB = 1024
const MiB = 1024 * KiB
const runTs = fileURLToPath(new URL('../bin/run-ts.mjs', import.meta.url))
const peer = fileURLToPath(new URL('./transfer-peer.ts', import.meta.url))
const brokerScript = fileURLToPath(new URL('./transfer-broker.ts', import.meta.url))

type Mode = 'mqtt' | 'bare' | 'raw'

export interface Peer { proc: ChildProcess; waitFor: (pred: (l: string) => boolean) => Promise<string> }

/**
 * A bench process (`script` run by `via`, this tree's bin/run-ts.mjs by default) whose stdout
 * lines can be awaited; `nodeArgs` go to node first (a --cpu-prof), `cwd` is its folder.
 */
export function startPeer(script: string, args: string[], o: { via?: string; nodeArgs?: string[]; cwd?: string } = {}): Peer {
  const proc = spawn(process.execPath, [...(o.nodeArgs ?? []), o.via ?? runTs, script, ...args], { stdio: ['pipe', 'pipe', 'inherit'], ...(o.cwd ? { cwd: o.cwd } : {}) })
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
      const gone = (code: number | null, signal: string | null) => setTimeout(() => reject(new Error(`${script} ${args.join(' ')} exited (${code ?? signal}) before answering`)), 100)
      if (exited(proc)) return gone(proc.exitCode, proc.signalCode)
      waiters.push({ pred, resolve })
      proc.once('exit', gone)
    })
  return { proc, waitFor }
}

/** Whether a child has exited, by a code or by a signal (exitCode alone stays null after a signal). */
const exited = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null

/** CPU ms a process has used (Linux /proc: utime + stime in ticks of 10 ms). */
export function procCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

export interface CaseResult {
  MBps: number
  /** CPU ms per MB moved: sender, receiver, broker (or relay). */
  cpuMsPerMB: [number, number, number]
}

async function runCase(mode: Mode, port: number, brokerPid: number, size: number, count: number, chunk: number): Promise<CaseResult> {
  const args = [mode, String(port), String(size), String(count), String(chunk)]
  const recv = startPeer(peer, ['recv', ...args])
  await recv.waitFor((l) => l === 'ready')
  const b0 = procCpuMs(brokerPid)
  const send = startPeer(peer, ['send', ...args])
  const end = JSON.parse(await recv.waitFor((l) => l.startsWith('{"endMs"'))) as { endMs: number; cpuMs: number }
  const start = JSON.parse(await send.waitFor((l) => l.startsWith('{"startMs"'))) as { startMs: number; cpuMs: number }
  const b1 = procCpuMs(brokerPid)
  await Promise.all([recv, send].map((p) => (exited(p.proc) ? null : new Promise((r) => p.proc.once('exit', r)))))
  const MB = (size * count) / 1e6
  return { MBps: MB / ((end.endMs - start.startMs) / 1000), cpuMsPerMB: [start.cpuMs / MB, end.cpuMs / MB, (b1 - b0) / MB] }
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
  broker: string
  tensorBytes: number
  chunkBytes: number
  tensors: number
  dora: CaseResult
  bare: CaseResult
  raw: CaseResult
}

/** Runs every size on both brokers, `rounds` times, interleaving Dora, bare and raw, and keeps each one's best rate. */
export async function transferBench(log: (s: string) => void, rounds = 2, chunk = DEFAULT_CHUNK_BYTES): Promise<TransferRow[]> {
  const embedded = startPeer(brokerScript, [String(MiB)]) // the hub's default broker.embedded.maxPacketBytes
  const embeddedPort = (JSON.parse(await embedded.waitFor((l) => l.startsWith('{"port"'))) as { port: number }).port
  // Mosquitto drops QoS 1 messages beyond 1,000 queued for a subscriber that falls behind (its
  // max_queued_messages): a loaded machine's receiver did, and the bare receiver waited for ever.
  // The data-plane lines of the mosquitto.conf Dora writes (`dora mosquitto-config`): Nagle off
  const mosq = await startMosquitto(undefined, ['max_queued_messages 0', ...DATA_PLANE_LINES, ''].join('\n'))
  const relay = await startRelay()
  const brokers = [
    { name: 'embedded (Aedes)', port: embeddedPort, pid: embedded.proc.pid! },
    { name: 'Mosquitto', port: mosq.port, pid: mosq.pid },
  ]
  const sizes = chunk === DEFAULT_CHUNK_BYTES ? [1 * KiB, 1 * MiB, 16 * MiB, 64 * MiB] : [1 * MiB, 16 * MiB, 64 * MiB]
  const rows: TransferRow[] = []
  const better = (a: CaseResult | undefined, b: CaseResult) => (a && a.MBps >= b.MBps ? a : b)
  try {
    for (const size of sizes) {
      const count = size === KiB ? 20_000 : Math.max(4, Math.ceil((128 * MiB) / size))
      const best = new Map<string, CaseResult>()
      for (let r = 0; r < rounds; r++) {
        best.set('raw', better(best.get('raw'), await runCase('raw', relay.port, process.pid, size, count, chunk)))
        for (const b of brokers) {
          best.set(`${b.name}/mqtt`, better(best.get(`${b.name}/mqtt`), await runCase('mqtt', b.port, b.pid, size, count, chunk)))
          best.set(`${b.name}/bare`, better(best.get(`${b.name}/bare`), await runCase('bare', b.port, b.pid, size, count, chunk)))
        }
      }
      for (const b of brokers) {
        const row = { broker: b.name, tensorBytes: size, chunkBytes: Math.min(chunk, size), tensors: count, dora: best.get(`${b.name}/mqtt`)!, bare: best.get(`${b.name}/bare`)!, raw: best.get('raw')! }
        rows.push(row)
        log(`  transfer ${b.name} ${fmtBytes(size)} x${count}: Dora ${row.dora.MBps.toFixed(1)} MB/s, bare ${row.bare.MBps.toFixed(1)}, raw ${row.raw.MBps.toFixed(1)}`)
      }
    }
  } finally {
    relay.close()
    await mosq.stop()
    embedded.proc.stdin!.end()
    if (!exited(embedded.proc)) await new Promise((r) => embedded.proc.once('exit', r))
  }
  return rows
}

export function fmtBytes(n: number): string {
  if (n >= MiB) return `${+(n / MiB).toFixed(2)} MiB`
  if (n >= KiB) return `${+(n / KiB).toFixed(2)} KiB`
  return `${n} B`
}
