/**
 * Planner time on the issue-18 targets, the current search against the fast one in the same
 * run (synthetic device profiles: EMULATION): 16 devices on real zoo models reduced to 24 cuts,
 * every goal; 48 and 64 devices with a 12-layer encoder; an 8-device training fleet. Each row
 * gives both times (best of 3) and how far the fast search's plan is from the current one's on
 * the goal metric (1.000 = as good; above 1 = worse).
 */
import { partition, type PartitionOptions, type PartitionResult } from '../src/planner/partition.js'
import type { Fleet, Goal, Job, ModelProfile, Prediction } from '../src/planner/types.js'
import { INITIAL_STATE, adapt } from '../src/planner/adapt/adapter.js'
import { instance, net } from './planner.js'

export interface TargetRow { instance: string; devices: number; layers: number; goal: Goal; currentMs: number; fastMs: number; fastCpuMs: number; ratio: number; aimMs: number }

/** The search as it was before issue 18 (for the comparison), and the fast one. */
export const CURRENT: Partial<PartitionOptions> = { fast: false }
export const FAST: Partial<PartitionOptions> = {}

function metric(goal: Goal, p: Prediction): number {
  return goal === 'latency' ? p.latencyMs : goal === 'energy' ? p.energyJPerRequest : 1 / p.capacityRps
}

/** Best of 3: wall time, and this process's CPU time (user + system) of the same run; the machine is shared. */
function timed(job: Job, fleet: Fleet, o: Partial<PartitionOptions>): { ms: number; cpuMs: number; res: PartitionResult } {
  let ms = Infinity
  let cpuMs = Infinity
  let res!: PartitionResult
  for (let k = 0; k < 3; k++) {
    const t = performance.now()
    const c = process.cpuUsage()
    res = partition(job, fleet, { network: net, ...o })
    const used = process.cpuUsage(c)
    ms = Math.min(ms, performance.now() - t)
    cpuMs = Math.min(cpuMs, (used.user + used.system) / 1000)
  }
  return { ms, cpuMs, res }
}

async function zooProfile(name: string, build: () => unknown): Promise<ModelProfile> {
  const { onnx } = await import('../src/model/onnx.js')
  const { profileModel } = await import('../src/model/load.js')
  const { toModelProfile } = await import('../src/planner/model-profile.js')
  const bytes = onnx.ModelProto.encode(build() as never).finish()
  const p = await profileModel(bytes, name, { batch: 1 })
  const outputs = (names: Array<string | null | undefined>) => names.reduce((s, n) => s + (p.shapes.values.get(n ?? '')?.bytes ?? 0), 0)
  return toModelProfile({ name, costs: p.costs, cuts: p.cuts, inputBytes: outputs(p.graph.inputs.map((v) => v.name)), outputBytes: outputs(p.graph.outputs.map((v) => v.name)), batch: 1 }, 24)
}

export async function plannerTargets(log: (s: string) => void): Promise<TargetRow[]> {
  const { zooModel } = await import('../src/model/zoo/index.js')
  const { bertEncoder } = await import('../src/model/zoo/transformer.js')
  const rows: TargetRow[] = []
  const run = (name: string, job: Job, fleet: Fleet, aimMs: number) => {
    const cur = timed(job, fleet, CURRENT)
    const fast = timed(job, fleet, FAST)
    const ratio = cur.res.ok && fast.res.ok ? metric(job.goal, fast.res.chosen.prediction) / metric(job.goal, cur.res.chosen.prediction) : cur.res.ok === fast.res.ok ? 1 : Infinity
    rows.push({ instance: name, devices: fleet.devices.size, layers: job.model.layers.length, goal: job.goal, currentMs: cur.ms, fastMs: fast.ms, fastCpuMs: fast.cpuMs, ratio, aimMs })
    log(`  ${name}, ${fleet.devices.size} devices, ${job.goal}: current ${cur.ms.toFixed(0)} ms, fast ${fast.ms.toFixed(0)} ms (CPU ${fast.cpuMs.toFixed(0)} ms), plan ratio ${ratio.toFixed(3)}`)
  }
  const goals: Goal[] = ['latency', 'energy', 'throughput']
  const { fleet: f16 } = instance(16 * 31 + 8, 16, 8, 1)
  for (const name of ['resnet18', 'mobilenetv2', 'yolo-style', 'distilbert']) {
    const model = await zooProfile(name, zooModel(name)!.build)
    for (const goal of goals) run(name, { id: 'j', model, rateRps: 1, qoe: { memoryFraction: 1 }, goal, sourceDevice: null }, f16, 200)
  }
  const encoder = await zooProfile('encoder-12', () => bertEncoder({ name: 'encoder-12', layers: 12, hidden: 256, heads: 4, ffn: 1024 }))
  for (const devices of [48, 64]) {
    const { fleet } = instance(devices * 31 + 12, devices, 12, 1)
    for (const goal of goals) run('encoder-12', { id: 'j', model: encoder, rateRps: 2, qoe: { memoryFraction: 1 }, goal, sourceDevice: null }, fleet, 1000)
  }
  const distil = await zooProfile('distilbert', zooModel('distilbert')!.build)
  const { fleet: f8 } = instance(8 * 31 + 4, 8, 4, 1)
  for (const goal of ['throughput', 'energy'] as const) {
    run('distilbert training', { id: 'j', model: distil, rateRps: 25, qoe: { memoryFraction: 1 }, goal, sourceDevice: null, training: { microBatchesPerStep: 16, optimizerStateFactor: 2 } }, f8, 300)
  }
  return rows
}

export interface ReactionRow { devices: number; event: string; action: string; currentMs: number; fastMs: number }

/**
 * The adapter's reaction to one device leaving and to one joining a running 48-device fleet
 * (12-layer encoder, latency goal): from the running state to its decision, with the current
 * search and the fast one (best of 3 each). A newcomer whose twin was idle at the last search
 * reuses that search (no re-plan); one like a device in the plans triggers a re-plan.
 */
export async function adapterReaction(log: (s: string) => void): Promise<ReactionRow[]> {
  const { bertEncoder } = await import('../src/model/zoo/transformer.js')
  const model = await zooProfile('encoder-12', () => bertEncoder({ name: 'encoder-12', layers: 12, hidden: 256, heads: 4, ffn: 1024 }))
  const { fleet } = instance(48 * 31 + 12, 48, 12, 1)
  const job: Job = { id: 'j', model, rateRps: 2, qoe: { memoryFraction: 1 }, goal: 'latency', sourceDevice: null }
  const inputs = { job, fleet, network: net }
  const start = adapt(INITIAL_STATE, inputs, 0, 'start')
  const used = start.epoch!.parts[0]!.plan.stages[0]!.devices[0]!
  const left = { ...inputs, fleet: { devices: new Map([...fleet.devices].filter(([id]) => id !== used)) } }
  const inPlans = new Set(start.state.candidates.flatMap((p) => p.stages.flatMap((s) => s.devices)))
  const idle = [...fleet.devices.keys()].find((id) => !inPlans.has(id))!
  const joining = (like: string) => ({ ...inputs, fleet: { devices: new Map([...fleet.devices, ['joiner', { ...fleet.devices.get(like)!, id: 'joiner' }] as const]) } })
  const rows: ReactionRow[] = []
  const events = [[`${used} leaves`, left], [`a twin of ${used} (in a plan) joins`, joining(used)], [`a twin of ${idle} (in no plan) joins`, joining(idle)]] as const
  for (const [event, after] of events) {
    const time = (fastSearch: boolean) => {
      let ms = Infinity
      let action = ''
      for (let k = 0; k < 3; k++) {
        const t = performance.now()
        action = adapt(start.state, after, 1000, event, { fastSearch }).action
        ms = Math.min(ms, performance.now() - t)
      }
      return { ms, action }
    }
    const cur = time(false)
    const fast = time(true)
    rows.push({ devices: fleet.devices.size, event, action: fast.action, currentMs: cur.ms, fastMs: fast.ms })
    log(`  adapter, 48 devices, ${event}: ${fast.action}; current ${cur.ms.toFixed(0)} ms, fast ${fast.ms.toFixed(0)} ms`)
  }
  return rows
}
