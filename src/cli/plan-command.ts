/** `dora plan --scenario FILE`: Dora's candidate plans for a scenario's job, and the chosen one. */
import type { Command } from 'commander'
import { planningInputs, readScenario } from '../scenario/load.js'
import { partition, type PlanCandidate } from '../planner/partition.js'
import { table } from './format.js'
import { gantt } from './gantt.js'
import { scheduleTransfers, type Schedule } from '../planner/network/scheduler.js'
import { chooseTransferMode } from '../planner/adapt/transfer-mode.js'
import { DoraError, ErrorCodes } from '../errors.js'
import type { Job, ModelProfile, Plan } from '../planner/types.js'
import { cutCodec } from '../planner/compression.js'

const out = (s: string) => process.stdout.write(`${s}\n`)
/** JSON has no Infinity: an unbounded figure (overload) is null. */
const finite = (x: number) => (Number.isFinite(x) ? x : null)

/** A plan's stages as text; a compressed cut shows its codec on the arrow: `-(int8)->`. */
function stagesText(plan: Plan, model: ModelProfile): string {
  return plan.stages.map((s, k) => {
    const c = k === 0 ? null : cutCodec(model, plan, s.layers[0])
    return `${k === 0 ? '' : c ? ` -(${c})-> ` : ' -> '}[${s.layers[0]},${s.layers[1]})@${s.devices.join('+')}`
  }).join('')
}

function planJson(c: PlanCandidate, nodeBounds: readonly number[] | undefined, model: ModelProfile) {
  return {
    id: c.plan.id,
    microBatch: c.plan.microBatch,
    stages: c.plan.stages.map((s, k) => ({
      layers: [s.layers[0], s.layers[1]],
      devices: [...s.devices],
      ...(nodeBounds ? { nodes: [nodeBounds[s.layers[0]], nodeBounds[s.layers[1]]] } : {}),
      // how the float32 activations reach this stage (job.compression): float16 or int8; absent: float32
      ...(k > 0 && cutCodec(model, c.plan, s.layers[0]) ? { inputCodec: cutCodec(model, c.plan, s.layers[0]) } : {}),
    })),
    predicted: {
      latencyMs: finite(c.prediction.latencyMs),
      p95LatencyMs: finite(c.prediction.p95LatencyMs),
      throughputRps: c.prediction.throughputRps,
      energyJPerRequest: c.prediction.energyJPerRequest,
      capacityRps: c.prediction.capacityRps,
      bottleneck: c.prediction.bottleneck,
      transferMode: c.prediction.transferMode,
      utilisation: c.prediction.utilisation,
      p95UncertaintyMs: finite(c.prediction.p95UncertaintyMs),
    },
    compliant: c.compliance.compliant,
    p95MarginMs: c.compliance.p95MarginMs === null ? null : finite(c.compliance.p95MarginMs),
    utilisationMargin: c.compliance.utilisationMargin,
    violations: c.compliance.violations.map((v) => ({ ...v, predicted: finite(v.predicted) })),
  }
}

export const trainingNote = (m: number) => `training: 1F1B, ${m} micro-batches per step; latency = one optimizer step, capacity and J per sample`

/** Said where an offline plan batches inference requests, which the live device runtime does not. */
export function liveBatchNote(job: Job, plans: readonly Plan[]): string | null {
  const b = Math.max(1, ...plans.map((p) => p.microBatch))
  if (job.training || b <= 1) return null
  return `note: batch ${b} is an offline what-if; the live device runtime runs each inference request alone (no batching), so \`dora hub\` plans this job with micro-batch 1`
}

export function registerPlanCommand(program: Command, setExit: (code: number) => void): void {
  program
    .command('plan')
    .description("plan a scenario's job with Dora's partitioner: candidate plans along the speed-energy trade-off, and the chosen one")
    .requiredOption('--scenario <file>', 'scenario file (see config/scenarios/)')
    .option('--goal <goal>', 'override the job goal: latency, energy or throughput')
    .option('--json', 'print one JSON object')
    .action(async (flags: { scenario: string; goal?: string; json?: boolean }) => {
      const scenario = await readScenario(flags.scenario)
      if (flags.goal) {
        if (!['latency', 'energy', 'throughput'].includes(flags.goal)) throw new DoraError(ErrorCodes.USAGE, `--goal must be latency, energy or throughput, not ${flags.goal}`)
        scenario.job.goal = flags.goal as 'latency'
      }
      if (!flags.json) process.stderr.write(`dora: profiling ${scenario.job.model} for scenario ${scenario.name} (emulated device profiles)...\n`)
      const inputs = await planningInputs(flags.scenario, scenario)
      const t0 = performance.now()
      const result = partition(inputs.job, inputs.fleet, { network: inputs.network })
      const planMs = performance.now() - t0
      const bounds = inputs.job.model.nodeBounds
      if (flags.json) {
        const plans = (result.ok ? result.candidates : result.closest).map((c) => {
          const sch = scheduleTransfers(c.plan, inputs.job, inputs.fleet, inputs.network)
          return { ...planJson(c, bounds, inputs.job.model), slots: sch.ok ? slotsJson(sch.schedule) : { none: sch.reason } }
        })
        out(JSON.stringify({
          scenario: scenario.name,
          emulated: true,
          job: inputs.job.training ? 'training' : 'inference',
          plans,
          notes: [liveBatchNote(inputs.job, (result.ok ? result.candidates : result.closest).map((c) => c.plan))].filter((n) => n !== null),
          chosen: result.ok ? result.chosen.plan.id : null,
          ...(result.ok ? {} : { reasons: result.reasons }),
          plannerMs: planMs,
        }))
        if (!result.ok) setExit(3)
        return
      }
      out(`scenario ${scenario.name} (emulated devices): job ${scenario.job.id}, model ${inputs.job.model.name} in ${inputs.job.model.layers.length} layers, ${inputs.job.rateRps} req/s${inputs.job.sources ? ` from ${inputs.job.sources.length} sources` : ""}, goal ${scenario.job.goal}`)
      if (inputs.job.training) out(trainingNote(inputs.job.training.microBatchesPerStep))
      out(`planned in ${planMs.toFixed(0)} ms (${result.explored} stage options explored)\n`)
      const rows = (result.ok ? result.candidates : result.closest).map((c) => [
        c.plan.id + (result.ok && c === result.chosen ? ' *' : ''),
        stagesText(c.plan, inputs.job.model),
        String(c.plan.microBatch),
        fmtMs(c.prediction.latencyMs),
        fmtMs(c.prediction.p95LatencyMs),
        c.compliance.p95MarginMs === null ? '-' : fmtMs(c.compliance.p95MarginMs),
        busiestText(c.prediction.utilisation),
        c.prediction.capacityRps.toFixed(1),
        c.prediction.energyJPerRequest.toFixed(3),
        c.compliance.compliant ? 'yes' : 'no',
      ])
      out(table(['plan', 'stages (layers@devices)', 'batch', 'latency', 'p95', 'p95 margin', 'busiest', 'capacity/s', 'J/request', 'QoE met'], rows))
      const batchNote = liveBatchNote(inputs.job, (result.ok ? result.candidates : result.closest).map((c) => c.plan))
      if (batchNote) out(batchNote)
      out(`(predicted ${inputs.network.coordination === 'scheduled' ? 'with transfers in turn on the air at no cost of coordination (the at-once prediction)' : 'for uncoordinated transfers'}; p95 margin: bound - p95 - its uncertainty)`)
      if (result.ok) {
        out(`\n* chosen for the ${scenario.job.goal} goal; bottleneck ${result.chosen.prediction.bottleneck}`)
        const m = chooseTransferMode(result.chosen.plan, inputs.job, inputs.fleet, inputs.network, result.chosen.prediction, 0)
        const mode = (x: { latencyMs: number; p95LatencyMs: number } | null) => (x ? `${fmtMs(x.latencyMs)} / ${fmtMs(x.p95LatencyMs)}` : 'none')
        out(`transfer modes of ${result.chosen.plan.id} (mean / p95): slots ${mode(m.slots)}, hub grants ${mode(m.grants)} (dora simulate's default), at once ${mode(m.atOnce)}; a run uses ${m.mode === 'at-once' ? 'at once' : m.mode}`)
        const sch = scheduleTransfers(result.chosen.plan, inputs.job, inputs.fleet, inputs.network)
        if (!sch.ok) out(`\ntransfer slots: none (${sch.reason})`)
        else {
          const x = sch.schedule
          if (inputs.job.training) out(`\ntransfer slots of ${result.chosen.plan.id}: one optimizer step of ${x.microBatchesPerCycle} micro-batches in ${x.cycleMs.toFixed(1)} ms (1F1B replayed with every transfer alone on the air, all-reduce included), ${x.slots.length} slots, air held ${(x.airShare * 100).toFixed(0)}%`)
          else out(`\ntransfer slots of ${result.chosen.plan.id}: a micro-batch every ${x.periodMs.toFixed(1)} ms, cycle of ${x.microBatchesPerCycle} (${x.cycleMs.toFixed(1)} ms), ${x.slots.length} slots, air held ${(x.airShare * 100).toFixed(0)}% (guard ${x.guardMs} ms each); release to result ${x.latencyMs.toFixed(1)} ms + expected wait for a turn ${x.waitMs.toFixed(1)} ms`)
          out(table(['sender', 'slots', 'first at', 'bytes per cycle'], Object.entries(x.byDevice).map(([d, list]) => [d, String(list.length), `${list[0]!.offsetMs.toFixed(1)} ms`, String(list.reduce((a, y) => a + y.bytes, 0))])))
          out(`\none cycle (digits: micro-batch in the cycle):\n${gantt(x)}`)
        }
      }
      else out(`\nno plan meets the QoE bounds. The closest fails on:\n${result.reasons.map((r) => `  - ${r}`).join('\n')}`)
      if (!result.ok) setExit(3)
    })
}

/** A schedule as the plan's JSON carries it: per sending device, its slots in the cycle. */
function slotsJson(x: Schedule) {
  return { periodMs: x.periodMs, microBatchesPerCycle: x.microBatchesPerCycle, cycleMs: x.cycleMs, epochStartMs: x.epochStartMs, guardMs: x.guardMs, latencyMs: x.latencyMs, waitMs: x.waitMs, airShare: x.airShare, byDevice: x.byDevice }
}

function fmtMs(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(1)} ms` : 'overloaded'
}

/** The busiest resource and its utilisation, e.g. "air 42%". */
function busiestText(u: Readonly<Record<string, number>>): string {
  const top = Object.entries(u).reduce<[string, number] | null>((a, x) => (!a || x[1] > a[1] ? x : a), null)
  return top ? `${top[0]} ${(top[1] * 100).toFixed(0)}%` : '-'
}
