/**
 * `dora demo` (= `npm start`): the hub, the emulated Wi-Fi and an emulated fleet from a scenario,
 * running the scenario's job for real (src/demo/demo.ts). Progress on stderr, the summary on
 * stdout (a table, or JSON with --json).
 */
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { DEFAULT_STATUS_PORT, runDemo, type DemoSummary } from '../demo/demo.js'
import { createLogger } from '../log.js'
import { DoraError, ErrorCodes } from '../errors.js'
import { BASELINES } from '../planner/baselines/index.js'
import { watchForStop } from './shutdown.js'

const DEFAULT_SCENARIO = fileURLToPath(new URL('../../config/scenarios/smart-home.yaml', import.meta.url))

interface Flags {
  scenario: string
  duration?: string
  port: string
  statusPort: string
  json?: boolean
  killDevice?: string
  at?: string
  uncoordinated?: boolean
  logLevel: string
  planner: string
  load: string
  timeScale?: string
}

const number = (name: string, v: string, min: number): number => {
  const n = Number(v)
  if (!Number.isFinite(n) || n < min) throw new DoraError(ErrorCodes.USAGE, `${name} must be a number >= ${min}, not ${JSON.stringify(v)}`)
  return n
}

export function registerDemoCommand(program: Command, setExit: (code: number) => void): void {
  program
    .command('demo')
    .description('EMULATION: the hub, an emulated Wi-Fi and a fleet of emulated device processes from a scenario, running its job for real')
    .option('--scenario <file>', 'scenario file', DEFAULT_SCENARIO)
    .option('--duration <s>', 'seconds of requests (wall-clock), then a summary (default: about 60 requests, 30-300 s)')
    .option('--port <port>', 'embedded broker port (0: any free one; 1883 to watch from a dashboard)', '0')
    .option('--status-port <port>', 'port of the live status page and Prometheus metrics on 127.0.0.1 (0: any free one)', String(DEFAULT_STATUS_PORT))
    .option('--json', 'print the summary as JSON')
    .option('--kill-device <id>', 'kill this device mid-run (auto: one that holds a stage)')
    .option('--at <s>', 'with --kill-device: when, seconds into the run', '10')
    .option('--uncoordinated', 'devices send at once instead of inside their transfer slots')
    .option('--planner <name>', `who plans: dora, or a baseline run as is (${Object.keys(BASELINES).join(', ')})`, 'dora')
    .option('--load <factor>', 'multiply the scenario\'s request rates (0.5: half the frames; for a small machine)', '1')
    .option('--time-scale <k>', 'emulation clock: stretch every profile time by K (default: chosen from a measurement of this host, and said why)')
    .option('--log-level <level>', 'hub log level (to stderr)', 'warn')
    .action(async (flags: Flags) => {
      const durationS = flags.duration === undefined ? null : number('--duration', flags.duration, 1)
      const port = number('--port', flags.port, 0)
      const statusPort = number('--status-port', flags.statusPort, 0)
      if (!Number.isInteger(port) || port > 65535 || !Number.isInteger(statusPort) || statusPort > 65535) throw new DoraError(ErrorCodes.USAGE, '--port and --status-port must be whole numbers 0-65535')
      const atS = number('--at', flags.at ?? '10', 0)
      if (flags.killDevice !== undefined && durationS !== null && atS >= durationS) throw new DoraError(ErrorCodes.USAGE, `--at ${atS} must be before the end (--duration ${durationS})`)
      if (flags.planner !== 'dora' && !(flags.planner in BASELINES)) throw new DoraError(ErrorCodes.USAGE, `--planner must be dora or one of ${Object.keys(BASELINES).join(', ')}, not ${JSON.stringify(flags.planner)}`)
      // SIGINT or SIGTERM stops the fleet and the hub; the process is gone 4.5 s later whatever they do
      const shutdown = watchForStop('dora demo', 4500)
      const abort = new AbortController()
      void shutdown.requested.then((why) => abort.abort(why))
      const summary = await runDemo({
        signal: abort.signal,
        planner: flags.planner,
        load: number('--load', flags.load, 0.001),
        scenarioFile: flags.scenario,
        durationS,
        port,
        statusPort,
        coordination: flags.uncoordinated ? 'none' : 'slots',
        kill: flags.killDevice === undefined ? null : { device: flags.killDevice, atS },
        log: createLogger(flags.logLevel),
        ...(flags.timeScale !== undefined ? { timeScale: number('--time-scale', flags.timeScale, 1) } : {}),
        progress: (line) => process.stderr.write(`${line}\n`),
      }).catch((err: unknown) => {
        if (!shutdown.reason) throw err
        return null
      })
      if (!summary) {
        process.stderr.write(`dora demo: stopped by ${shutdown.reason}; devices and hub stopped\n`)
        setExit(shutdown.exitCode)
        return
      }
      process.stdout.write(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : table(summary))
      if (summary.lost > 0 || summary.unfinished > 0) setExit(1)
    })
}

function table(s: DemoSummary): string {
  const ms = (x: number | null) => (x === null ? '-' : `${x} ms`)
  const clock = [`  clock         EMULATION x${s.timeScale}${s.timeScale !== 1 ? ` (ran ${s.timeScale}x slower than the profiles; figures are in profile time, wall-clock / ${s.timeScale})` : ' (real time)'}, ${s.clock.source}: ${s.clock.why}`]
  const t = s.training
  if (t) {
    return [
      `Dora demo summary (EMULATED devices and Wi-Fi): ${s.scenario}, training job ${s.jobId} (${s.model}), planned by ${s.planner}`,
      ...clock,
      `  steps         ${t.steps} optimizer steps done, ${t.failedSteps} failed (${t.microBatchesPerStep} micro-batches, ${t.samplesPerStep} samples each) in ${t.trainedWallS} s wall; predicted ${t.predictedSteps} steps in that time`,
      `  step time     mean ${ms(t.stepMs.mean)}, p95 ${ms(t.stepMs.p95)} (predicted ${ms(t.predictedStepMs)})`,
      `  throughput    ${t.samplesPerS} samples/s (predicted ${t.predictedSamplesPerS})`,
      `  loss          ${t.lossFirst?.toPrecision(5) ?? '-'} at the first step, ${t.lossLast?.toPrecision(5) ?? '-'} at the last (mean square of the outputs: the emulated data has no labels)`,
      `  replicas      ${t.replicasAgree ? 'every replica of every stage held the same parameters after every step' : 'REPLICAS DISAGREED on their parameters'}`,
      `  energy        ${s.energyJ} J over the run (emulated power models); the plan's devices ${t.energyJPerSample ?? '-'} J a sample (predicted ${t.predictedEnergyJPerSample})`,
      `  epochs        ${s.epochs.map((e) => `${e.epoch} at ${e.atS} s on ${e.devices.join(', ')}`).join('; ')}`,
      ...(s.killed ? [`  killed        ${s.killed.device} at ${s.killed.atS} s`] : []),
      '',
    ].join('\n')
  }
  return [
    `Dora demo summary (EMULATED devices and Wi-Fi): ${s.scenario}, job ${s.jobId} (${s.model}), planned by ${s.planner}, ${s.load !== 1 ? `load x${s.load}, ` : ''}transfers ${s.transferMode ?? (s.coordination === 'slots' ? 'in timed slots' : 'uncoordinated')}`,
    `  requests      ${s.requests} sent, ${s.completed} completed, ${s.lost} lost, ${s.unfinished} unfinished, ${s.resent} re-sent, ${s.duplicates} duplicate results ignored${s.skipped ? `, ${s.skipped} frames skipped (too many outstanding)` : ''}`,
    `  latency       mean ${ms(s.latencyMs.mean)}, p95 ${ms(s.latencyMs.p95)} (predicted mean ${ms(s.predictedLatencyMs.mean)}, p95 ${ms(s.predictedLatencyMs.p95)}${s.predictedSlotLatencyMs !== null ? `; with its slots the scheduler predicts ${ms(s.predictedSlotLatencyMs)}` : ''})${s.latencyMeasuredAt ? `, measured at the ${s.latencyMeasuredAt}` : ''}${s.wifiStalledS ? `; the emulated Wi-Fi lost ${s.wifiStalledS} s of wall-clock air to a starved process` : ''}`,
    ...clock,
    `  throughput    ${s.throughputRps} requests/s (offered ${s.offeredRps})`,
    `  energy        ${s.energyJ} J over the run (emulated power models)`,
    `  epochs        ${s.epochs.map((e) => `${e.epoch} at ${e.atS} s on ${e.devices.join(', ')}`).join('; ')}`,
    ...s.breakdownMs.map((b) => `  stage ${b.stage}       on ${b.devices.join('+')}: inputs in ${b.transferInMs} ms, queue + compute ${b.computeMs} ms, send ${b.sendMs} ms (mean of ${b.requests}, wall-clock)${b.lateRuns ? `; ${b.lateRuns} runs took longer than their dilated profile time (this host was too slow for the clock)` : ''}`),
    ...(s.killed ? [`  killed        ${s.killed.device} at ${s.killed.atS} s`] : []),
    ...s.failures.slice(0, 10).map((f) => `  failed        ${f.id}: ${f.reason}`),
    '',
  ].join('\n')
}
