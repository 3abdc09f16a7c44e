/** `dora profile`, `dora split` and `dora zoo`: model tools (issue 3's command-line contract). */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import { loadModelBytes, profileModel, type Profile } from '../model/load.js'
import { buildStageModel, chooseCuts, planStages, type Manifest } from '../model/split.js'
import { ZOO } from '../model/zoo/index.js'
import { measureNodeTimes } from '../model/measure.js'
import { onnx } from '../model/onnx.js'
import { DoraError, ErrorCodes } from '../errors.js'
import { fmtBytes, fmtFlops, table } from './format.js'

const out = (s: string) => process.stdout.write(`${s}\n`)
const progress = (s: string) => process.stderr.write(`${s}\n`)

export function parsePositiveInt(max: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!/^\d+$/.test(value) || n < 1 || n > max) throw new InvalidArgumentError(`expected a whole number from 1 to ${max}, got ${JSON.stringify(value)}`)
    return n
  }
}

function parseDim(value: string, previous: Record<string, number> = {}): Record<string, number> {
  const m = /^([A-Za-z_][\w.-]*)=(\d+)$/.exec(value)
  if (!m || Number(m[2]) < 1) throw new InvalidArgumentError(`expected NAME=SIZE (e.g. seq=128), got ${JSON.stringify(value)}`)
  return { ...previous, [m[1]!]: Number(m[2]) }
}

function parseCuts(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim())
  if (!parts.every((p) => /^\d+$/.test(p))) throw new InvalidArgumentError(`expected comma-separated node indices such as 10,25, got ${JSON.stringify(value)}`)
  return parts.map(Number)
}

async function profileFor(model: string, batch: number, dims: Record<string, number> | undefined, quiet: boolean): Promise<Profile & { bytes: Uint8Array }> {
  const { bytes, source } = await loadModelBytes(model)
  if (!quiet) progress(`dora: reading ${source} (${fmtBytes(bytes.byteLength)}); running it once in onnxruntime for tensor shapes...`)
  const p = await profileModel(bytes, source, { batch, dims })
  if (!quiet && p.shapes.unboundDims.length) progress(`dora: dimensions ${p.shapes.unboundDims.join(', ')} had no value and were set to 1 (use --dim NAME=SIZE)`)
  return { ...p, bytes }
}

export function registerModelCommands(program: Command): void {
  program
    .command('profile')
    .description('profile an ONNX model (or a zoo model name): FLOPs, parameters and output bytes per node, and cut points')
    .argument('<model>', 'ONNX file, or a zoo model name (see `dora zoo --list`)')
    .option('--batch <n>', 'batch size bound to the first symbolic dimension', parsePositiveInt(4096), 1)
    .option('--dim <name=size>', 'value of another symbolic dimension (repeatable)', parseDim)
    .option('--measure [runs]', 'also measure each node\'s time on this machine with onnxruntime\'s profiler (default 5 runs)', parsePositiveInt(1000))
    .option('--json', 'print one JSON object instead of tables')
    .action(profileAction)

  program
    .command('split')
    .description('split an ONNX model into stage models that run in a chain')
    .argument('<model>', 'ONNX file, or a zoo model name')
    .option('--stages <k>', 'number of stages (cuts balance FLOPs, preferring few crossing bytes)', parsePositiveInt(4096))
    .option('--cuts <i,j,...>', 'explicit cut points (node indices from `dora profile`)', parseCuts)
    .requiredOption('--out <dir>', 'directory for stage-N.onnx and manifest.json')
    .option('--batch <n>', 'batch size for the shape run', parsePositiveInt(4096), 1)
    .option('--dim <name=size>', 'value of another symbolic dimension (repeatable)', parseDim)
    .action(splitAction)

  program
    .command('zoo')
    .description('write the model zoo (real architectures, deterministic weights) as .onnx files')
    .option('--out <dir>', 'directory to write into')
    .option('--only <names>', 'comma-separated subset')
    .option('--list', 'list the models without writing')
    .action(zooAction)
}

async function profileAction(model: string, flags: { batch: number; dim?: Record<string, number>; json?: boolean; measure?: number | true }): Promise<void> {
  const p = await profileFor(model, flags.batch, flags.dim, flags.json === true)
  let measured: Map<string, number> | null = null
  if (flags.measure !== undefined) {
    const runs = flags.measure === true ? 5 : flags.measure
    if (!flags.json) progress(`dora: measuring node times (${runs} runs after a warm-up, unoptimised)...`)
    measured = await measureNodeTimes(p.bytes, p.graph, { batch: flags.batch, dims: flags.dim }, runs)
  }
  const us = (name: string) => (measured ? (measured.get(name) ?? null) : undefined)
  const totalFlops = p.costs.reduce((s, c) => s + (c.flops ?? 0), 0)
  const paramBytes = [...p.graph.initializers.values()].reduce((s, i) => s + i.bytes, 0)
  const unknown = p.costs.filter((c) => c.flops === null)
  if (flags.json) {
    out(JSON.stringify({
      model: { name: p.graph.name, nodes: p.graph.nodes.length, flops: totalFlops, paramBytes, batch: flags.batch, shapeSource: p.shapes.source, unknownCostNodes: unknown.length },
      nodes: p.costs.map((c) => ({ name: c.name, opType: c.opType, opClass: c.opClass, flops: c.flops, paramBytes: c.paramBytes, outputBytes: c.outputBytes, ...(measured ? { measuredUs: us(c.name) } : {}) })),
      cutPoints: p.cuts.map((c) => ({ index: c.index, crossingBytes: c.crossingBytes })),
    }))
    return
  }
  out(`model ${p.graph.name}: ${p.graph.nodes.length} nodes, ${fmtFlops(totalFlops)}FLOPs (multiply-add = 2), ${fmtBytes(paramBytes)} of parameters, batch ${flags.batch}`)
  out(`shapes from ${p.shapes.source}${p.shapes.ortMs !== null ? ` (${p.shapes.ortMs.toFixed(0)} ms)` : ''}; analysis ${p.analysisMs.toFixed(1)} ms\n`)
  const header = ['#', 'node', 'op', 'class', 'FLOPs', 'params', 'output', ...(measured ? ['measured'] : [])]
  out(table(header, p.costs.map((c) => {
    const t = us(c.name)
    return [String(c.index), c.name, c.opType, c.opClass, fmtFlops(c.flops), fmtBytes(c.paramBytes), fmtBytes(c.outputBytes), ...(measured ? [t === null || t === undefined ? '-' : `${(t / 1000).toFixed(3)} ms`] : [])]
  })))
  const best = [...p.cuts].sort((a, b) => a.crossingBytes - b.crossingBytes).slice(0, 10).sort((a, b) => a.index - b.index)
  out(`\n${p.cuts.length} cut points (before node #); the 10 with the fewest crossing bytes:`)
  out(table(['cut', 'crossing', 'tensors'], best.map((c) => [String(c.index), fmtBytes(c.crossingBytes), String(c.crossingTensors)])))
  if (unknown.length) out(`\n${unknown.length} nodes have no FLOP formula (counted as unknown): ${[...new Set(unknown.map((u) => u.opType))].join(', ')}`)
}


async function splitAction(model: string, flags: { stages?: number; cuts?: number[]; out: string; batch: number; dim?: Record<string, number> }): Promise<void> {
  if ((flags.stages === undefined) === (flags.cuts === undefined)) {
    throw new DoraError(ErrorCodes.USAGE, 'give exactly one of --stages K or --cuts I,J,...')
  }
  const p = await profileFor(model, flags.batch, flags.dim, false)
  let cuts: number[]
  if (flags.cuts) {
    cuts = flags.cuts
    const n = p.graph.nodes.length
    const bad = cuts.find((c, i) => c < 1 || c > n - 1 || (i > 0 && c <= cuts[i - 1]!))
    if (bad !== undefined) throw new DoraError(ErrorCodes.USAGE, `--cuts must be increasing node indices from 1 to ${n - 1} (this model has ${n} nodes); ${bad} is not`)
  } else {
    const choice = chooseCuts(p.costs, p.cuts, flags.stages!)
    if (choice.note) progress(`dora: ${choice.note}`)
    cuts = choice.cuts
  }
  const plans = planStages(p.graph, cuts)
  await mkdir(flags.out, { recursive: true })
  const manifest: Manifest = { model: p.graph.name, inputs: p.graph.inputs.map((v) => v.name ?? ''), outputs: p.graph.outputs.map((v) => v.name ?? ''), stages: [] }
  for (const plan of plans) {
    const file = `stage-${plan.index}.onnx`
    await writeFile(join(flags.out, file), onnx.ModelProto.encode(buildStageModel(p.graph, p.shapes.values, plan)).finish())
    const costs = p.costs.slice(plan.nodes[0], plan.nodes[1])
    manifest.stages.push({
      file, inputs: [...plan.inputs], outputs: [...plan.outputs], nodes: [plan.nodes[0], plan.nodes[1]],
      flops: costs.reduce((s, c) => s + (c.flops ?? 0), 0), paramBytes: costs.reduce((s, c) => s + c.paramBytes, 0),
    })
  }
  await writeFile(join(flags.out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  const crossing = (name: string) => p.shapes.values.get(name)?.bytes ?? 0
  out(table(['stage', 'nodes', 'FLOPs', 'params', 'in', 'out'], manifest.stages.map((s, i) => [
    String(i), `[${s.nodes[0]}, ${s.nodes[1]})`, fmtFlops(s.flops), fmtBytes(s.paramBytes),
    fmtBytes(s.inputs.reduce((t, n) => t + crossing(n), 0)), fmtBytes(s.outputs.reduce((t, n) => t + crossing(n), 0)),
  ])))
  out(`\nwrote ${plans.length} stage models and manifest.json to ${flags.out}`)
}


async function zooAction(flags: { out?: string; only?: string; list?: boolean }): Promise<void> {
  const wanted = flags.only?.split(',').map((s) => s.trim())
  const unknown = wanted?.filter((w) => !ZOO.some((z) => z.name === w))
  if (unknown?.length) throw new DoraError(ErrorCodes.USAGE, `unknown zoo model ${unknown.join(', ')}; the zoo has ${ZOO.map((z) => z.name).join(', ')}`)
  const entries = ZOO.filter((z) => !wanted || wanted.includes(z.name))
  if (flags.list || !flags.out) {
    if (!flags.list) throw new DoraError(ErrorCodes.USAGE, 'give --out DIR to write the models, or --list')
    out(table(['name', 'description'], entries.map((z) => [z.name, z.description])))
    return
  }
  await mkdir(flags.out, { recursive: true })
  for (const z of entries) {
    const bytes = onnx.ModelProto.encode(z.build()).finish()
    const file = join(flags.out, `${z.name}.onnx`)
    await writeFile(file, bytes)
    out(`${file}  ${fmtBytes(bytes.byteLength)}  ${z.description}`)
  }
}
