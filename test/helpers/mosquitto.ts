/** Starts a real Mosquitto (Debian's `mosquitto`) on a free loopback port for a test. */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import net from 'node:net'

export interface Mosquitto {
  port: number
  pid: number
  url: string
  stop(): Promise<void>
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

/** Waits until a server process listens on a loopback port (or fails, with what it printed). */
export async function waitForServer(proc: ChildProcess, port: number, name: string): Promise<void> {
  let stderr = ''
  proc.stderr?.on('data', (b: Buffer) => (stderr += b.toString()))
  const deadline = Date.now() + 5000
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy()
        resolve(true)
      })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`${name} did not start: ${stderr}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** `extraConfig`: more mosquitto.conf lines (the transfer benchmark lifts the queue limit). */
export async function startMosquitto(fixedPort?: number, extraConfig = ''): Promise<Mosquitto> {
  const port = fixedPort ?? (await freePort())
  const dir = mkdtempSync(join(tmpdir(), 'dora-mosquitto-'))
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_packet_size 1048576\n${extraConfig}`)
  const proc: ChildProcess = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  await waitForServer(proc, port, 'mosquitto')
  return {
    port,
    pid: proc.pid!,
    url: `mqtt://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve()
        proc.once('exit', () => resolve())
        proc.kill('SIGTERM')
      }).finally(() => rmSync(dir, { recursive: true, force: true })),
  }
}
