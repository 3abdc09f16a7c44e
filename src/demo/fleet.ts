/**
 * The demo's emulated fleet (EMULATION): one `dora device` process per scenario device, each a
 * real process with its own MQTT connection, onnxruntime sessions and stage executor. Wi-Fi
 * devices connect through their station port of the emulated Wi-Fi proxy; wired ones straight to
 * the broker. Sources (cameras, a training job's data holder) are started and stopped over the
 * process's stdin, and report on stdout as JSON lines (device-report.ts): request statistics,
 * each training step and all of them at the end, and (with tracing) each request's stages.
 *
 * No device outlives the demo: each is started with an IPC channel, which closes however the
 * demo ends (SIGKILL included), and a device whose channel closes stops (cli/shutdown.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { RequesterStats } from '../runtime/requester.js'
import type { StepRecord } from '../../device-firmware-bridge/training-source.js'
import { parseReportLine } from './device-report.js'

const DORA = fileURLToPath(new URL('../../bin/dora.mjs', import.meta.url))

export interface FleetDevice {
  readonly id: string
  readonly url: string
  readonly password: string
  /** `job=rate` when the device is a source of requests. */
  readonly source: string | null
  /** A training job's id when the device holds its data (drives its optimizer steps). */
  readonly train?: string | null
}

export interface FleetOptions {
  readonly scenarioFile: string
  readonly cacheDir: string
  readonly coordination: 'slots' | 'none'
  readonly heartbeatMs: number
  readonly onLine?: (deviceId: string, line: string, stream: 'stdout' | 'stderr') => void
  /** Each device's trace reports (when set, devices run with --trace). */
  readonly onTrace?: (e: TraceEvent) => void
  /** Each finished training step of a training source (its step reports). */
  readonly onStep?: (deviceId: string, step: StepRecord) => void
  /** Emulation clock factor for every device (1: real time). */
  readonly timeScale?: number
  /** Once aborted, waits for the sources' statistics end at once. */
  readonly signal?: AbortSignal
}

export interface TraceEvent {
  readonly device: string
  readonly req: string
  readonly stage: number
  readonly phase: 'inputs' | 'ran' | 'sent'
  readonly atMs: number
  readonly t0: number
  /** Phase `ran`: wall ms the real run took beyond its dilated profile time (the host was too slow). */
  readonly lateMs?: number
}

interface Member {
  readonly device: FleetDevice
  readonly child: ChildProcess
  stats: RequesterStats | null
  training: StepRecord[] | null
  exited: boolean
}

export class EmulatedFleet {
  private readonly members = new Map<string, Member>()

  constructor(private readonly o: FleetOptions) {}

  spawn(d: FleetDevice): void {
    const args = [DORA, 'device', '--id', d.id, '--scenario', this.o.scenarioFile, '--broker', d.url, '--heartbeat-ms', String(this.o.heartbeatMs),
      '--cache-dir', this.o.cacheDir, '--control', 'stdin', '--coordination', this.o.coordination, ...(d.source ? ['--source', d.source] : []), ...(d.train ? ['--train', d.train] : []),
      ...(this.o.onTrace ? ['--trace'] : []), ...(this.o.timeScale && this.o.timeScale !== 1 ? ['--time-scale', String(this.o.timeScale)] : [])]
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe', 'ipc'], env: { ...process.env, DORA_DEVICE_PASSWORD: d.password } })
    const m: Member = { device: d, child, stats: null, training: null, exited: false }
    this.members.set(d.id, m)
    child.on('exit', () => {
      m.exited = true
    })
    createInterface({ input: child.stdout! }).on('line', (line) => this.onStdout(m, line))
    createInterface({ input: child.stderr! }).on('line', (line) => this.o.onLine?.(d.id, line, 'stderr'))
  }

  /** A device's stdout line: a report (device-report.ts) or text for people. */
  private onStdout(m: Member, line: string): void {
    const id = m.device.id
    const r = parseReportLine(line)
    if (r === null) return this.o.onLine?.(id, line, 'stdout')
    if (!r.ok) return this.o.onLine?.(id, `unreadable report (${r.error}): ${line.slice(0, 200)}`, 'stderr')
    const x = r.report
    if (x.kind === 'trace') this.o.onTrace?.({ device: id, ...x.data })
    else if (x.kind === 'step') this.o.onStep?.(id, x.data)
    else if (x.kind === 'training-stats') m.training = x.data
    else m.stats = x.data
  }

  get ids(): string[] {
    return [...this.members.keys()]
  }

  alive(id: string): boolean {
    const m = this.members.get(id)
    return !!m && !m.exited
  }

  /** Tells every source to start sending. */
  startSources(): void {
    for (const m of this.members.values()) if ((m.device.source || m.device.train) && !m.exited) m.child.stdin!.write('start\n')
  }

  /** Tells the training sources to stop after their step in progress; their step records (null: died). */
  async stopTraining(timeoutMs: number): Promise<Map<string, StepRecord[] | null>> {
    const sources = [...this.members.values()].filter((m) => m.device.train)
    for (const m of sources) if (!m.exited) m.child.stdin!.write('stop\n')
    const until = Date.now() + timeoutMs
    while (sources.some((m) => !m.training && !m.exited) && Date.now() < until && !this.o.signal?.aborted) await new Promise((r) => setTimeout(r, 50))
    return new Map(sources.map((m) => [m.device.id, m.training]))
  }

  /** Tells every source to stop and waits for their statistics (sources that died report none). */
  async stopSources(timeoutMs: number): Promise<Map<string, RequesterStats | null>> {
    const sources = [...this.members.values()].filter((m) => m.device.source)
    for (const m of sources) if (!m.exited) m.child.stdin!.write('stop\n')
    const until = Date.now() + timeoutMs
    while (sources.some((m) => !m.stats && !m.exited) && Date.now() < until && !this.o.signal?.aborted) await new Promise((r) => setTimeout(r, 50))
    return new Map(sources.map((m) => [m.device.id, m.stats]))
  }

  /** Kills a device without warning (SIGKILL: no clean leave; the broker sends its last will). */
  kill(id: string): void {
    const m = this.members.get(id)
    if (!m) throw new RangeError(`no device ${id} in the fleet`)
    m.child.kill('SIGKILL')
  }

  /** Stops every device (SIGTERM: they leave cleanly) and waits for them to exit. */
  async stop(timeoutMs = 10_000): Promise<void> {
    const all = [...this.members.values()]
    for (const m of all) if (!m.exited) m.child.kill('SIGTERM')
    const until = Date.now() + timeoutMs
    while (all.some((m) => !m.exited) && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
    for (const m of all) if (!m.exited) m.child.kill('SIGKILL')
  }
}
