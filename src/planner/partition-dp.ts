/**
 * The partitioner's search (partition.ts): a dynamic program over states (layers done, devices
 * used per type, who sent the last boundary), each state keeping a thinned Pareto set of partial
 * plans over period, latency, energy and air time per request; a beam bounds the states expanded
 * per layer boundary. Complete plans are then costed exactly by the cost model. Pure.
 */
import { withinErrorBound } from './compression.js'
import { compliance, DEFAULT_UTILISATION_CAP, hopsBetween, pipelinedTransfer, predict, transferS } from './cost.js'
import { jobSources, type DeviceProfile, type Fleet, type Job, type Network, type Plan, type Prediction, type Stage } from './types.js'
import { trainingFigures } from './training.js'
import { stepLowerBoundMs } from './replay/step-bound.js'
import { checkpointEvery, checkpointStepMs, oneStepMs } from './replay/training.js'
import { StageTable } from './stage-table.js'
import { DEFAULT_GROUP_TOLERANCE, mergeNearTypes } from './device-groups.js'
import type { PartitionOptions, PlanCandidate } from './partition.js'
import { beam, covered, insert } from './partition-labels.js'
import { candidateGroups } from './candidate-groups.js'
import { groupMembers, singleGroups, newMemo, newRun, REPLICAS, stageStep, stepEstimate, countsOf, type Entry, type Group, type Labels, type Member, type Run, type SearchMemo, type StageRec, type Step } from './partition-step.js'

export interface DeviceType {
  readonly index: number
  readonly ids: readonly string[]
  readonly rep: DeviceProfile
}

export function deviceTypes(devices: readonly DeviceProfile[]): DeviceType[] {
  const groups = new Map<string, string[]>()
  const reps = new Map<string, DeviceProfile>()
  for (const d of devices) {
    const { id: _id, ...rest } = d
    const key = JSON.stringify(rest)
    if (!groups.has(key)) {
      groups.set(key, [])
      reps.set(key, d)
    }
    groups.get(key)!.push(d.id)
  }
  return [...groups.keys()].map((k, index) => ({ index, ids: groups.get(k)!, rep: reps.get(k)! }))
}

/**
 * Device types (deviceTypes) with each source device split off as a type of its own; `tolerance`
 * > 0: near-identical non-source devices share a type with a conservative representative
 * (device-groups.ts; for the search only: its complete plans are costed per device).
 */
export function sourceFirstTypes(devices: readonly DeviceProfile[], sources: ReadonlyArray<string | null>, tolerance = 0): DeviceType[] {
  const types = mergeNearTypes(deviceTypes(devices.filter((d) => !sources.includes(d.id))), tolerance, (index, ids, rep) => ({ index, ids, rep }))
  for (const d of devices) if (sources.includes(d.id)) types.push({ index: types.length, ids: [d.id], rep: d })
  return types
}

/** What the search needs of a job, a fleet and the options, worked out once. */
export interface SearchSpace {
  readonly job: Job
  readonly fleet: Fleet
  readonly usable: readonly DeviceProfile[]
  readonly types: readonly DeviceType[]
  readonly sources: ReadonlyArray<{ readonly d: DeviceProfile | null; readonly share: number }>
  /** A source's type, or -(k + 1) for source k when it is the hub or holds no stage (battery cap). */
  readonly sourceTypes: readonly number[]
  /** radix[t]: place value of type t in the mixed-radix code of per-type device counts. */
  readonly radix: readonly number[]
  readonly localGroup: Group | null
  readonly numericKeys: boolean
  readonly maxStages: number
  readonly frontSize: number
  readonly beamWidth: number
  readonly microBatches: readonly number[]
  readonly net: Network
  /** Air time of a transfer of `bytes` to or from d (none for a wired device or the hub), ms. */
  readonly air: (bytes: number, d: DeviceProfile | null) => number
  /** Time off the air of one transfer between two endpoints: wired hops and the broker's relay as the chunks pipeline past the air, ms. */
  readonly offAir: (bytes: number, a: DeviceProfile | null, z: DeviceProfile | null) => number
  readonly memoryLimit: (d: DeviceProfile) => number
  /** Labels only grow along a plan and are lower bounds of the prediction: false = can never comply. */
  readonly withinBounds: (periodMs: number, latencyMs: number, energyJ: number) => boolean
  /** Shared by the search's runs (partition-step.ts). */
  readonly memo: SearchMemo
  /** Training, fast search: the thinning also keeps the partial plans of least estimated step time and energy (partition-labels.ts StepEstimate). */
  readonly fastTraining: boolean
}

export function searchSpace(job: Job, fleet: Fleet, options: PartitionOptions): SearchSpace {
  const usable = [...fleet.devices.values()].filter((d) => !d.battery || d.battery.levelPct >= d.battery.minPct)
  // each source device is a type of its own: a stage on it receives its input without the air
  const sources = jobSources(job).map((x) => ({ d: x.device ? fleet.devices.get(x.device) ?? null : null, share: x.share }))
  const types = sourceFirstTypes(usable, sources.map((x) => x.d?.id ?? null), options.groupTolerance ?? DEFAULT_GROUP_TOLERANCE)
  const sourceTypes = sources.map((x, k) => {
    const t = types.findIndex((ty) => ty.ids.length === 1 && ty.ids[0] === x.d?.id)
    return t >= 0 ? t : -(k + 1)
  })
  const radix: number[] = []
  types.forEach((t, k) => radix.push(k === 0 ? 1 : radix[k - 1]! * (types[k - 1]!.ids.length + 1)))
  const localGroup: Group | null = sources.length > 1 && sourceTypes.every((t) => t >= 0) ? sourceTypes.map((type) => ({ type, replicas: 1 })) : null
  // numeric state keys while they stay exact integers (always, short of hundreds of kinds)
  const numericKeys = types.length < 120 && (radix[types.length - 1] ?? 1) * ((types[types.length - 1]?.ids.length ?? 0) + 1) * 1024 < Number.MAX_SAFE_INTEGER
  const net = options.network
  const offAirMs = new Map<string, number>()
  const airMs = (bytes: number, d: DeviceProfile | null) => (d?.linkRateBps ? transferS({ bytes, rateBps: d.linkRateBps, txDevice: null, rxDevice: null }, net) * 1000 : 0)
  const training = job.training
  const q = job.qoe
  const minRate = training ? q.throughputRps : Math.max(job.rateRps, q.throughputRps ?? 0)
  // inference plans keep every resource under the utilisation cap at the offered load
  const busyCap = training ? 1 : (q.utilisationCap ?? DEFAULT_UTILISATION_CAP)
  return {
    job, fleet, usable, types, sources, sourceTypes, radix, localGroup, numericKeys, net,
    maxStages: Math.min(options.maxStages ?? 8, job.model.layers.length),
    frontSize: options.frontSize ?? (options.fast === false ? 8 : 4),
    beamWidth: options.beamWidth ?? (options.fast === false ? 24 : 12),
    microBatches: options.microBatches ?? (job.goal === 'throughput' ? [1, 4] : [1]),
    air: (bytes, d) => airMs(bytes, d),
    offAir: (bytes, a, z) => {
      if (bytes <= 0 || (!a && !z) || a?.id === z?.id) return 0
      const key = `${bytes}|${a?.id ?? ''}|${z?.id ?? ''}`
      let ms = offAirMs.get(key)
      if (ms === undefined) {
        // the chunks pipeline (network/pipeline.ts): the transfer's whole latency less its air hops' time
        const split = pipelinedTransfer(hopsBetween(a, z, bytes), net)
        offAirMs.set(key, (ms = Math.max(0, split.totalS * 1000 - airMs(bytes, a) - airMs(bytes, z))))
      }
      return ms
    },
    memoryLimit: (d) => d.memoryBytes * (q.memoryFraction ?? 0.8),
    withinBounds: (periodMs, latencyMs, energyJ) =>
      (minRate === undefined || periodMs * minRate < 1000 * busyCap) &&
      (q.energyJPerRequest === undefined || energyJ <= q.energyJPerRequest) &&
      (training !== undefined || q.latencyMs === undefined || latencyMs <= q.latencyMs),
    memo: newMemo(),
    fastTraining: training !== undefined && options.fast !== false,
  }
}

/**
 * Every complete plan the search keeps, exactly costed. `prune`: drop partial plans already past a
 * bound (without it, the closest plans can be reported when nothing complies). Training: 1F1B
 * stashes min(S - k, M) micro-batches on stage k of S, so the DP runs once per stage count S and
 * keeps plans of exactly S stages; inference: one run, up to maxStages stages.
 */
export function explore(space: SearchSpace, prune: boolean, counter: { explored: number }): PlanCandidate[] {
  const plans = completePlans(space, prune, counter)
  if (space.job.training && [...space.fleet.devices.values()].every((d) => d.idleW >= 0)) return costTraining(space, plans)
  return plans.map((plan) => costed(space, plan))
}

/** The complete plans the search keeps (explore), not yet costed. */
export function completePlans(space: SearchSpace, prune: boolean, counter: { explored: number }): Plan[] {
  const stageCounts = space.job.training ? Array.from({ length: space.maxStages }, (_, k) => k + 1) : [space.maxStages]
  const complete: Array<{ stages: StageRec[]; microBatch: number }> = []
  const pool = space.memo.labels
  for (const S of stageCounts) for (const b of space.microBatches) {
    const states = searchRun(space, S, b, prune, counter)
    // exact costing is dearer than the DP: cost only the best complete plans across all states
    // (training, fast: a beam's width of them in the goal estimate's rank, whose replays are dear);
    // their stages are read before the next run reuses the pool's rows
    for (const entry of beam(pool, states[space.job.model.layers.length]!, (space.fastTraining ? 1 : 4) * space.beamWidth, stepEstimate(space, b))) for (const label of entry.set) complete.push({ stages: stagesOf(pool, label), microBatch: b })
  }
  // a plan whose cuts' compression errors add above the job's bound sends lighter on some of them
  return complete.map(({ stages, microBatch }, n) => withinErrorBound(space.job.model, planOf(space, stages, microBatch, n)))
}

/**
 * A plan exactly costed. Inference without a p95 bound: the p95 is left out (NaN; nothing in the
 * search reads it); the plans partition() returns are predicted in full as they will run (judgeAsRun; withP95
 * works it out alone). The costing of the search's 48-96 complete plans was a third p95 integration.
 * The search's estimate, which ranks plans; partition.ts judges the plans it offers as they will run.
 */
function costed(space: SearchSpace, plan: Plan): PlanCandidate {
  const prediction = predict(plan, space.job, space.fleet, space.net, space.job.training !== undefined || space.job.qoe.p95LatencyMs !== undefined)
  return { plan, prediction, compliance: compliance(space.job, space.fleet, prediction) }
}

/** The candidate as costed with its p95 (the same prediction and compliance as predict() gives). */
export function withP95(space: SearchSpace, c: PlanCandidate): PlanCandidate {
  if (!Number.isNaN(c.prediction.p95LatencyMs)) return c
  const prediction = predict(c.plan, space.job, space.fleet, space.net)
  return { plan: c.plan, prediction, compliance: compliance(space.job, space.fleet, prediction) }
}

/**
 * Training: costs the plans in order of a lower bound on their step time (stepLowerBoundMs) and
 * skips the replay of a plan whose figures at that bound (every one at least as good as its own:
 * predictTraining) a costed compliant plan already dominates. Such a plan is dominated, so never
 * on the front (partition.ts paretoFront), nor is a plan only it dominates (dominance is
 * transitive), and a compliant plan stays: the front and the chosen plan are the same, the
 * search is spared most of its replays. (Needs idle power >= 0: energy then grows with the step.)
 */
function costTraining(space: SearchSpace, plans: readonly Plan[]): PlanCandidate[] {
  const { job, fleet, net } = space
  const bounds = plans.map((p) => stepLowerBoundMs(p, job, fleet, net))
  const order = plans.map((_, i) => i).sort((a, b) => bounds[a]! - bounds[b]! || a - b)
  const out: Array<PlanCandidate | undefined> = plans.map(() => undefined)
  const beaten: Prediction[] = []
  const every = checkpointEvery(job)
  for (const i of order) {
    const plan = plans[i]!
    // predictTraining's figures, at the bound first
    const figures = trainingFigures(plan, job, fleet, net)
    const beatenAt = (ms: number) => beaten.some((o) => dominates(o, ms, figures.joules(ms) / figures.samples, (figures.samples * 1000) / ms))
    if (beaten.length && beatenAt(bounds[i]!)) continue
    // figures.replayed(), its two replays apart: an ordinary step's, then (checkpoints every
    // `every` steps) the step after a checkpoint's, which is no shorter than the bound either, so
    // the mean step is at least one + (bound - one) / every: a plan dominated there is skipped
    // before its second replay
    const one = oneStepMs(plan, job, fleet, net)
    if (every > 0 && beaten.length && beatenAt(one + (bounds[i]! - one) / every)) continue
    const prediction = figures.at(one, every > 0 ? checkpointStepMs(plan, job, fleet, net) : undefined)
    const c = { plan, prediction, compliance: compliance(job, fleet, prediction) }
    out[i] = c
    if (c.compliance.compliant) beaten.push(c.prediction)
  }
  return out.filter((c): c is PlanCandidate => c !== undefined)
}

/** At least as fast, frugal and capable, and faster or more frugal (partition.ts dominatesPlan with or without capacity) than these figures. */
function dominates(o: Prediction, latencyMs: number, energyJPerRequest: number, capacityRps: number): boolean {
  return o.latencyMs <= latencyMs && o.energyJPerRequest <= energyJPerRequest && o.capacityRps >= capacityRps &&
    (o.latencyMs < latencyMs || o.energyJPerRequest < energyJPerRequest)
}

/** The stages of a label, first to last. */
function stagesOf(pool: Labels, label: number): StageRec[] {
  const stagesRev: StageRec[] = []
  for (let l = label; l >= 0 && pool.stage[l]; l = pool.parent[l]!) stagesRev.push(pool.stage[l]!)
  return stagesRev.reverse()
}

/** The plan of a complete label's stages: each stage's devices taken per type in order. */
function planOf(space: SearchSpace, recs: readonly StageRec[], microBatch: number, n: number): Plan {
  const taken = space.types.map(() => 0)
  const stages: Stage[] = recs.map((s) => ({
    layers: s.layers,
    devices: s.group.flatMap((g) => {
      const ids = space.types[g.type]!.ids.slice(taken[g.type]!, taken[g.type]! + g.replicas)
      taken[g.type]! += g.replicas
      return ids
    }),
  }))
  return { id: `dora-${n}`, stages, microBatch, planner: 'dora' }
}

/** One stage count S and micro-batch b: the states after each layer boundary. */
function searchRun(space: SearchSpace, S: number, b: number, prune: boolean, counter: { explored: number }): Array<Map<number | string, Entry>> {
  const { job, types, sources, sourceTypes } = space
  const L = job.model.layers.length
  const table = new StageTable(job)
  // air time of boundary i's bytes to or from a device of type t (source k: row T + k), at t x (L + 1) + i
  const T = types.length
  const airs = new Float64Array((T + sources.length) * (L + 1))
  types.forEach((t, k) => job.model.boundaryBytes.forEach((bytes, i) => { airs[k * (L + 1) + i] = space.air(bytes * b, t.rep) }))
  sources.forEach((x, k) => job.model.boundaryBytes.forEach((bytes, i) => { airs[(T + k) * (L + 1) + i] = space.air(bytes * b, x.d) }))
  // each type's memory bound
  const memoryLimit = types.map((t) => space.memoryLimit(t.rep))
  // a stage's member records per group and range (i x (L + 1) + j), shared by the runs of this b
  // (a mixed group shares its micro-batches by speed; one replica type takes them all, whatever
  // the number of replicas: one record per type, kept under its single replica's group)
  const membersOf = (group: Group, i: number, j: number): Member[] => {
    const key = group.length === 1 ? singleGroups(group[0]!.type)[0]! : group
    let byRange = run.members.get(key)
    if (!byRange) run.members.set(key, (byRange = []))
    return (byRange[i * (L + 1) + j] ??= group.length === 1 ? [{ d: types[group[0]!.type]!.rep, t: group[0]!.type, ms: ms[group[0]!.type]!, share: 1 }] : groupMembers(types, group, ms))
  }
  const run = newRun(space, S, b, table, airs, prune)
  // states[i]: key "counts|senders" -> Pareto set of labels that have placed layers [0, i)
  const states: Array<Map<number | string, Entry>> = Array.from({ length: L + 1 }, () => new Map())
  // compute time of the stage being tried on each type that fits it, ms (one array, refilled)
  const ms = new Float64Array(types.length)
  // the types that fit the stage being tried, and its candidate groups (arrays refilled)
  const fits: DeviceType[] = []
  const groups: Group[] = []
  // the labels of this run (the rows of the runs before it are read and done with)
  const pool = space.memo.labels
  pool.size = 0
  const root = pool.put(0, 0, 0, 0, 0, 0, 0, null, -1, 0)
  pool.size++
  states[0]!.set(-1, { counts: types.map(() => 0), base: [], group: null, code: 0, senders: sources.map((x, k) => ({ d: x.d, t: sourceTypes[k]!, share: x.share })), set: [root] })
  // training, fast search: a label that cannot place the stages it still needs (exactly S in all,
  // each on layers and devices of its own) on the layers and devices left is dead: never made
  const prunesDead = space.fastTraining
  let devices = 0
  for (const t of types) devices += t.ids.length
  for (let i = 0; i < L; i++) {
    for (const entry of beam(pool, states[i]!, space.beamWidth, run.estimate)) {
      const counts = countsOf(entry)
      const { inner, last, need } = stagesLeft(pool.depth, entry, S, !!job.training)
      let free = devices
      for (const c of counts) free -= c
      for (let j = i + 1; j <= L; j++) {
        if (!(j === L ? last : inner)) continue
        if (prunesDead && j < L && L - j < need) continue
        const minBytes = table.memoryBytes(i, j, b, 1)
        fits.length = 0
        for (const t of types) if (t.ids.length > counts[t.index]! && minBytes <= memoryLimit[t.index]!) fits.push(t)
        if (!fits.length) continue
        for (const t of fits) ms[t.index] = table.computeMs(t.rep, i, j, b)
        candidateGroups(run, fits, counts, ms, groups)
        // several sources that can all hold stage 0: each runs it on its own requests
        const local = i === 0 && space.localGroup && space.localGroup.every((g) => fits.some((t) => t.index === g.type)) ? space.localGroup : null
        if (local) groups.push(local)
        for (const group of groups) {
          let spare = Infinity
          if (prunesDead && j < L) {
            spare = free
            for (const g of group) spare -= g.replicas
            if (spare < need) continue
          }
          counter.explored++
          const members = group === local
            ? group.map((g, k) => ({ d: types[g.type]!.rep, t: g.type, ms: ms[g.type]!, share: sources[k]!.share }))
            : membersOf(group, i, j)
          const step = stageStep(run, entry, i, j, group, ms, members, group === local)
          extend(run, states[j]!, entry, i, j, group, members, step, spare)
        }
      }
    }
    // nothing reads the states before the next boundary again (their labels live on as parents)
    states[i]!.clear()
  }
  return states
}

/**
 * Which stages a label of `entry` may still take: not past S stages; training: the last stage
 * exactly as the S-th (extend). `need`: the fewest stages a label still needs after an inner
 * stage (searchRun's prunesDead).
 */
function stagesLeft(depths: ArrayLike<number>, entry: Entry, S: number, training: boolean): { inner: boolean; last: boolean; need: number } {
  let inner = false
  let last = false
  let need = Infinity
  for (const label of entry.set) {
    const depth = depths[label]!
    if (depth >= S) continue
    if (!training || depth + 1 < S) inner = true
    if (!training || depth + 1 === S) last = true
    if (depth + 1 < S) need = Math.min(need, S - depth - 1)
  }
  return { inner, last, need }
}

/**
 * Adds stage [i, j) on `group` to every label of `entry` that may take it, into the states after
 * j; `spare`: the devices left after it (Infinity: not counted), a label that needs more stages
 * than those devices or the layers after j can hold is not made (searchRun prunesDead).
 */
function extend(run: Run, next: Map<number | string, Entry>, entry: Entry, i: number, j: number, group: Group, members: readonly Member[], step: Step, spare: number): void {
  const { space, S, b, table, prune } = run
  const training = space.job.training
  const L = space.job.model.layers.length
  const pool = run.memo.labels
  let key: number | string | null = null
  let nc = 0
  for (const label of entry.set) {
    const depth = pool.depth[label]!
    if (depth >= S) continue
    if (training && (j === L) !== (depth + 1 === S)) continue
    if (j < L && spare !== Infinity && (spare < S - depth - 1 || L - j < S - depth - 1)) continue
    // 1F1B stashes min(S - depth, M) micro-batches on this stage
    if (training && table.memoryBytes(i, j, b, Math.min(S - depth, training.microBatchesPerStep)) > step.groupLimit) continue
    const airMs = pool.airMs[label]! + step.airIn + step.airOut
    const periodMs = Math.max(pool.periodMs[label]!, step.stagePeriodMs, airMs)
    const latencyMs = pool.latencyMs[label]! + step.stageMs + (step.airIn + step.airOut) * b + step.wireMs
    const energyJ = pool.energyJ[label]! + step.activeJ + step.radioJ + step.idleJ
    if (prune && !space.withinBounds(periodMs, latencyMs, energyJ)) continue
    if (key === null) {
      // the devices used per type, as one mixed-radix number, and the group's shape
      nc = entry.code
      for (const g of group) nc += g.replicas * space.radix[g.type]!
      // (a mixed group: a negative number while its id is small)
      const mixed = group.length === 1 ? undefined : run.memo.mixedKeys.get(group)
      key = group.length === 1 && space.numericKeys
        ? nc * 1024 + group[0]!.type * REPLICAS.length + REPLICAS.indexOf(group[0]!.replicas)
        : mixed && mixed.id < 1024 && space.numericKeys
          ? -(nc * 1024 + mixed.id + 1)
          : `${space.numericKeys ? nc : countsOf(entry).map((c, t) => c + group.reduce((x, g) => x + (g.type === t ? g.replicas : 0), 0)).join(',')}|${mixed?.key ?? group.map((g) => `${g.type}x${g.replicas}`).join('+')}`
    }
    let target = next.get(key)
    // most new labels are dominated: test before allocating one
    if (target && covered(pool, target.set, periodMs, latencyMs, energyJ, airMs)) continue
    const ckptMs = pool.ckptMs[label]! + step.ckptMs
    const busyJ = pool.busyJ[label]! + step.activeJ + step.radioJ + step.ckptJ
    const row = pool.put(periodMs, latencyMs, energyJ, airMs, ckptMs, busyJ, pool.idleW[label]! + step.idleW, stageOf(run, i, j, group), label, depth + 1)
    if (target) insert(pool, target.set, space.frontSize, run.estimate)
    else {
      // a new state: its set is the label (as inserting into an empty set); the members are
      // immutable: they serve as the senders of the next stage
      pool.size++
      next.set(key, { counts: null, base: countsOf(entry), group, code: nc, senders: members, set: [row] })
    }
  }
}

/** The stage [i, j) on `group`, one record per run shared by every label that takes it (read only). */
function stageOf(run: Run, i: number, j: number, group: Group): StageRec {
  const L = run.space.job.model.layers.length
  let byRange = run.stages.get(group)
  if (!byRange) run.stages.set(group, (byRange = []))
  return (byRange[i * (L + 1) + j] ??= { layers: [i, j], group })
}
