/**
 * The host probe's child process (host-probe.ts): loads the devices' micro-benchmark, says
 * `ready`, waits for `go` on stdin, measures with one onnxruntime thread (as a device runs its
 * stages) and prints the figures as one JSON line.
 */
import { createInterface } from 'node:readline'
import { measureFlops } from '../../device-firmware-bridge/benchmark.js'

process.stdout.write('ready\n')
await new Promise<void>((resolve) => {
  const lines = createInterface({ input: process.stdin })
  lines.on('line', (l) => l.trim() === 'go' && resolve())
  lines.on('close', () => resolve())
})
process.stdout.write(`${JSON.stringify(await measureFlops(5, 1))}\n`)
process.exit(0)
