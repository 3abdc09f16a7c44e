/**
 * Load test (issue 7), EMULATION: 1,000 lightweight devices (no model; bench/load-fleet.ts, one
 * separate process) heartbeating at 1 Hz against one hub, on the embedded broker and on Mosquitto.
 * Measured in the hub's process: heartbeat-to-registry latency (device send time to the registry
 * event; same machine, same clock), the registry's correctness (every device online, no heartbeat
 * lost), and the CPU of the hub process (and of Mosquitto, from /proc) over the window.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../src/config/load.js'
import { Hub } from '../src/hub/hub.js'
import { silentLogger } from '../src/log.js'
import { meanAndP95 } from '../src/shared/stats.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'

const runTs = fileURLToPath(new URL('../bin/run-ts.mjs', import.meta.url))
const fleetScript = fileURLToPath(new URL('./load-fleet.ts', import.meta.url))
const PASSWORD = 'load-test-secret'

export interface LoadRow {
  broker: string
  devices: number
  online: number
  heartbeats: number
  expected: number
  missed: number
  meanMs: number
  p95Ms: number
  hubCpuPct: number
  brokerCpuPct: number | null
}

/** CPU seconds a process has used (Linux /proc: utime + stime in clock ticks of 1/100 s). */
function procCpuS(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

export async function loadBench(count: number, windowS: number, log: (s: string) => void): Promise<LoadRow[]> {
  const rows: LoadRow[] = []
  for (const broker of ['embedded (Aedes)', 'Mosquitto'] as const) {
    const mosq = broker === 'Mosquitto' ? await startMosquitto() : null
    const ids = Array.from({ length: count }, (_, i) => `load-${String(i).padStart(4, '0')}`)
    const config = await loadConfig(undefined, {
      hub: { heartbeatTimeoutMs: 5000, stateMinIntervalMs: 1000 },
      broker: mosq ? { url: mosq.url } : { embedded: { host: '127.0.0.1', port: 0, wsPort: 0 } },
      auth: { devices: ids.map((id) => ({ id, password: PASSWORD })) },
    })
    const hub = new Hub(config, silentLogger)
    await hub.start()
    const url = mosq ? mosq.url : `mqtt://127.0.0.1:${hub.boundPorts!.port}`
    log(`  ${broker}: connecting ${count} devices ...`)
    const fleet = spawn(process.execPath, [runTs, fleetScript, url, String(count), PASSWORD, String(windowS + 15)], { stdio: ['ignore', 'pipe', 'inherit'] })
    await new Promise<void>((resolve, reject) => {
      fleet.stdout!.on('data', (b: Buffer) => { if (b.toString().includes('ready')) resolve() })
      fleet.once('exit', (code) => reject(new Error(`load fleet exited (${code}) before it was ready`)))
    })
    await new Promise((r) => setTimeout(r, 5000)) // every device into its heartbeat rhythm
    const latencies: number[] = []
    const onEvent = (e: { type: string; device: { lastHeartbeat: { timeMs: number } | null } }) => {
      if (e.type === 'changed' && e.device.lastHeartbeat) latencies.push(performance.timeOrigin + performance.now() - e.device.lastHeartbeat.timeMs)
    }
    hub.registry.on('event', onEvent)
    const before = new Map(hub.registry.snapshot().map((d) => [d.id, d.measurements.heartbeats]))
    const cpu0 = process.cpuUsage()
    const b0 = mosq ? procCpuS(mosq.pid) : 0
    const t0 = performance.now()
    log(`  ${broker}: measuring for ${windowS} s ...`)
    await new Promise((r) => setTimeout(r, windowS * 1000))
    const elapsedS = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const b1 = mosq ? procCpuS(mosq.pid) : 0
    hub.registry.off('event', onEvent)
    const snap = hub.registry.snapshot()
    const heartbeats = snap.reduce((a, d) => a + d.measurements.heartbeats - (before.get(d.id) ?? 0), 0)
    const s = meanAndP95(latencies)
    rows.push({
      broker, devices: count,
      online: snap.filter((d) => d.status === 'online').length,
      heartbeats, expected: Math.round(count * elapsedS),
      missed: snap.reduce((a, d) => a + d.measurements.missedHeartbeats, 0),
      meanMs: s.mean, p95Ms: s.p95,
      hubCpuPct: ((cpu.user + cpu.system) / 1e6 / elapsedS) * 100,
      brokerCpuPct: mosq ? ((b1 - b0) / elapsedS) * 100 : null,
    })
    fleet.kill('SIGTERM')
    await hub.stop()
    await mosq?.stop()
  }
  return rows
}
