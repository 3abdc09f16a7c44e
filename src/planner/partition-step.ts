/**
 * One stage choice of the partitioner's search (partition-dp.ts): what adding a stage on a replica
 * group (candidate-groups.ts) costs a partial plan per request. Everything a search run can work
 * out once (consumers, transfer times per boundary, all-reduce terms per group shape, the interned
 * mixed groups) is kept on its Run, so the inner loop allocates next to nothing; the figures are
 * the same floating-point operations in the same order as before. Pure.
 */
import { outputBytesOf, type DeviceProfile } from './types.js'
import type { StageTable } from './stage-table.js'
import { consumerOf } from './routing.js'
import { LabelPool, type StepEstimate } from './partition-labels.js'
import { checkpointEvery } from './replay/training.js'
import type { DeviceType, SearchSpace } from './partition-dp.js'

/** Devices of one stage: r devices of each listed type (several types: heterogeneous replicas). */
export type Group = ReadonlyArray<{ readonly type: number; readonly replicas: number }>

/** Who sent the previous stage's output, with the share of micro-batches each type sends. */
export type Senders = ReadonlyArray<{ readonly d: DeviceProfile | null; readonly t: number; readonly share: number }>

/** A stage as a label records it (one record per group and range, shared). */
export type StageRec = { layers: [number, number]; group: Group }

/** The search's labels (partition-labels.ts), one row each: a label is its row number. */
export type Labels = LabelPool<StageRec>

/**
 * A state: the devices used per type (counts, worked out from the state before it and the group
 * of its last stage only when the state is expanded: most states never are), their mixed-radix
 * code, who sent the last boundary, and its Pareto set of partial plans.
 */
export interface Entry { counts: number[] | null; base: readonly number[]; group: Group | null; code: number; senders: Senders; set: number[] }

/** The devices an entry uses per type. */
export function countsOf(entry: Entry): number[] {
  if (entry.counts) return entry.counts
  const c = entry.base.slice()
  for (const g of entry.group!) c[g.type]! += g.replicas
  return (entry.counts = c)
}

export type Member = { d: DeviceProfile; t: number; ms: number; share: number }

export const REPLICAS = [1, 2, 3, 4, 8, 16, 32, 64]

/**
 * What adding one stage costs a partial plan, per request (stageStep); training also: its
 * devices' checkpoints (air per step spread over the steps between them, ms; radio per sample,
 * J) and their idle power (W).
 */
export interface Step { airIn: number; airOut: number; stageMs: number; wireMs: number; radioJ: number; activeJ: number; idleJ: number; stagePeriodMs: number; groupLimit: number; ckptMs: number; ckptJ: number; idleW: number }

export interface Run {
  readonly space: SearchSpace
  readonly S: number
  readonly b: number
  readonly table: StageTable
  /** Air time of boundary i's bytes to or from a device of type t (source k: row T + k), at t x (L + 1) + i (partition-dp.ts). */
  readonly airs: Float64Array
  readonly prune: boolean
  /** consumers[k]: where source k's results go (routing.ts consumerOf). */
  readonly consumers: ReadonlyArray<DeviceProfile | null>
  /** Bytes out of stage [i, j) at index i * (L + 1) + j (inference; outputBytesOf x b). */
  readonly outBytes: Float64Array | null
  /** Inference: the results' air time at both ends and time off the air per range, member type and consumer (stageStep), NaN until first asked. */
  readonly outTerms: Float64Array | null
  /**
   * Time off the air of the input transfer at boundary i from a sender of type t (a source k
   * apart from the types: T + k) to a member of type u, at index (i x (T + sources) + t) x T + u,
   * NaN until first asked (space.offAir; a sender's and a member's device follow from their types).
   */
  readonly wireIn: Float64Array
  /** All-reduce terms (air, radio per sample, hop by hop) per group and stage range (training; memo.syncTerms for this b). */
  readonly syncTerms: Map<Group, Array<Float64Array | undefined>>
  readonly memo: SearchMemo
  /** memo.stages. */
  readonly stages: Map<Group, Array<StageRec | undefined>>
  /** Member records per group and range for this b (memo.members; partition-dp.ts). */
  readonly members: Map<Group, Array<Member[] | undefined>>
  /** The base of mixed groups' shape codes (candidateGroups), 0 when a number would not be exact. */
  readonly shapeRadix: number
  /** The Step that stageStep fills (read before the next call). */
  readonly step: Step
  /** Training's fast thinning: a step's estimates for this micro-batch size (partition-labels.ts); undefined: none. */
  readonly estimate: StepEstimate | undefined
  /** Training: steps between checkpoints (0: none). */
  readonly ckptEvery: number
  /** Training with checkpoints: checkpointTerms' air per step and radio per sample per range and sending type, NaN until first asked. */
  readonly ckptTerms: Float64Array | null
}

/** What the runs of one search share (SearchSpace.memo). */
export interface SearchMemo {
  /** Mixed groups interned by shape, and each one's part of a state key (string, and a number < 1024 while there are few). */
  readonly mixed: Map<number | string, Group>
  readonly mixedKeys: Map<Group, { readonly key: string; readonly id: number }>
  /** Per micro-batch size: Run.syncTerms. */
  readonly syncTerms: Map<number, Map<Group, Array<Float64Array | undefined>>>
  /** Stage records per group and range (i x (L + 1) + j), shared by the labels that take them (partition-dp.ts). */
  readonly stages: Map<Group, Array<StageRec | undefined>>
  /** Per micro-batch size: Run.members. */
  readonly members: Map<number, Map<Group, Array<Member[] | undefined>>>
  /** The labels of the run under way (emptied at the start of each run). */
  readonly labels: Labels
}

export function newMemo(): SearchMemo {
  return { mixed: new Map(), mixedKeys: new Map(), syncTerms: new Map(), stages: new Map(), members: new Map(), labels: new LabelPool<StageRec>() }
}

export function newRun(space: SearchSpace, S: number, b: number, table: StageTable, airs: Float64Array, prune: boolean): Run {
  const { job } = space
  const L = job.model.layers.length
  let outBytes: Float64Array | null = null
  if (!job.training) {
    outBytes = new Float64Array((L + 1) * (L + 1))
    for (let i = 0; i < L; i++) for (let j = i + 1; j <= L; j++) outBytes[i * (L + 1) + j] = outputBytesOf(job.model, [i, j]) * b
  }
  const T = space.types.length
  return {
    space, S, b, table, airs, prune, outBytes,
    outTerms: outBytes ? new Float64Array((L + 1) * (L + 1) * T * space.sources.length * 2).fill(NaN) : null,
    wireIn: new Float64Array((L + 1) * (T + space.sources.length) * T).fill(NaN),
    consumers: space.sources.map((src) => consumerOf(job, src.d, space.fleet)),
    syncTerms: space.memo.syncTerms.get(b) ?? space.memo.syncTerms.set(b, new Map()).get(b)!,
    memo: space.memo,
    stages: space.memo.stages,
    members: space.memo.members.get(b) ?? space.memo.members.set(b, new Map()).get(b)!,
    shapeRadix: shapeRadix(space.types.length),
    step: { airIn: 0, airOut: 0, stageMs: 0, wireMs: 0, radioJ: 0, activeJ: 0, idleJ: 0, stagePeriodMs: 0, groupLimit: 0, ckptMs: 0, ckptJ: 0, idleW: 0 },
    estimate: stepEstimate(space, b),
    ckptEvery: job.training ? checkpointEvery(job) : 0,
    ckptTerms: job.training && checkpointEvery(job) > 0 ? new Float64Array((L + 1) * (L + 1) * T * 2).fill(NaN) : null,
  }
}

/** Training's fast thinning at micro-batch size b (Run.estimate): undefined for inference and the wide search. */
export function stepEstimate(space: SearchSpace, b: number): StepEstimate | undefined {
  const training = space.job.training
  if (!training || !space.fastTraining) return undefined
  const samples = training.microBatchesPerStep * b
  const bound = space.job.qoe.throughputRps
  return { w: (training.microBatchesPerStep - 1) * b, samples, maxStepMs: bound ? (samples * 1000) / bound : Infinity, energyGoal: space.job.goal === 'energy' }
}

export function groupMembers(types: readonly DeviceType[], group: Group, ms: Float64Array): Member[] {
  let rate = 0
  for (const g of group) rate += (g.replicas * 1000) / ms[g.type]!
  return group.map((g) => ({ d: types[g.type]!.rep, t: g.type, ms: ms[g.type]!, share: (g.replicas * 1000) / ms[g.type]! / rate }))
}

/**
 * The all-reduce of stage [i, j) on `group` once per step, spread over its samples: per hop, its
 * air time and radio energy. Devices of a type differ only in id, so the terms depend on the
 * group's shape, not on which devices of each type the plan takes.
 */
function syncTerms(run: Run, i: number, j: number, group: Group, paramBytes: number): Float64Array {
  const { space, b } = run
  const L = space.job.model.layers.length
  let byRange = run.syncTerms.get(group)
  if (!byRange) run.syncTerms.set(group, (byRange = []))
  let terms = byRange[i * (L + 1) + j]
  if (terms) return terms
  const samplesPerStep = space.job.training!.microBatchesPerStep * b
  // allReduceHops (training.ts) on the group's devices, from their types' profiles: a ring over
  // the m replicas, each sending 2(m - 1)/m of the parameters to the next, a transmit hop on the
  // sender and a receive hop on the receiver (never the same device)
  let m = 0
  for (const g of group) m += g.replicas
  const share = (2 * (m - 1) * paramBytes) / m
  const ring: DeviceProfile[] = []
  const air: number[] = []
  for (const g of group) {
    const rep = space.types[g.type]!.rep
    const a = space.air(share, rep) / samplesPerStep
    for (let r = 0; r < g.replicas; r++) { ring.push(rep); air.push(a) }
  }
  terms = new Float64Array(4 * m)
  for (let r = 0; r < m; r++) {
    const n = (r + 1) % m
    terms[4 * r] = air[r]!
    terms[4 * r + 1] = (share * ring[r]!.txJPerByte) / samplesPerStep
    terms[4 * r + 2] = air[n]!
    terms[4 * r + 3] = (share * ring[n]!.rxJPerByte) / samplesPerStep
  }
  byRange[i * (L + 1) + j] = terms
  return terms
}

/** The transfers of a stage's input from the senders of `entry` to its members: air, time off the air and radio energy per request (into step.airIn, wireMs, radioJ). */
function inputTerms(run: Run, entry: Entry, i: number, members: readonly Member[], passes: number, step: Step): void {
  const { space, b } = run
  const T = space.types.length
  const bytesIn = space.job.model.boundaryBytes[i]! * b
  const wireIn = run.wireIn
  const airs = run.airs
  const L1 = space.job.model.layers.length + 1
  let airIn = 0
  let radioJ = 0
  let wireMs = 0
  for (const s of entry.senders) {
    const st = s.t >= 0 ? s.t : T - s.t - 1
    const row = (i * (T + space.sources.length) + st) * T
    for (const m of members) {
      if (s.d?.id === m.d.id) continue
      airIn += (passes * s.share * m.share * (airs[st * L1 + i]! + airs[m.t * L1 + i]!)) / b
      let off = wireIn[row + m.t]!
      if (off !== off) wireIn[row + m.t] = off = space.offAir(bytesIn, s.d, m.d)
      wireMs += passes * s.share * m.share * off
      const radio = (s.d?.txJPerByte ?? 0) + m.d.rxJPerByte + (passes - 1) * (m.d.txJPerByte + (s.d?.rxJPerByte ?? 0))
      radioJ += (s.share * m.share * bytesIn * radio) / b
    }
  }
  step.airIn = airIn
  step.radioJ = radioJ
  step.wireMs = wireMs
}

/**
 * Training: every ckptEvery steps one device of the stage sends the hub its state
 * (checkpointBytes: 3 x the parameters) on its own air hop, and the next step waits behind them
 * (training.ts): their air per step spread over the steps between them, and their radio energy
 * per sample (into step.ckptMs, ckptJ).
 */
function checkpointTerms(run: Run, i: number, j: number, group: Group, paramBytes: number, step: Step): void {
  const { space, b } = run
  const training = space.job.training
  let ckptMs = 0
  let ckptJ = 0
  if (training && run.ckptEvery > 0 && paramBytes > 0) {
    // one replica sends (protocol/checkpoint.ts checkpointSender: the stage's first device, of its
    // first part's type): the terms per range and that type, worked out once per run
    const t = group[0]!.type
    const at = ((i * (space.job.model.layers.length + 1) + j) * space.types.length + t) * 2
    const terms = run.ckptTerms!
    if (terms[at] !== terms[at]) {
      const samplesPerStep = training.microBatchesPerStep * b
      const rep = space.types[t]!.rep
      terms[at] = space.air(3 * paramBytes, rep) / run.ckptEvery
      terms[at + 1] = (3 * paramBytes * rep.txJPerByte) / run.ckptEvery / samplesPerStep
    }
    ckptMs = terms[at]!
    ckptJ = terms[at + 1]!
  }
  step.ckptMs = ckptMs
  step.ckptJ = ckptJ
}

/** The cost of stage [i, j) on `group` after the state `entry`: its transfers in and out, compute, energy (into run.step). */
export function stageStep(run: Run, entry: Entry, i: number, j: number, group: Group, ms: Float64Array, members: readonly Member[], isLocal: boolean): Step {
  const { space, b, table } = run
  const { job, types, sources } = space
  const training = job.training
  // micro-batches per second of the group; each device's share is its own rate over that
  let rate = 0
  let replicaCount = 0
  let groupLimit = Infinity
  let idleW = 0
  for (const g of group) {
    rate += (g.replicas * 1000) / ms[g.type]!
    replicaCount += g.replicas
    const rep = types[g.type]!.rep
    groupLimit = Math.min(groupLimit, space.memoryLimit(rep))
    idleW += g.replicas * rep.idleW
  }
  // local routing: the busiest source sets the stage's rate
  if (isLocal) rate = Math.min(...members.map((m) => 1000 / m.ms / m.share))
  // training sends each boundary's gradient back as well (not the input's)
  const passes = training && i > 0 ? 2 : 1
  const step = run.step
  if (isLocal) step.airIn = step.wireMs = step.radioJ = 0
  else inputTerms(run, entry, i, members, passes, step)
  let airIn = step.airIn
  let radioJ = step.radioJ
  let wireMs = step.wireMs
  // gradient all-reduce among the replicas, once per step, spread over its samples
  const paramBytes = training ? table.paramBytes(i, j) : 0
  if (training && paramBytes > 0 && replicaCount > 1) {
    const terms = syncTerms(run, i, j, group, paramBytes)
    for (let k = 0; k < terms.length; k += 2) {
      airIn += terms[k]!
      radioJ += terms[k + 1]!
    }
  }
  let airOut = 0
  let stageMs = 0
  let activeJ = 0
  const bytesOut = run.outBytes ? run.outBytes[i * (job.model.layers.length + 1) + j]! : 0
  const K = sources.length
  for (const m of members) {
    if (bytesOut > 0) {
      // results go to each request's consumer (routing.ts consumerOf; in a local group the source is its own member)
      const out = run.outTerms!
      for (let k = 0; k < K; k++) {
        const to = run.consumers[k]!
        if (m.d.id === to?.id) continue
        const w = isLocal ? (members[k] === m ? 1 : 0) : m.share * sources[k]!.share
        if (w <= 0) continue
        // the air both ends and the time off it, per range, member type and consumer (a member is its type's representative)
        const at = (((i * (job.model.layers.length + 1) + j) * types.length + m.t) * K + k) * 2
        if (out[at] !== out[at]) {
          out[at] = space.air(bytesOut, m.d) + space.air(bytesOut, to)
          out[at + 1] = space.offAir(bytesOut, m.d, to)
        }
        airOut += (w * out[at]!) / b
        wireMs += w * out[at + 1]!
        radioJ += (w * bytesOut * (m.d.txJPerByte + (to?.rxJPerByte ?? 0))) / b
      }
    }
    stageMs += m.share * m.ms
    activeJ += (m.share * (m.d.activeW - m.d.idleW) * m.ms) / 1000 / b
  }
  // idle power of the stage's devices per request: over 1 / rate (inference); over the
  // stage's own period per sample at least (training, whose step time is not known yet)
  const idleJ = training ? (idleW * (1 / rate)) / b : idleW / job.rateRps
  checkpointTerms(run, i, j, group, paramBytes, step)
  step.idleW = idleW
  step.airIn = airIn
  step.airOut = airOut
  step.stageMs = stageMs
  step.wireMs = wireMs
  step.radioJ = radioJ
  step.activeJ = activeJ
  step.idleJ = idleJ
  step.stagePeriodMs = 1000 / rate / b
  step.groupLimit = groupLimit
  return step
}

/** The single-type groups of type t, one per replica degree, shared (groups are immutable). */
const SINGLE_GROUPS: Group[][] = []
export function singleGroups(t: number): Group[] {
  return (SINGLE_GROUPS[t] ??= REPLICAS.map((replicas) => [{ type: t, replicas }]))
}

/** A mixed group's shape as a number: its parts' digits type x 5 + replicas in base `radix` (Run.shapeRadix; 0: not exact, a string instead). */
function shapeRadix(types: number): number {
  const radix = 5 * types + 5
  return radix ** 4 >= Number.MAX_SAFE_INTEGER ? 0 : radix
}
