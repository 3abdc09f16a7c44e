/**
 * Measuring this host for the emulation clock (EMULATION): the devices' own onnxruntime
 * micro-benchmark (device-firmware-bridge/benchmark.ts, one thread, as a device runs its
 * stages), run in several processes at once so that each gets only its share of the cores.
 * Each child loads, reports `ready`, waits for `go` on stdin (so that their measurements
 * overlap), and prints its figures as one JSON line. The slowest process's rate per op class is
 * what a device may get. `probe-main.ts` is the child.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { OpClassFlops } from '../planner/types.js'

const RUN_TS = fileURLToPath(new URL('../../bin/run-ts.mjs', import.meta.url))
const CHILD = fileURLToPath(new URL('./probe-main.ts', import.meta.url))

export interface HostMeasurement {
  /** Processes measured at once. */
  readonly processes: number
  /** Each process's figures. */
  readonly each: readonly OpClassFlops[]
  /** The slowest process's figure per op class. */
  readonly slowest: OpClassFlops
  readonly tookMs: number
}

/** Runs the micro-benchmark in `processes` child processes at once (each exits when done). */
export async function measureHost(processes: number, timeoutMs = 60_000): Promise<HostMeasurement> {
  if (!Number.isInteger(processes) || processes < 1 || processes > 64) throw new RangeError(`processes must be an integer in 1..64, not ${processes}`)
  const t0 = performance.now()
  const children: ChildProcess[] = []
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    children.forEach((c) => c.kill('SIGKILL'))
  }, timeoutMs)
  try {
    const results = Array.from({ length: processes }, () => {
      const child = spawn(process.execPath, [RUN_TS, CHILD], { stdio: ['pipe', 'pipe', 'inherit'] })
      children.push(child)
      let ready!: () => void
      const isReady = new Promise<void>((r) => (ready = r))
      const figures = new Promise<OpClassFlops>((resolve, reject) => {
        let got: OpClassFlops | null = null
        createInterface({ input: child.stdout! }).on('line', (line) => {
          if (line === 'ready') ready()
          else if (line.startsWith('{')) got = parse(line)
        })
        const why = (code: number | null) => timedOut
          ? `the host probe did not finish in ${Math.round(timeoutMs / 1000)} s (is the host busy? --time-scale sets the emulation clock without measuring)`
          : `the host probe exited (${code ?? 'killed'}) without figures`
        child.on('exit', (code) => (got ? resolve(got) : reject(new Error(why(code)))))
        child.on('error', reject)
      })
      return { child, isReady, figures }
    })
    await Promise.race([Promise.all(results.map((r) => r.isReady)), Promise.all(results.map((r) => r.figures))])
    for (const r of results) r.child.stdin!.end('go\n')
    const each = await Promise.all(results.map((r) => r.figures))
    const min = (k: keyof OpClassFlops) => Math.min(...each.map((f) => f[k]))
    return { processes, each, slowest: { conv: min('conv'), matmul: min('matmul'), elementwise: min('elementwise') }, tookMs: performance.now() - t0 }
  } finally {
    clearTimeout(timer)
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  }
}

function parse(line: string): OpClassFlops {
  const v = JSON.parse(line) as Record<string, unknown>
  const num = (k: string) => {
    const x = v[k]
    if (typeof x !== 'number' || !(x > 0) || !Number.isFinite(x)) throw new Error(`the host probe reported ${k} = ${String(x)}`)
    return x
  }
  return { conv: num('conv'), matmul: num('matmul'), elementwise: num('elementwise') }
}
