/**
 * The fast search against the wide one (`fast: false`, the search before issue 18) on seeded
 * random training fleets (test/helpers/random-fleets.ts randomCase with training: 3-9 devices of
 * speeds over two orders of magnitude, wired and Wi-Fi, synthetic models; EMULATION), each for a
 * throughput goal and an energy goal, the throughput bound at the best single device's capacity
 * (as plan-identity's training fleets). Per instance: each search's CPU time and the fast plan's
 * goal metric over the wide plan's (1 / capacity or J per sample; 1.000 = as good, above 1 = the
 * fast plan is worse).
 */
import { partition, type PartitionResult } from '../src/planner/partition.js'
import { predict } from '../src/planner/cost.js'
import type { Goal, Job, Prediction } from '../src/planner/types.js'
import { randomCase } from '../test/helpers/random-fleets.js'

export interface TrainingRow { seed: number; goal: Goal; devices: number; layers: number; wideCpuMs: number; fastCpuMs: number; ratio: number }

/** The training goals compared. */
export const TRAINING_GOALS = ['throughput', 'energy'] as const

/** The job of seed's random training fleet for a goal (throughput bound at the best single device's capacity). */
export function randomTrainingCase(seed: number, goal: Goal): ReturnType<typeof randomCase> {
  const c = randomCase(seed, { training: true })
  const L = c.job.model.layers.length
  const single = [...c.fleet.devices.keys()].map((id) => predict({ id, planner: 't', microBatch: 1, stages: [{ layers: [0, L], devices: [id] }] }, { ...c.job, rateRps: 0.01 }, c.fleet, c.network))
  const best = single.reduce((a, b) => (b.capacityRps > a.capacityRps ? b : a))
  const job: Job = { ...c.job, goal, qoe: { throughputRps: best.capacityRps } }
  return { ...c, job }
}

function metric(goal: Goal, p: Prediction): number {
  return goal === 'energy' ? p.energyJPerRequest : goal === 'latency' ? p.latencyMs : 1 / p.capacityRps
}

/** The fast plan's goal metric over the wide plan's (1 when neither finds a plan, Infinity when only the wide one does). */
export function planRatio(goal: Goal, fast: PartitionResult, wide: PartitionResult): number {
  if (fast.ok && wide.ok) return metric(goal, fast.chosen.prediction) / metric(goal, wide.chosen.prediction)
  return fast.ok === wide.ok ? 1 : fast.ok ? 0 : Infinity
}

function cpuTimed(f: () => PartitionResult): { cpuMs: number; res: PartitionResult } {
  const c = process.cpuUsage()
  const res = f()
  const used = process.cpuUsage(c)
  return { cpuMs: (used.user + used.system) / 1000, res }
}

/** Seeds 1 .. count, both goals: one run of each search (CPU time: this process, user + system). */
export function plannerTraining(log: (s: string) => void, count = 40): TrainingRow[] {
  const rows: TrainingRow[] = []
  for (let seed = 1; seed <= count; seed++) {
    for (const goal of TRAINING_GOALS) {
      const c = randomTrainingCase(seed, goal)
      const wide = cpuTimed(() => partition(c.job, c.fleet, { network: c.network, fast: false }))
      const fast = cpuTimed(() => partition(c.job, c.fleet, { network: c.network }))
      const ratio = planRatio(goal, fast.res, wide.res)
      rows.push({ seed, goal, devices: c.fleet.devices.size, layers: c.job.model.layers.length, wideCpuMs: wide.cpuMs, fastCpuMs: fast.cpuMs, ratio })
      if (Math.abs(ratio - 1) > 1e-9) log(`  seed ${seed}, ${goal}: fast / wide plan ${ratio.toFixed(4)}`)
    }
  }
  return rows
}

/** Per goal: instances, worst, median, how many worse than 1.001 / better than 0.999, and CPU time. */
export function trainingSummary(rows: readonly TrainingRow[]): Array<{ goal: Goal; n: number; worst: number; median: number; p90: number; worse: number; better: number; over1pct: number; wideCpuMs: number; fastCpuMs: number; fastMaxCpuMs: number }> {
  return TRAINING_GOALS.map((goal) => {
    const rs = rows.filter((r) => r.goal === goal)
    const ratios = rs.map((r) => r.ratio).sort((a, b) => a - b)
    const at = (q: number) => ratios[Math.min(ratios.length - 1, Math.floor(q * ratios.length))]!
    return {
      goal, n: rs.length, worst: ratios[ratios.length - 1]!, median: at(0.5), p90: at(0.9),
      worse: ratios.filter((x) => x > 1.001).length, better: ratios.filter((x) => x < 0.999).length, over1pct: ratios.filter((x) => x > 1.01).length,
      wideCpuMs: rs.reduce((s, r) => s + r.wideCpuMs, 0), fastCpuMs: rs.reduce((s, r) => s + r.fastCpuMs, 0), fastMaxCpuMs: Math.max(...rs.map((r) => r.fastCpuMs)),
    }
  })
}
