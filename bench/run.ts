/**
 * `npm run bench`: runs the benchmarks and prints Markdown tables (paste into BENCHMARKS.md
 * with the date and machine). `npm run bench -- codec` (or models, transfer) runs one.
 */
import os from 'node:os'
import { codecBench } from './codec.js'
import { transferBench, fmtBytes } from './transfer.js'
import { modelBench } from './models.js'

const which = process.argv.slice(3)
const want = (name: string) => which.length === 0 || which.includes(name)
const progress = (s: string) => process.stderr.write(`${s}\n`)

console.log(`# Dora benchmarks, ${new Date().toISOString()}`)
console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`)
console.log('all traffic on loopback (127.0.0.1); no emulated devices or emulated Wi-Fi involved\n')

if (want('codec')) {
  progress('codec: 64 MiB tensor, best of 5 ...')
  const rows = codecBench(progress)
  console.log('## CBOR tensor-chunk codec vs memory copy (64 MiB tensor, best of 5)\n')
  console.log('| chunk | memcpy GB/s | encode GB/s | decode+reassemble GB/s | encode / copy | decode / copy |')
  console.log('|---|---|---|---|---|---|')
  for (const r of rows) console.log(`| ${fmtBytes(r.chunkBytes)} | ${r.copyGBps.toFixed(2)} | ${r.encodeGBps.toFixed(2)} | ${r.decodeGBps.toFixed(2)} | ${r.encodeVsCopy.toFixed(2)} | ${r.decodeVsCopy.toFixed(2)} |`)
  console.log('')
}

if (want('models')) {
  progress('models: profile + split (4 stages), best of 3 ...')
  const rows = await modelBench(progress)
  console.log('## Model profiling and splitting (planner time; the onnxruntime shape run apart), best of 3\n')
  console.log('| model | nodes | GFLOPs | profile ms | split (4 stages) ms | planner total ms | onnxruntime shape run ms |')
  console.log('|---|---|---|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.model} | ${r.nodes} | ${r.gflops.toFixed(3)} | ${r.profileMs.toFixed(1)} | ${r.splitMs.toFixed(1)} | ${(r.profileMs + r.splitMs).toFixed(1)} | ${r.ortShapeMs.toFixed(0)} |`)
  console.log('')
}

if (want('transfer')) {
  progress('transfer: broker vs raw TCP relay, separate processes ...')
  const rows = await transferBench(progress)
  console.log('## Tensor transfer through the embedded broker vs a raw TCP relay, same run\n')
  console.log('Dora = CBOR chunks with CRC, QoS 1, reassembled; bare MQTT = the same chunk bytes as plain QoS 1 payloads.\n')
  console.log('| tensor | chunk | tensors sent | Dora MB/s | bare MQTT MB/s | raw relay MB/s | Dora / raw | bare / raw | Dora / bare |')
  console.log('|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) console.log(`| ${fmtBytes(r.tensorBytes)} | ${fmtBytes(r.chunkBytes)} | ${r.tensors} | ${r.brokerMBps.toFixed(1)} | ${r.bareMBps.toFixed(1)} | ${r.rawMBps.toFixed(1)} | ${r.ratio.toFixed(2)} | ${r.bareRatio.toFixed(2)} | ${(r.brokerMBps / r.bareMBps).toFixed(2)} |`)
}
