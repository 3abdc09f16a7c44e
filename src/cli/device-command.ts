/**
 * `dora device`: runs the device agent (device-firmware-bridge/agent.ts) as one device of a hub.
 * Its profile comes from a scenario's device (`--scenario FILE --profile ID`: an emulated device)
 * or from this machine (`--measure`: the onnxruntime micro-benchmark, this host's memory, and the
 * power and link figures given).
 */
import os from 'node:os'
import { createInterface } from 'node:readline'
import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { measureFlops } from '../../device-firmware-bridge/benchmark.js'
import { readScenario } from '../scenario/load.js'
import { DoraError, ErrorCodes } from '../errors.js'
import { isValidId } from '../protocol/topics.js'
import { MAX_CHUNK_BYTES, MIN_CHUNK_BYTES } from '../protocol/chunks.js'
import type { DeviceProfile } from '../shared/device-profile.js'
import { DEFAULT_RX_J_PER_BYTE, DEFAULT_STAGE_OVERHEAD_MS, DEFAULT_TX_J_PER_BYTE } from '../shared/device-profile.js'
import { watchForStop } from './shutdown.js'
import { reportLine } from '../demo/device-report.js'

interface Flags {
  id: string
  broker: string
  password?: string
  scenario?: string
  profile?: string
  measure?: boolean
  chunkBytes?: string
  idleW: string
  activeW: string
  linkRate?: string
  heartbeatMs: string
  cacheDir?: string
  source?: string
  control?: string
  coordination: string
  dilate: boolean
  trace?: boolean
  ca?: string
  train?: string
  timeScale: string
}

const positive = (name: string, v: string): number => {
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new DoraError(ErrorCodes.USAGE, `${name} must be a positive number, not ${JSON.stringify(v)}`)
  return n
}

export function registerDeviceCommand(program: Command): void {
  program
    .command('device')
    .description('run one device agent: publish caps and heartbeats to a hub, follow its plan epochs, fetch its stage models and run requests through them')
    .requiredOption('--id <id>', 'device id (also the MQTT username)')
    .option('--broker <url>', 'the hub\'s broker', 'mqtt://127.0.0.1:1883')
    .option('--password <secret>', 'device password (or DORA_DEVICE_PASSWORD)')
    .option('--ca <file>', 'with an mqtts:// broker: the CA certificate (PEM) to trust')
    .option('--scenario <file>', 'take the device profile from this scenario (an emulated device)')
    .option('--profile <deviceId>', 'which device of --scenario (default: --id)')
    .option('--measure', 'profile this machine instead: onnxruntime micro-benchmark and host memory')
    .option('--idle-w <watts>', 'with --measure: idle power', '5')
    .option('--active-w <watts>', 'with --measure: power under load', '15')
    .option('--link-rate <bps>', 'with --measure: Wi-Fi link rate in bit/s (omit for a wired device)')
    .option('--chunk-bytes <n>', 'tensor chunk size in bytes, as the hub plans them (its config tensors.chunkBytes; default 262144); with --scenario the scenario\'s network.chunkBytes')
    .option('--heartbeat-ms <ms>', 'heartbeat interval', '5000')
    .option('--cache-dir <dir>', 'where stage models are cached (default ~/.cache/dora/models)')
    .option('--source <job=rps>', 'also be a source of JOB\'s requests, RPS a second (a camera), generated inputs')
    .option('--control <how>', '"stdin": start and stop the source on the lines "start" and "stop" (the demo drives devices so)')
    .option('--coordination <mode>', '"slots": send inside the hub\'s transfer slots; "none": send at once', 'slots')
    .option('--trace', 'report (a JSON line, src/demo/device-report.ts) when a request\'s stage has its inputs, has run, and has sent its outputs')
    .option('--no-dilate', 'emulated profile: do not wait after each run until the profile\'s time')
    .option('--train <job>', 'be the source of training job JOB (the device with its data): drive optimizer steps one after another')
    .option('--time-scale <k>', 'emulation: stretch every profile time by K (a host slower than the profile); reported times are divided by K', '1')
    .action(runDevice)
}

/** --chunk-bytes, checked against the bounds the hub's config takes (src/config/schema.ts tensors.chunkBytes). */
function chunkFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < MIN_CHUNK_BYTES || n > MAX_CHUNK_BYTES) throw new DoraError(ErrorCodes.USAGE, `--chunk-bytes must be a whole number of bytes from ${MIN_CHUNK_BYTES} to ${MAX_CHUNK_BYTES}, not ${JSON.stringify(v)}`)
  return n
}

/** What the flags ask for, checked. */
function checkFlags(flags: Flags): { source: { jobId: string; rateRps: number } | null; timeScale: number; chunkBytes: number | undefined } {
  if (!isValidId(flags.id)) throw new DoraError(ErrorCodes.USAGE, `--id must be 1-64 characters of A-Z a-z 0-9 _ - ., not ${JSON.stringify(flags.id)}`)
  if (!!flags.scenario === !!flags.measure) throw new DoraError(ErrorCodes.USAGE, 'give either --scenario FILE (an emulated device) or --measure (this machine)')
  if (flags.coordination !== 'slots' && flags.coordination !== 'none') throw new DoraError(ErrorCodes.USAGE, `--coordination must be slots or none, not ${JSON.stringify(flags.coordination)}`)
  if (flags.control !== undefined && flags.control !== 'stdin') throw new DoraError(ErrorCodes.USAGE, `--control must be stdin, not ${JSON.stringify(flags.control)}`)
  const source = flags.source === undefined ? null : parseSource(flags.source)
  if (flags.train !== undefined && !isValidId(flags.train)) throw new DoraError(ErrorCodes.USAGE, `--train must be a job id, not ${JSON.stringify(flags.train)}`)
  if (flags.train !== undefined && source) throw new DoraError(ErrorCodes.USAGE, 'give --source (an inference job\'s requests) or --train (a training job\'s steps), not both')
  const timeScale = positive('--time-scale', flags.timeScale)
  if (timeScale < 1) throw new DoraError(ErrorCodes.USAGE, `--time-scale must be at least 1 (it slows the emulated devices down), not ${flags.timeScale}`)
  if (flags.scenario && flags.chunkBytes !== undefined) throw new DoraError(ErrorCodes.USAGE, '--chunk-bytes is for --measure: an emulated device sends in its scenario\'s network.chunkBytes')
  return { source, timeScale, chunkBytes: chunkFlag(flags.chunkBytes) }
}

/** The agent the flags describe, its progress written to stdout and its errors to stderr. */
async function agentFor(flags: Flags, profile: DeviceProfile, timeScale: number, chunkBytes: number | undefined): Promise<DeviceAgent> {
  return new DeviceAgent({
    ...(chunkBytes !== undefined ? { chunkBytes } : {}),
    url: flags.broker,
    id: flags.id,
    password: flags.password ?? process.env.DORA_DEVICE_PASSWORD,
    ...(flags.ca ? { ca: await readCa(flags.ca) } : {}),
    profile,
    heartbeatMs: positive('--heartbeat-ms', flags.heartbeatMs),
    ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
    onAssignment: (a) => process.stdout.write(`epoch ${a.epoch} of job ${a.jobId}: ${a.stages.length ? a.stages.map((s) => `stage ${s.stage} layers [${s.layers.join(', ')})${s.nodes ? ` nodes [${s.nodes.join(', ')})` : ''} of ${s.planId} (${(s.weight * 100).toFixed(0)}% of requests)`).join('; ') : 'nothing to run'}, ${a.slots.length} sending slots, from ${new Date(a.activateAtMs).toISOString()}\n`),
    onStageReady: (x) => process.stdout.write(`stage model ${x.sha256.slice(0, 12)} of job ${x.jobId} ready (inputs ${x.inputs.join(', ')}; outputs ${x.outputs.join(', ')})\n`),
    onError: (m) => process.stderr.write(`dora device: ${m}\n`),
    coordination: flags.coordination as 'slots' | 'none',
    dilate: flags.dilate && profile.emulated,
    timeScale,
    ...(flags.trace ? { trace: (e: object) => process.stdout.write(reportLine('trace', e)) } : {}),
  })
}

async function runDevice(flags: Flags): Promise<void> {
  const { source, timeScale, chunkBytes: flagChunk } = checkFlags(flags)
  // from here on SIGTERM, SIGINT or a parent gone (dora demo's devices) stops the device within 4 s
  const shutdown = watchForStop('dora device')
  // an emulated device sends its tensors in its scenario's chunks, as the hub plans them (scenario network.chunkBytes)
  const { profile, chunkBytes } = flags.scenario ? await fromScenario(flags.scenario, flags.profile ?? flags.id, flags.id) : { profile: await measured(flags), chunkBytes: flagChunk }
  const agent = await agentFor(flags, profile, timeScale, chunkBytes)
  // a broker that does not answer must not hold the device: a stop ends the first connection attempt too
  const starting = agent.start()
  starting.catch(() => undefined)
  if (shutdown.reason || (await Promise.race([starting.then(() => null), shutdown.requested]))) {
    agent.crash()
    return
  }
  process.stdout.write(`device ${flags.id} joined ${flags.broker}${profile.emulated ? ' (EMULATED profile)' : ''}: conv ${(profile.flopsPerSec.conv / 1e9).toFixed(1)} GFLOP/s, matmul ${(profile.flopsPerSec.matmul / 1e9).toFixed(1)}, elementwise ${(profile.flopsPerSec.elementwise / 1e9).toFixed(1)}. Ctrl-C leaves.\n`)
  const lines = await driveSources(agent, flags, source)
  await shutdown.requested
  // what is left of the 4 s goes to the outstanding requests, then to leaving cleanly
  if (agent.requester || agent.trainingSource) await Promise.race([stopSources(agent, 1500), new Promise((r) => setTimeout(r, 2000).unref())])
  await agent.stop()
  lines?.close()
  process.stdin.destroy()
}

/** Stops the device's request or training source and reports its figures (JSON lines, src/demo/device-report.ts). */
async function stopSources(agent: DeviceAgent, drainMs?: number): Promise<void> {
  const t = await agent.stopTraining()
  if (t) process.stdout.write(reportLine('training-stats', t.records))
  const r = await agent.stopSource(drainMs)
  if (r) process.stdout.write(reportLine('source-stats', r.stats))
}

/** Starts the source now, or on the control line `start` (and stops it on `stop`) with --control stdin. */
async function driveSources(agent: DeviceAgent, flags: Flags, source: { jobId: string; rateRps: number } | null): Promise<ReturnType<typeof createInterface> | null> {
  const startTraining = async (jobId: string) => {
    const t = await agent.startTraining(jobId)
    t.onRecord = (r) => process.stdout.write(reportLine('step', r))
  }
  if (flags.control !== 'stdin') {
    if (source) await agent.startSource(source.jobId, source.rateRps)
    if (flags.train) await startTraining(flags.train)
    return null
  }
  const fail = (err: Error) => process.stderr.write(`dora device: ${err.message}\n`)
  const lines = createInterface({ input: process.stdin })
  lines.on('line', (line) => {
    const cmd = line.trim()
    if (cmd === 'start' && source) agent.startSource(source.jobId, source.rateRps).catch(fail)
    else if (cmd === 'start' && flags.train) startTraining(flags.train).catch(fail)
    else if (cmd === 'stop') stopSources(agent).catch(fail)
    else if (cmd) process.stderr.write(`dora device: unknown control line ${JSON.stringify(cmd)} (start, stop)\n`)
  })
  return lines
}

async function readCa(file: string): Promise<Buffer> {
  try {
    return await readFile(file)
  } catch (err) {
    throw new DoraError(ErrorCodes.USAGE, `--ca ${file}: ${(err as Error).message}`)
  }
}

function parseSource(v: string): { jobId: string; rateRps: number } {
  const m = /^([^=]+)=(.+)$/.exec(v)
  if (!m || !isValidId(m[1]!)) throw new DoraError(ErrorCodes.USAGE, `--source must be JOB=RATE (a job id and requests per second), not ${JSON.stringify(v)}`)
  return { jobId: m[1]!, rateRps: positive('--source rate', m[2]!) }
}

/** A scenario's device as this device's profile, and the scenario's tensor chunk size (undefined: the default). */
async function fromScenario(file: string, profileId: string, id: string): Promise<{ profile: DeviceProfile; chunkBytes: number | undefined }> {
  const s = await readScenario(file)
  const d = s.devices.find((x) => x.id === profileId)
  if (!d) throw new DoraError(ErrorCodes.USAGE, `scenario ${file} has no device ${profileId} (it has ${s.devices.map((x) => x.id).join(', ')})`)
  return { profile: { ...d, id, emulated: true }, chunkBytes: s.network.chunkBytes }
}

async function measured(flags: Flags): Promise<DeviceProfile> {
  process.stderr.write('dora device: measuring this machine with onnxruntime...\n')
  return {
    id: flags.id, kind: `${os.platform()}-${os.arch()}`, emulated: false, flopsPerSec: await measureFlops(),
    stageOverheadMs: DEFAULT_STAGE_OVERHEAD_MS, memoryBytes: os.totalmem(),
    idleW: positive('--idle-w', flags.idleW), activeW: positive('--active-w', flags.activeW),
    txJPerByte: DEFAULT_TX_J_PER_BYTE, rxJPerByte: DEFAULT_RX_J_PER_BYTE,
    linkRateBps: flags.linkRate === undefined ? null : positive('--link-rate', flags.linkRate), battery: null,
  }
}
