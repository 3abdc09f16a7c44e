/**
 * `dora device`: runs the device agent (device-firmware-bridge/agent.ts) as one device of a hub.
 * Its profile comes from a scenario's device (`--scenario FILE --profile ID`: an emulated device)
 * or from this machine (`--measure`: the onnxruntime micro-benchmark, this host's memory, and the
 * power and link figures given).
 */
import os from 'node:os'
import type { Command } from 'commander'
import { DeviceAgent } from '../../device-firmware-bridge/agent.js'
import { measureFlops } from '../../device-firmware-bridge/benchmark.js'
import { readScenario } from '../scenario/load.js'
import { DoraError, ErrorCodes } from '../errors.js'
import { isValidId } from '../protocol/topics.js'
import type { DeviceProfile } from '../planner/types.js'
import { DEFAULT_RX_J_PER_BYTE, DEFAULT_STAGE_OVERHEAD_MS, DEFAULT_TX_J_PER_BYTE } from '../hub/profiles.js'

interface Flags {
  id: string
  broker: string
  password?: string
  scenario?: string
  profile?: string
  measure?: boolean
  idleW: string
  activeW: string
  linkRate?: string
  heartbeatMs: string
  cacheDir?: string
}

const positive = (name: string, v: string): number => {
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new DoraError(ErrorCodes.USAGE, `${name} must be a positive number, not ${JSON.stringify(v)}`)
  return n
}

export function registerDeviceCommand(program: Command): void {
  program
    .command('device')
    .description('run one device agent: publish caps and heartbeats to a hub, follow its plan epochs, fetch and open its stage models (requests do not run yet)')
    .requiredOption('--id <id>', 'device id (also the MQTT username)')
    .option('--broker <url>', 'the hub\'s broker', 'mqtt://127.0.0.1:1883')
    .option('--password <secret>', 'device password (or DORA_DEVICE_PASSWORD)')
    .option('--scenario <file>', 'take the device profile from this scenario (an emulated device)')
    .option('--profile <deviceId>', 'which device of --scenario (default: --id)')
    .option('--measure', 'profile this machine instead: onnxruntime micro-benchmark and host memory')
    .option('--idle-w <watts>', 'with --measure: idle power', '5')
    .option('--active-w <watts>', 'with --measure: power under load', '15')
    .option('--link-rate <bps>', 'with --measure: Wi-Fi link rate in bit/s (omit for a wired device)')
    .option('--heartbeat-ms <ms>', 'heartbeat interval', '5000')
    .option('--cache-dir <dir>', 'where stage models are cached (default ~/.cache/dora/models)')
    .action(async (flags: Flags) => {
      if (!isValidId(flags.id)) throw new DoraError(ErrorCodes.USAGE, `--id must be 1-64 characters of A-Z a-z 0-9 _ - ., not ${JSON.stringify(flags.id)}`)
      if (!!flags.scenario === !!flags.measure) throw new DoraError(ErrorCodes.USAGE, 'give either --scenario FILE (an emulated device) or --measure (this machine)')
      const profile = flags.scenario ? await fromScenario(flags.scenario, flags.profile ?? flags.id, flags.id) : await measured(flags)
      const agent = new DeviceAgent({
        url: flags.broker,
        id: flags.id,
        password: flags.password ?? process.env.DORA_DEVICE_PASSWORD,
        profile,
        heartbeatMs: positive('--heartbeat-ms', flags.heartbeatMs),
        ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
        onAssignment: (a) => process.stdout.write(`epoch ${a.epoch} of job ${a.jobId}: ${a.stages.length ? a.stages.map((s) => `stage ${s.stage} layers [${s.layers.join(', ')})${s.nodes ? ` nodes [${s.nodes.join(', ')})` : ''} of ${s.planId} (${(s.weight * 100).toFixed(0)}% of requests)`).join('; ') : 'nothing to run'}, ${a.slots.length} sending slots, from ${new Date(a.activateAtMs).toISOString()}\n`),
        onStageReady: (x) => process.stdout.write(`stage model ${x.sha256.slice(0, 12)} of job ${x.jobId} ready (inputs ${x.inputs.join(', ')}; outputs ${x.outputs.join(', ')})\n`),
        onError: (m) => process.stderr.write(`dora device: ${m}\n`),
      })
      await agent.start()
      // listen for the stop signals before announcing (stdout to a pipe is written at once)
      const stopSignal = new Promise<void>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
      process.stdout.write(`device ${flags.id} joined ${flags.broker}${profile.emulated ? ' (EMULATED profile)' : ''}: conv ${(profile.flopsPerSec.conv / 1e9).toFixed(1)} GFLOP/s, matmul ${(profile.flopsPerSec.matmul / 1e9).toFixed(1)}, elementwise ${(profile.flopsPerSec.elementwise / 1e9).toFixed(1)}. Ctrl-C leaves.\n`)
      await stopSignal
      await agent.stop()
    })
}

async function fromScenario(file: string, profileId: string, id: string): Promise<DeviceProfile> {
  const s = await readScenario(file)
  const d = s.devices.find((x) => x.id === profileId)
  if (!d) throw new DoraError(ErrorCodes.USAGE, `scenario ${file} has no device ${profileId} (it has ${s.devices.map((x) => x.id).join(', ')})`)
  return { ...d, id, emulated: true }
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
