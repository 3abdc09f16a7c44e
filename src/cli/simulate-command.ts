/** `dora simulate --scenario FILE (--planner dora | --plan PLAN.json)`: runs one plan in the simulator (emulation). */
import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { z } from 'zod'
import { planningInputs, readScenario, type PlanningInputs } from '../scenario/load.js'
import type { Scenario } from '../scenario/schema.js'
import { partition } from '../planner/partition.js'
import { simulate, type SimResult } from '../sim/simulate.js'
import { BASELINES, type BaselineName } from '../planner/baselines/index.js'
import { BudgetExceeded } from '../planner/baselines/budget.js'
import type { Plan } from '../planner/types.js'
import { DoraError, ErrorCodes } from '../errors.js'
import { formatIssues } from '../protocol/payloads.js'
import { parsePositiveInt } from './model-commands.js'
import { table } from './format.js'
import { simulateDynamics } from '../sim/dynamics.js'
import { scheduleTransfers, type Schedule } from '../planner/network/scheduler.js'
import { withinErrorBound } from '../planner/compression.js'
import { liveBatchNote, trainingNote } from './plan-command.js'

const planFileSchema = z.object({
  id: z.string().default('user-plan'),
  microBatch: z.number().int().min(1).default(1),
  stages: z.array(z.object({ layers: z.tuple([z.number().int().min(0), z.number().int().min(1)]), devices: z.array(z.string().min(1)).min(1) })).min(1),
})

interface SimulateFlags {
  scenario: string
  planner: string
  plan?: string
  uncoordinated?: boolean
  slots?: boolean
  dynamics?: boolean
  duration: number
  seed: number
  json?: boolean
  compare?: boolean
}

const finite = (x: number) => (Number.isFinite(x) ? x : null)

export function registerSimulateCommand(program: Command, setExit: (code: number) => void): void {
  program
    .command('simulate')
    .description('run a plan on a scenario in the discrete-event simulator (emulated devices and Wi-Fi)')
    .requiredOption('--scenario <file>', 'scenario file (see config/scenarios/)')
    .option('--planner <name>', `plan with this planner: dora, ${Object.keys(BASELINES).join(', ')}`, 'dora')
    .option('--compare', 'run Dora and every baseline on the same requests and print one table')
    .option('--plan <file>', 'simulate this plan instead (JSON: {"stages": [{"layers": [start, end], "devices": [ids]}], "microBatch"})')
    .option('--uncoordinated', 'send without coordination (devices contend for the air)')
    .option('--slots', "follow the network scheduler's timed slots (micro-batches leave every period); default: the hub grants the air one transfer at a time")
    .option('--duration <s>', 'simulated seconds of arrivals', parsePositiveInt(86_400), 120)
    .option('--seed <n>', 'random seed', parsePositiveInt(2 ** 31), 1)
    .option('--dynamics', "play the scenario's scripted dynamics against a static plan, re-planning on every change, and Dora's adapter (and, with --planner BASELINE, that baseline as the hub runs it); print a timeline")
    .option('--json', 'print one JSON object')
    .action((flags: SimulateFlags) => simulateAction(flags, setExit))
}

async function simulateAction(flags: SimulateFlags, setExit: (code: number) => void): Promise<void> {
  if (flags.slots && flags.uncoordinated) throw new DoraError(ErrorCodes.USAGE, '--slots and --uncoordinated exclude each other')
  const scenario = await readScenario(flags.scenario)
  const inputs = await planningInputs(flags.scenario, scenario, flags.uncoordinated ? 'contended' : 'scheduled')
  const coordination = flags.uncoordinated ? 'uncoordinated' : flags.slots ? 'slots' : 'granted'
  const run = (plan: Plan) => {
    let schedule: Schedule | undefined
    if (flags.slots) {
      const s = scheduleTransfers(plan, inputs.job, inputs.fleet, inputs.network)
      if (!s.ok) process.stderr.write(`dora: ${plan.planner} plan has no slots (${s.reason}); its transfers go one at a time\n`)
      else schedule = s.schedule
    }
    // the hub's grants cost their round trip, as in a run (topics.md § Air grants)
    const network = coordination === 'granted' ? { ...inputs.network, grants: true } : inputs.network
    // without slots (at once, hub grants), the devices' sources run free on their own frame clocks
    // (the device agent's startSource); with slots they capture at their turns (the schedule's)
    const job = schedule ? inputs.job : { ...inputs.job, frameClocks: true }
    return simulate(plan, job, inputs.fleet, network, { durationS: flags.duration, warmupS: Math.min(10, flags.duration / 10), seed: flags.seed, computeJitter: 0.05, ...(schedule ? { schedule } : {}) })
  }
  if (flags.dynamics) return printDynamics(scenario, inputs, flags)
  if (flags.compare) return printCompare(inputs, { scenario: scenario.name, coordination, seed: flags.seed, durationS: flags.duration, json: flags.json === true }, run)
  let plan: Plan
  if (flags.plan) {
    plan = await readPlanFile(flags.plan)
    checkPlan(plan, inputs.job.model.layers.length, new Set(inputs.fleet.devices.keys()))
    // its cuts compressed as the planner would send them (lighter where their errors add above the bound)
    plan = withinErrorBound(inputs.job.model, plan)
  } else {
    if (flags.planner !== 'dora' && !(flags.planner in BASELINES)) throw new DoraError(ErrorCodes.USAGE, `unknown planner ${flags.planner}; available: dora, ${Object.keys(BASELINES).join(', ')}`)
    let p: Plan | null
    try {
      p = planWith(flags.planner, inputs)
    } catch (err) {
      // a baseline whose search outgrows its step budget says so, as in --compare's row
      if (err instanceof BudgetExceeded) throw new DoraError(ErrorCodes.USAGE, err.message)
      throw err
    }
    if (!p) throw new DoraError(ErrorCodes.USAGE, `planner ${flags.planner} found no plan that fits this fleet`)
    plan = p
  }
  const r = run(plan)
  printRun(scenario.name, inputs, plan, r, { coordination, seed: flags.seed, durationS: flags.duration, json: flags.json === true })
  if (!r.qoeMet) setExit(3)
}

/** `--dynamics`: the scenario's scripted dynamics against each policy, a timeline each. */
function printDynamics(scenario: Scenario, inputs: PlanningInputs, flags: SimulateFlags): void {
  if (!scenario.dynamics) throw new DoraError(ErrorCodes.USAGE, `scenario ${flags.scenario} has no dynamics section`)
  if (flags.planner !== 'dora' && !(flags.planner in BASELINES)) throw new DoraError(ErrorCodes.USAGE, `unknown planner ${flags.planner}; available: dora, ${Object.keys(BASELINES).join(', ')}`)
  const baseline = flags.planner === 'dora' ? undefined : (flags.planner as BaselineName)
  const d = simulateDynamics(inputs, scenario.dynamics.events, scenario.dynamics.durationS, flags.seed, baseline)
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ emulated: true, scenario: scenario.name, seed: flags.seed, policies: d.policies, ...(baseline ? { baseline } : {}), rows: d.rows.map((r) => ({ ...r, policies: Object.fromEntries(Object.entries(r.policies).map(([k, v]) => [k, { ...v, latencyMs: finite(v.latencyMs), p95LatencyMs: finite(v.p95LatencyMs), energyJPerRequest: finite(v.energyJPerRequest) }])) })), totals: d.totals })}\n`)
    return
  }
  process.stdout.write(`scenario ${scenario.name} - EMULATION (device profiles, modelled Wi-Fi), seed ${flags.seed}, ${scenario.dynamics.durationS} s of scripted dynamics\n\n`)
  for (const p of d.policies) {
    process.stdout.write(`${p === 'baseline' ? `baseline (${baseline}, as the hub runs it)` : p}:\n${table(['from s', 'to s', 'event', 'plans', 'action', 'latency', 'p95', 'J/request', 'lost', 're-sent', 'QoE met'], d.rows.map((r) => {
      const x = r.policies[p]!
      return [r.fromS.toFixed(0), r.toS.toFixed(0), r.event, x.plans, x.action, Number.isFinite(x.latencyMs) ? `${x.latencyMs.toFixed(1)} ms` : '-', Number.isFinite(x.p95LatencyMs) ? `${x.p95LatencyMs.toFixed(1)} ms` : '-', Number.isFinite(x.energyJPerRequest) ? x.energyJPerRequest.toFixed(2) : '-', String(x.lost), String(x.resent), x.qoeMet ? 'yes' : 'no']
    }))}\n\n`)
  }
  process.stdout.write(`${table(['policy', 'QoE violated s', 'requests lost', 're-sent', 'energy J', 're-plans'], d.policies.map((p) => [p === 'baseline' ? `baseline (${baseline})` : p, d.totals[p]!.violationS.toFixed(0), String(d.totals[p]!.lost), String(d.totals[p]!.resent), d.totals[p]!.energyJ.toFixed(0), String(d.totals[p]!.replans)]))}\n`)
}

/** A plan from a JSON file: a plan, or a whole `dora plan --json` output (its chosen plan). */
async function readPlanFile(file: string): Promise<Plan> {
  let raw: unknown
  try {
    raw = JSON.parse(await readFile(file, 'utf8'))
  } catch (err) {
    throw new DoraError(ErrorCodes.USAGE, `cannot read plan ${file}: ${(err as Error).message}`)
  }
  // accept a whole `dora plan --json` output too: take its chosen plan
  if (raw && typeof raw === 'object' && 'plans' in raw && Array.isArray((raw as { plans: unknown[] }).plans)) {
    const all = raw as { plans: Array<{ id: string }>; chosen: string | null }
    raw = all.plans.find((p) => p.id === all.chosen) ?? all.plans[0]
  }
  const parsed = planFileSchema.safeParse(raw)
  if (!parsed.success) throw new DoraError(ErrorCodes.USAGE, `invalid plan ${file}: ${formatIssues(parsed.error)}`)
  return { ...parsed.data, planner: 'user' }
}

function printRun(scenarioName: string, inputs: PlanningInputs, plan: Plan, r: SimResult, o: { coordination: string; seed: number; durationS: number; json: boolean }): void {
  if (o.json) {
    process.stdout.write(`${JSON.stringify({
      emulated: true, scenario: scenarioName, job: inputs.job.training ? 'training' : 'inference', planner: plan.planner, plan: { id: plan.id, microBatch: plan.microBatch, stages: plan.stages },
      coordination: o.coordination, seed: o.seed,
      latencyMs: finite(r.latencyMs), p95LatencyMs: finite(r.p95LatencyMs), throughputRps: r.throughputRps, energyJPerRequest: r.energyJPerRequest,
      requests: r.requests, completed: r.completed, airBusyFraction: r.airBusyFraction, qoeMet: r.qoeMet,
    })}\n`)
    return
  }
  process.stdout.write(`scenario ${scenarioName} - EMULATION (device profiles, modelled Wi-Fi, ${o.coordination} transfers), seed ${o.seed}, ${o.durationS} s\n`)
  if (inputs.job.training) process.stdout.write(`${trainingNote(inputs.job.training.microBatchesPerStep)}\n`)
  process.stdout.write(`plan ${plan.id} (${plan.planner}): ${plan.stages.map((s) => `[${s.layers[0]},${s.layers[1]})@${s.devices.join('+')}`).join(' -> ')}, micro-batch ${plan.microBatch}\n`)
  const batchNote = liveBatchNote(inputs.job, [plan])
  process.stdout.write(`${batchNote ? `${batchNote}\n` : ''}\n`)
  process.stdout.write(`${table(['latency', 'p95', 'throughput/s', 'J/request', 'requests', 'completed', 'air busy', 'QoE met'], [[
    `${r.latencyMs.toFixed(1)} ms`, `${r.p95LatencyMs.toFixed(1)} ms`, r.throughputRps.toFixed(2), r.energyJPerRequest.toFixed(3), String(r.requests), String(r.completed), `${(r.airBusyFraction * 100).toFixed(0)}%`, r.qoeMet ? 'yes' : 'no',
  ]])}\n`)
}

/** A planner's plan for the scenario: Dora's chosen (or closest) plan, or a baseline's. */
function planWith(name: string, inputs: PlanningInputs): Plan | null {
  // Every planner plans for scheduled air; --uncoordinated then runs the same plan without slots.
  const network = { ...inputs.network, coordination: 'scheduled' as const }
  if (name === 'dora') {
    const res = partition(inputs.job, inputs.fleet, { network })
    if (!res.ok) process.stderr.write(`dora: no compliant plan; using the closest. It fails on: ${res.reasons.join('; ')}\n`)
    return res.ok ? res.chosen.plan : (res.closest[0]?.plan ?? null)
  }
  return BASELINES[name as keyof typeof BASELINES](inputs.job, inputs.fleet, network)?.plan ?? null
}

function checkPlan(plan: Plan, layers: number, devices: ReadonlySet<string>): void {
  let next = 0
  const used = new Set<string>()
  for (const [k, s] of plan.stages.entries()) {
    if (s.layers[0] !== next || s.layers[1] <= s.layers[0]) throw new DoraError(ErrorCodes.USAGE, `plan stage ${k}: layers [${s.layers.join(', ')}] must start at ${next} and be non-empty`)
    for (const d of s.devices) {
      if (!devices.has(d)) throw new DoraError(ErrorCodes.USAGE, `plan stage ${k}: no device ${d} in this scenario`)
      if (used.has(d)) throw new DoraError(ErrorCodes.USAGE, `plan stage ${k}: device ${d} already holds another stage`)
      used.add(d)
    }
    next = s.layers[1]
  }
  if (next !== layers) throw new DoraError(ErrorCodes.USAGE, `plan covers layers up to ${next}, but the model has ${layers}`)
}

/**
 * `--compare`: Dora and every baseline on the same requests, one row each. A baseline whose DP
 * outgrows its step budget says so in its row instead of running on.
 */
function printCompare(inputs: PlanningInputs, o: { scenario: string; coordination: string; seed: number; durationS: number; json: boolean }, run: (plan: Plan) => SimResult): void {
  const rows: Array<{ planner: string; plan: Plan | null; r: SimResult | null; note: string | null }> = []
  for (const name of ['dora', ...Object.keys(BASELINES)]) {
    try {
      const plan = planWith(name, inputs)
      rows.push({ planner: name, plan, r: plan ? run(plan) : null, note: plan ? null : 'no plan' })
    } catch (err) {
      if (!(err instanceof BudgetExceeded)) throw err
      rows.push({ planner: name, plan: null, r: null, note: err.message })
    }
  }
  if (o.json) {
    process.stdout.write(`${JSON.stringify({
      emulated: true, scenario: o.scenario, job: inputs.job.training ? 'training' : 'inference', coordination: o.coordination, seed: o.seed,
      rows: rows.map(({ planner, r, note }) => ({ planner, latencyMs: r ? finite(r.latencyMs) : null, p95LatencyMs: r ? finite(r.p95LatencyMs) : null, throughputRps: r?.throughputRps ?? null, energyJPerRequest: r?.energyJPerRequest ?? null, qoeMet: r?.qoeMet ?? false, ...(note ? { note } : {}) })),
    })}\n`)
    return
  }
  process.stdout.write(`scenario ${o.scenario} - EMULATION (device profiles, modelled Wi-Fi, ${o.coordination} transfers), seed ${o.seed}, ${o.durationS} s, same requests for every planner\n`)
  if (inputs.job.training) process.stdout.write(`${trainingNote(inputs.job.training.microBatchesPerStep)}\n`)
  process.stdout.write('\n')
  process.stdout.write(`${table(['planner', 'latency', 'p95', 'throughput/s', 'J/request', 'QoE met', 'stages'], rows.map(({ planner, plan, r, note }) => r && plan
    ? [planner, `${r.latencyMs.toFixed(1)} ms`, `${r.p95LatencyMs.toFixed(1)} ms`, r.throughputRps.toFixed(2), r.energyJPerRequest.toFixed(3), r.qoeMet ? 'yes' : 'no', String(plan.stages.length)]
    : [planner, '-', '-', '-', '-', note ?? 'no plan', '-']))}\n`)
}
