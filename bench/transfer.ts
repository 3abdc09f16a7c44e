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
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { DEFAULT_CHUNK_BYTES } from '../src/protocol/chunks.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'
import { DATA_PLANE_LINES } from '../src/broker/mosquitto-config.js'

const KiB = 1024
const MiB = 1024 * KiB
const runTs = fileURLToPath(new URL('../bin/run-ts.mjs', import.meta.url))
const peer = fileURLToPath(new URL('./transfer-peer.ts', import.meta.url))
const brokerScript = fileURLToPath(new URL('./transfer-broker.ts', import.meta.url))
const relayScript = fileURLToPath(new URL('./transfer-relay.ts', import.meta.url))

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

/**
 * What sits between sender and receiver in a case: a broker (one port) or a relay (a receiver's
 * port and a sender's), and how much CPU it spent on the case.
 */
export interface Middle {
  recvPort: number
  sendPort: number
  begin: () => void
  /** CPU ms the broker or relay used since begin(), once the case is over. */
  end: () => Promise<number>
}

/** A long-running process (a broker, the Node relay) whose CPU is read from /proc around each case. */
export function processMiddle(pid: number, recvPort: number, sendPort = recvPort): Middle {
  let c0 = 0
  return { recvPort, sendPort, begin: () => (c0 = procCpuMs(pid)), end: async () => procCpuMs(pid) - c0 }
}

export async function runCase(mode: Mode, via: Middle, size: number, count: number, chunk: number, start = startPeer): Promise<CaseResult> {
  const args = (port: number) => [mode, String(port), String(size), String(count), String(chunk)]
  const recv = start(peer, ['recv', ...args(via.recvPort)])
  await recv.waitFor((l) => l === 'ready')
  via.begin()
  const send = start(peer, ['send', ...args(via.sendPort)])
  const end = JSON.parse(await recv.waitFor((l) => l.startsWith('{"endMs"'))) as { endMs: number; cpuMs: number }
  const begun = JSON.parse(await send.waitFor((l) => l.startsWith('{"startMs"'))) as { startMs: number; cpuMs: number }
  const middleMs = await via.end()
  await Promise.all([recv, send].map((p) => (exited(p.proc) ? null : new Promise((r) => p.proc.once('exit', r)))))
  const MB = (size * count) / 1e6
  return { MBps: MB / ((end.endMs - begun.startMs) / 1000), cpuMsPerMB: [begun.cpuMs / MB, end.cpuMs / MB, middleMs / MB] }
}

/** The Node relay (bench/transfer-relay.ts) in its own process, as the brokers run. */
export async function startRelay(script = relayScript, via?: string): Promise<{ middle: Middle; stop: () => Promise<void> }> {
  const p = startPeer(script, [], via ? { via } : {})
  const { recvPort, sendPort } = JSON.parse(await p.waitFor((l) => l.startsWith('{"recvPort"'))) as { recvPort: number; sendPort: number }
  const stop = async () => {
    p.proc.stdin!.end()
    if (!exited(p.proc)) await new Promise((r) => p.proc.once('exit', r))
  }
  return { middle: processMiddle(p.proc.pid!, recvPort, sendPort), stop }
}

/** Whether socat (Debian/Ubuntu package `socat`) is on the PATH. */
export function haveSocat(): boolean {
  return spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = net.createServer().once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })

/**
 * socat relaying one case's bytes, the C-level bound of a relay: it accepts the receiver on one
 * port, then the sender on another, copies sender to receiver in 1 MiB blocks (-U: that direction
 * only) and exits when the sender closes. Run under sh so that its CPU can be read from the shell's
 * reaped-children times (/proc/$$/stat cutime + cstime) once it has exited.
 */
export async function socatMiddle(): Promise<Middle> {
  const [recvPort, sendPort] = [await freePort(), await freePort()]
  const addr = (p: number) => `TCP-LISTEN:${p},bind=127.0.0.1,reuseaddr,nodelay`
  const sh = spawn('sh', ['-c', `socat -U -b 1048576 ${addr(recvPort)} ${addr(sendPort)}; cat /proc/$$/stat`], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  sh.stdout!.on('data', (b: Buffer) => (out += b.toString()))
  const done = new Promise<number>((resolve, reject) =>
    sh.once('exit', () => {
      const f = out.slice(out.lastIndexOf(')') + 2).split(' ')
      const ms = (Number(f[13]) + Number(f[14])) * 10 // cutime, cstime: ticks of 10 ms
      if (Number.isFinite(ms)) resolve(ms)
      else reject(new Error(`socat relay: no CPU figure (${out.slice(0, 200)})`))
    }),
  )
  return { recvPort, sendPort, begin: () => {}, end: () => done }
}

export interface TransferRow {
  broker: string
  tensorBytes: number
  chunkBytes: number
  tensors: number
  dora: CaseResult
  bare: CaseResult
  /** The same bytes through the Node relay (bench/transfer-relay.ts). */
  raw: CaseResult
  /** The same bytes through socat (null when socat is not installed). */
  socat: CaseResult | null
}

/**
 * Runs every size on both brokers, `rounds` times, interleaving Dora, bare, the Node relay and
 * socat (when installed), and keeps each one's best rate.
 */
export async function transferBench(log: (s: string) => void, rounds = 2, chunk = DEFAULT_CHUNK_BYTES): Promise<TransferRow[]> {
  const embedded = startPeer(brokerScript, [String(MiB)]) // the hub's default broker.embedded.maxPacketBytes
  const embeddedPort = (JSON.parse(await embedded.waitFor((l) => l.startsWith('{"port"'))) as { port: number }).port
  // Mosquitto drops QoS 1 messages beyond 1,000 queued for a subscriber that falls behind (its
  // max_queued_messages): a loaded machine's receiver did, and the bare receiver waited for ever.
  // The data-plane lines of the mosquitto.conf Dora writes (`dora mosquitto-config`): Nagle off
  const mosq = await startMosquitto(undefined, ['max_queued_messages 0', ...DATA_PLANE_LINES, ''].join('\n'))
  const relay = await startRelay()
  const socat = haveSocat()
  if (!socat) log('  transfer: socat not found, its relay row is skipped (Debian/Ubuntu: apt-get install socat)')
  const brokers = [
    { name: 'embedded (Aedes)', via: processMiddle(embedded.proc.pid!, embeddedPort) },
    { name: 'Mosquitto', via: processMiddle(mosq.pid, mosq.port) },
  ]
  const sizes = chunk === DEFAULT_CHUNK_BYTES ? [1 * KiB, 1 * MiB, 16 * MiB, 64 * MiB] : [1 * MiB, 16 * MiB, 64 * MiB]
  const rows: TransferRow[] = []
  const better = (a: CaseResult | undefined, b: CaseResult) => (a && a.MBps >= b.MBps ? a : b)
  try {
    for (const size of sizes) {
      const count = size === KiB ? 20_000 : Math.max(4, Math.ceil((128 * MiB) / size))
      const best = new Map<string, CaseResult>()
      const keep = async (key: string, c: Promise<CaseResult>) => void best.set(key, better(best.get(key), await c))
      for (let r = 0; r < rounds; r++) {
        await keep('raw', runCase('raw', relay.middle, size, count, chunk))
        if (socat) await keep('socat', runCase('raw', await socatMiddle(), size, count, chunk))
        for (const b of brokers) {
          await keep(`${b.name}/mqtt`, runCase('mqtt', b.via, size, count, chunk))
          await keep(`${b.name}/bare`, runCase('bare', b.via, size, count, chunk))
        }
      }
      for (const b of brokers) {
        const row = { broker: b.name, tensorBytes: size, chunkBytes: Math.min(chunk, size), tensors: count, dora: best.get(`${b.name}/mqtt`)!, bare: best.get(`${b.name}/bare`)!, raw: best.get('raw')!, socat: best.get('socat') ?? null }
        rows.push(row)
        log(`  transfer ${b.name} ${fmtBytes(size)} x${count}: Dora ${row.dora.MBps.toFixed(1)} MB/s, bare ${row.bare.MBps.toFixed(1)}, Node relay ${row.raw.MBps.toFixed(1)}, socat ${row.socat?.MBps.toFixed(1) ?? '-'}`)
      }
    }
  } finally {
    await relay.stop()
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
