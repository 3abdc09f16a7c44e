/**
 * Dora's heterogeneity-aware partitioner. Pure.
 *
 * Devices with identical profiles form a type (as in PipeEdge's DP). A plan is a sequence of
 * stages; stage k takes layers [i, j) on r devices of one type (r > 1: replicas sharing its
 * requests). Dynamic programming over states (layers done i, devices used per type, type of the
 * last stage) keeps, per state, a Pareto set of partial plans over four objectives:
 * pipeline period so far (slowest stage), latency so far (compute + transfers), energy so far
 * (idle + active compute + radio) and air time per request (the shared Wi-Fi, which bounds the period
 * too). Sets are thinned to `frontSize` points (extremes kept), so the search is
 * O(L^2 x T x R x states x frontSize) for L layers, T types, R replication degrees.
 *
 * Complete plans are then costed exactly (cost.ts: queueing, contention, idle power, memory),
 * non-compliant ones dropped, and the compliant ones thinned into a small Pareto front over
 * (goal metric, energy). "No feasible plan" is a result with the reasons of the closest plans.
 */
import { boundGap, compliance, DEFAULT_UTILISATION_CAP, distanceToBounds, predict } from './cost.js'
import { jobSources, outputBytesOf, type Fleet, type Network, type Compliance, type DeviceProfile, type Job, type Plan, type Prediction, type Stage } from './types.js'
import { StageTable } from './stage-table.js'
import { soloAirtimeS } from './network/wifi.js'
import { DEFAULT_TRANSPORT, framedBytes, relayS, wiredHopS } from './network/transport.js'
import { allReduceHops } from './training.js'

export interface PartitionOptions {
  readonly network: Network
  readonly maxStages?: number
  /** Micro-batch sizes to try (default: 1, and also 2, 4, 8 for a throughput goal). */
  readonly microBatches?: readonly number[]
  /** Points kept per DP state. */
  readonly frontSize?: number
  /** Partial plans expanded per layer boundary (beam): the Pareto-best across all usage states, each
   * objective's best kept; bounds the search where usage states multiply (product of devices per type + 1). */
  readonly beamWidth?: number
  /** Plans returned at most. */
  readonly maxPlans?: number
  /** false: the search before issue 18 (beam 24, 8 points per state; now 12 and 4: BENCHMARKS.md). */
  readonly fast?: boolean
}

export interface PlanCandidate {
  readonly plan: Plan
  readonly prediction: Prediction
  readonly compliance: Compliance
}

export type PartitionResult =
  | { readonly ok: true; readonly candidates: readonly PlanCandidate[]; readonly chosen: PlanCandidate; readonly explored: number }
  | { readonly ok: false; readonly reasons: readonly string[]; readonly closest: readonly PlanCandidate[]; readonly explored: number }

interface DeviceType {
  readonly index: number
  readonly ids: readonly string[]
  readonly rep: DeviceProfile
}

/** Devices of one stage: r devices of each listed type (several types: heterogeneous replicas). */
type Group = ReadonlyArray<{ readonly type: number; readonly replicas: number }>

/** Who sent the previous stage's output, with the share of micro-batches each type sends. */
type Senders = ReadonlyArray<{ readonly d: DeviceProfile | null; readonly t: number; readonly share: number }>

interface Label {
  periodMs: number
  latencyMs: number
  energyJ: number
  airMs: number
  stage: { layers: [number, number]; group: Group } | null
  parent: Label | null
  depth: number
}

const REPLICAS = [1, 2, 3, 4, 8, 16, 32, 64]

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

function dominates(a: Label, b: Label): boolean {
  return a.periodMs <= b.periodMs && a.latencyMs <= b.latencyMs && a.energyJ <= b.energyJ && a.airMs <= b.airMs &&
    (a.periodMs < b.periodMs || a.latencyMs < b.latencyMs || a.energyJ < b.energyJ || a.airMs < b.airMs)
}

/** True when a label of the set is at least as good on every objective (the new one adds nothing). */
function covered(set: readonly Label[], periodMs: number, latencyMs: number, energyJ: number, airMs: number): boolean {
  for (const x of set) if (x.periodMs <= periodMs && x.latencyMs <= latencyMs && x.energyJ <= energyJ && x.airMs <= airMs) return true
  return false
}

/** Inserts into a Pareto set; thins to `size` keeping each objective's best and an even spread by latency. */
function insert(set: Label[], label: Label, size: number): void {
  for (const x of set) if (dominates(x, label) || (x.periodMs === label.periodMs && x.latencyMs === label.latencyMs && x.energyJ === label.energyJ && x.airMs === label.airMs)) return
  for (let i = set.length - 1; i >= 0; i--) if (dominates(label, set[i]!)) set.splice(i, 1)
  set.push(label)
  if (set.length > size) {
    const keep = new Set<Label>()
    for (const key of ['periodMs', 'latencyMs', 'energyJ', 'airMs'] as const) keep.add(set.reduce((a, b) => (b[key] < a[key] ? b : a)))
    const byLatency = [...set].sort((a, b) => a.latencyMs - b.latencyMs)
    for (let k = 0; keep.size < size && k < byLatency.length; k++) keep.add(byLatency[Math.round((k * (byLatency.length - 1)) / Math.max(1, size - 1))]!)
    set.splice(0, set.length, ...[...set].filter((x) => keep.has(x)))
  }
}

export function partition(job: Job, fleet: Fleet, options: PartitionOptions): PartitionResult {
  const usable = [...fleet.devices.values()].filter((d) => !d.battery || d.battery.levelPct >= d.battery.minPct)
  // each source device is a type of its own: a stage on it receives its input without the air
  const sources = jobSources(job).map((x) => ({ d: x.device ? fleet.devices.get(x.device) ?? null : null, share: x.share }))
  const types = sourceFirstTypes(usable, sources.map((x) => x.d?.id ?? null))
  // a source's type, or -(k + 1) for source k when it is the hub or holds no stage (battery cap)
  const sourceTypes = sources.map((x, k) => {
    const t = types.findIndex((ty) => ty.ids.length === 1 && ty.ids[0] === x.d?.id)
    return t >= 0 ? t : -(k + 1)
  })
  // radix[t]: place value of type t in the mixed-radix code of per-type device counts
  const radix: number[] = []
  types.forEach((t, k) => radix.push(k === 0 ? 1 : radix[k - 1]! * (types[k - 1]!.ids.length + 1)))
  const localGroup: Group | null = sources.length > 1 && sourceTypes.every((t) => t >= 0) ? sourceTypes.map((type) => ({ type, replicas: 1 })) : null
  // numeric state keys while they stay exact integers (always, short of hundreds of kinds)
  const numericKeys = types.length < 120 && (radix[types.length - 1] ?? 1) * ((types[types.length - 1]?.ids.length ?? 0) + 1) * 1024 < Number.MAX_SAFE_INTEGER
  const L = job.model.layers.length
  const maxStages = Math.min(options.maxStages ?? 8, L)
  const frontSize = options.frontSize ?? (options.fast === false ? 8 : 4)
  const beamWidth = options.beamWidth ?? (options.fast === false ? 24 : 12)
  const microBatches = options.microBatches ?? (job.goal === 'throughput' ? [1, 4] : [1])
  const net = options.network
  const transport = net.transport ?? DEFAULT_TRANSPORT
  const air = (bytes: number, d: DeviceProfile | null) => (d?.linkRateBps ? (soloAirtimeS(net.standard, framedBytes(bytes, transport), d.linkRateBps) * 1000) / net.availableAirtime : 0)
  // time off the air of one transfer between two endpoints: wired hops and the broker's relay, ms
  const offAir = (bytes: number, a: DeviceProfile | null, z: DeviceProfile | null) =>
    bytes <= 0 || (!a && !z) ? 0 : (relayS(bytes, transport) + (a && !a.linkRateBps ? wiredHopS(bytes, transport) : 0) + (z && !z.linkRateBps ? wiredHopS(bytes, transport) : 0)) * 1000
  const memoryLimit = (d: DeviceProfile) => d.memoryBytes * (job.qoe.memoryFraction ?? 0.8)
  const training = job.training
  let explored = 0
  // Labels only grow along a plan and each is a lower bound of what the cost model will predict
  // (no queueing yet), so a partial plan already past a bound can never comply: drop it early.
  const q = job.qoe
  const minRate = training ? q.throughputRps : Math.max(job.rateRps, q.throughputRps ?? 0)
  // inference plans keep every resource under the utilisation cap at the offered load
  const busyCap = training ? 1 : (q.utilisationCap ?? DEFAULT_UTILISATION_CAP)
  const withinBounds = (periodMs: number, latencyMs: number, energyJ: number) =>
    (minRate === undefined || periodMs * minRate < 1000 * busyCap) &&
    (q.energyJPerRequest === undefined || energyJ <= q.energyJPerRequest) &&
    (training !== undefined || q.latencyMs === undefined || latencyMs <= q.latencyMs)

  // Training: 1F1B stashes min(S - k, M) micro-batches on stage k of S, so the memory a stage needs
  // depends on how many stages follow it; the DP runs once per stage count S and keeps plans of
  // exactly S stages. Inference: one run, up to maxStages stages.
  const stageCounts = training ? Array.from({ length: maxStages }, (_, k) => k + 1) : [maxStages]
  // A search with the early pruning by bounds; when nothing complies, one without it, so that the
  // closest plans and their reasons can be reported.
  const explore = (prune: boolean): PlanCandidate[] => {
    const complete: Array<{ label: Label; microBatch: number }> = []
    for (const S of stageCounts) for (const b of microBatches) {
      const stash = (depth: number) => (training ? Math.min(S - depth, training.microBatchesPerStep) : 1)
      const table = new StageTable(job)
      // air time of boundary i's bytes to or from a device of type t (the source: its own type)
      const airTable = types.map((t) => job.model.boundaryBytes.map((bytes) => air(bytes * b, t.rep)))
      const sourceAirs = sources.map((x) => job.model.boundaryBytes.map((bytes) => air(bytes * b, x.d)))
      // one replica type takes all of the stage's micro-batches: its member record, cached per (type, time)
      const memberCache = types.map(() => new Map<number, Array<{ d: DeviceProfile; t: number; ms: number; share: number }>>())
      const singleMember = (t: number, stageMs: number) => {
        let m = memberCache[t]!.get(stageMs)
        if (!m) memberCache[t]!.set(stageMs, (m = [{ d: types[t]!.rep, t, ms: stageMs, share: 1 }]))
        return m
      }
      const airAt = (t: number, i: number) => (t < 0 ? sourceAirs[-t - 1]![i]! : airTable[t]![i]!)
      const samplesPerStep = training ? training.microBatchesPerStep * b : 1
      // states[i]: key "counts|senders" -> Pareto set of labels that have placed layers [0, i)
      const states: Array<Map<number | string, { counts: number[]; code: number; senders: Senders; set: Label[] }>> = Array.from({ length: L + 1 }, () => new Map())
      states[0]!.set(-1, { counts: types.map(() => 0), code: 0, senders: sources.map((x, k) => ({ d: x.d, t: sourceTypes[k]!, share: x.share })), set: [{ periodMs: 0, latencyMs: 0, energyJ: 0, airMs: 0, stage: null, parent: null, depth: 0 }] })
      for (let i = 0; i < L; i++) {
        for (const { counts, code, senders, set } of beam(states[i]!, beamWidth)) {
          const bytesIn = job.model.boundaryBytes[i]! * b
          for (let j = i + 1; j <= L; j++) {
            const minBytes = table.memoryBytes(i, j, b, 1)
            const fits = types.filter((t) => t.ids.length > counts[t.index]! && minBytes <= memoryLimit(t.rep))
            if (!fits.length) continue
            const ms = new Map(fits.map((t) => [t.index, table.computeMs(t.rep, i, j, b)]))
            const paramBytes = training ? table.paramBytes(i, j) : 0
            const groups = candidateGroups(fits, counts, ms)
            // several sources that can all hold stage 0: each runs it on its own requests
            const local = i === 0 && localGroup && localGroup.every((g) => fits.some((t) => t.index === g.type)) ? localGroup : null
            if (local) groups.push(local)
            for (const group of groups) {
              explored++
              // micro-batches per second of the group; each device's share is its own rate over that
              let rate = 0
              let replicaCount = 0
              let groupLimit = Infinity
              let idleW = 0
              for (const g of group) {
                rate += (g.replicas * 1000) / ms.get(g.type)!
                replicaCount += g.replicas
                const rep = types[g.type]!.rep
                groupLimit = Math.min(groupLimit, memoryLimit(rep))
                idleW += g.replicas * rep.idleW
              }
              const members = group === local
                ? group.map((g, k) => ({ d: types[g.type]!.rep, t: g.type, ms: ms.get(g.type)!, share: sources[k]!.share }))
                : group.length === 1 ? singleMember(group[0]!.type, ms.get(group[0]!.type)!) : group.map((g) => ({ d: types[g.type]!.rep, t: g.type, ms: ms.get(g.type)!, share: (g.replicas * 1000) / ms.get(g.type)! / rate }))
              // local routing: the busiest source sets the stage's rate
              if (group === local) rate = Math.min(...members.map((m) => 1000 / m.ms / m.share))
              // training sends each boundary's gradient back as well (not the input's)
              const passes = training && i > 0 ? 2 : 1
              let airIn = 0
              let radioJ = 0
              let wireMs = 0
              for (const s of group === local ? [] : senders) {
                for (const m of members) {
                  if (s.d?.id === m.d.id) continue
                  airIn += (passes * s.share * m.share * (airAt(s.t, i) + airAt(m.t, i))) / b
                  wireMs += passes * s.share * m.share * offAir(bytesIn, s.d, m.d)
                  const radio = (s.d?.txJPerByte ?? 0) + m.d.rxJPerByte + (passes - 1) * (m.d.txJPerByte + (s.d?.rxJPerByte ?? 0))
                  radioJ += (s.share * m.share * bytesIn * radio) / b
                }
              }
              // gradient all-reduce among the replicas, once per step, spread over its samples
              if (paramBytes > 0 && replicaCount > 1) {
                const replicas = group.flatMap((g) => types[g.type]!.ids.slice(counts[g.type]!, counts[g.type]! + g.replicas).map((id) => fleet.devices.get(id)!))
                for (const h of allReduceHops(replicas, paramBytes)) {
                  const d = fleet.devices.get((h.txDevice ?? h.rxDevice)!)!
                  airIn += air(h.bytes, d) / samplesPerStep
                  radioJ += (h.bytes * (h.txDevice ? d.txJPerByte : d.rxJPerByte)) / samplesPerStep
                }
              }
              let airOut = 0
              let stageMs = 0
              let activeJ = 0
              const bytesOut = !training ? outputBytesOf(job.model, [i, j]) * b : 0
              for (const m of members) {
                if (bytesOut > 0) {
                  // results go back to the source of each request (in a local group: its own member)
                  for (const [k, src] of sources.entries()) {
                    if (m.d.id === src.d?.id) continue
                    const w = group === local ? (members[k] === m ? 1 : 0) : m.share * src.share
                    if (w <= 0) continue
                    airOut += (w * (air(bytesOut, m.d) + air(bytesOut, src.d))) / b
                    wireMs += w * offAir(bytesOut, m.d, src.d)
                    radioJ += (w * bytesOut * (m.d.txJPerByte + (src.d?.rxJPerByte ?? 0))) / b
                  }
                }
                stageMs += m.share * m.ms
                activeJ += (m.share * (m.d.activeW - m.d.idleW) * m.ms) / 1000 / b
              }
              // idle power of the stage's devices per request: over 1 / rate (inference); over the
              // stage's own period per sample at least (training, whose step time is not known yet)
              const idleJ = training ? (idleW * (1 / rate)) / b : idleW / job.rateRps
              const stagePeriodMs = 1000 / rate / b
              let key: number | string | null = null
              let nc = 0
              for (const label of set) {
                if (label.depth >= S) continue
                if (training && (j === L) !== (label.depth + 1 === S)) continue
                if (training && table.memoryBytes(i, j, b, stash(label.depth)) > groupLimit) continue
                const airMs = label.airMs + airIn + airOut
                const periodMs = Math.max(label.periodMs, stagePeriodMs, airMs)
                const latencyMs = label.latencyMs + stageMs + (airIn + airOut) * b + wireMs
                const energyJ = label.energyJ + activeJ + radioJ + idleJ
                if (prune && !withinBounds(periodMs, latencyMs, energyJ)) continue
                if (key === null) {
                  // the devices used per type, as one mixed-radix number, and the group's shape
                  nc = code
                  for (const g of group) nc += g.replicas * radix[g.type]!
                  key = group.length === 1 && numericKeys ? nc * 1024 + group[0]!.type * REPLICAS.length + REPLICAS.indexOf(group[0]!.replicas) : `${numericKeys ? nc : counts.map((c, t) => c + group.reduce((x, g) => x + (g.type === t ? g.replicas : 0), 0)).join(',')}|${group.map((g) => `${g.type}x${g.replicas}`).join('+')}`
                }
                let entry = states[j]!.get(key)
                // most new labels are dominated: test before allocating one
                if (entry && covered(entry.set, periodMs, latencyMs, energyJ, airMs)) continue
                if (!entry) {
                  const ncounts = counts.slice()
                  for (const g of group) ncounts[g.type]! += g.replicas
                  states[j]!.set(key, (entry = { counts: ncounts, code: nc, senders: members.map((m) => ({ d: m.d, t: m.t, share: m.share })), set: [] }))
                }
                insert(entry.set, { periodMs, latencyMs, energyJ, airMs, stage: { layers: [i, j], group }, parent: label, depth: label.depth + 1 }, frontSize)
              }
            }
          }
        }
      }
      // exact costing is dearer than the DP: cost only the best complete plans across all states
      for (const entry of beam(states[L]!, 4 * beamWidth)) for (const label of entry.set) complete.push({ label, microBatch: b })
    }

    // Concrete plans, exactly costed.
    const candidates: PlanCandidate[] = []
    complete.forEach(({ label, microBatch }, n) => {
      const stagesRev: Array<{ layers: [number, number]; group: Group }> = []
      for (let l: Label | null = label; l && l.stage; l = l.parent) stagesRev.push(l.stage)
      const taken = types.map(() => 0)
      const stages: Stage[] = stagesRev.reverse().map((s) => ({
        layers: s.layers,
        devices: s.group.flatMap((g) => {
          const ids = types[g.type]!.ids.slice(taken[g.type]!, taken[g.type]! + g.replicas)
          taken[g.type]! += g.replicas
          return ids
        }),
      }))
      const plan: Plan = { id: `dora-${n}`, stages, microBatch, planner: 'dora' }
      const prediction = predict(plan, job, fleet, net)
      candidates.push({ plan, prediction, compliance: compliance(job, fleet, prediction) })
    })
    return candidates
  }
  let candidates = explore(true)
  if (!candidates.some((c) => c.compliance.compliant)) candidates = explore(false)

  const goalValue = (c: PlanCandidate) =>
    job.goal === 'throughput' ? -c.prediction.capacityRps : job.goal === 'energy' ? c.prediction.energyJPerRequest : c.prediction.latencyMs
  const compliant = candidates.filter((c) => c.compliance.compliant)
  if (compliant.length === 0) {
    // closest first: the least summed gap to the bounds, each relative to its limit
    const closest = [...candidates].sort((a, b) => distanceToBounds(a.compliance) - distanceToBounds(b.compliance) || goalValue(a) - goalValue(b)).slice(0, 3)
    const reasons = closest.length
      ? closest[0]!.compliance.violations.map((v) => `${v.bound}${v.device ? ` on ${v.device}` : ''}: predicted ${fmt(v.predicted)}, bound ${fmt(v.limit)} (${Number.isFinite(v.predicted) ? `${(boundGap(v) * 100).toFixed(0)}% off` : 'unbounded'})`)
      : [usable.length === 0 ? 'no usable device (all excluded by battery caps)' : 'no device can hold any stage within its memory bound']
    return { ok: false, reasons, closest, explored }
  }
  // the front runs along speed (latency, or capacity for a throughput goal) against energy, whatever
  // the goal: the adapter mixes its plans; the goal only picks the chosen one
  const speed = (c: PlanCandidate) => (job.goal === 'throughput' ? -c.prediction.capacityRps : c.prediction.latencyMs)
  const front = paretoFront(compliant, speed, options.maxPlans ?? 6, job.goal === 'throughput').map((c, k) => ({ ...c, plan: { ...c.plan, id: `dora-${k}` } }))
  const chosen = front.reduce((a, b) => (goalValue(b) < goalValue(a) ? b : a))
  return { ok: true, candidates: front, chosen, explored }
}

/** Device types (deviceTypes) with each source device split off as a type of its own. */
export function sourceFirstTypes(devices: readonly DeviceProfile[], sources: ReadonlyArray<string | null>): DeviceType[] {
  const types = deviceTypes(devices.filter((d) => !sources.includes(d.id)))
  for (const d of devices) if (sources.includes(d.id)) types.push({ index: types.length, ids: [d.id], rep: d })
  return types
}

/**
 * The partial plans to expand at one boundary: every state's labels pooled, the non-dominated
 * ones kept (each objective's best first, then an even spread by latency), at most `width`.
 */
function beam<E extends { set: Label[] }>(states: ReadonlyMap<number | string, E>, width: number): E[] {
  const pooled: Array<{ entry: E; label: Label }> = []
  for (const entry of states.values()) for (const label of entry.set) pooled.push({ entry, label })
  if (pooled.length <= width) return [...states.values()]
  // skyline: in latency order a label can only be dominated by one before it, and then by one of
  // the front already found (domination is transitive), so each is tested against the front only
  pooled.sort((a, b) => a.label.latencyMs - b.label.latencyMs || a.label.periodMs - b.label.periodMs || a.label.energyJ - b.label.energyJ || a.label.airMs - b.label.airMs)
  const front: typeof pooled = []
  for (const p of pooled) if (!front.some((q) => dominates(q.label, p.label))) front.push(p)
  const keep = new Set<(typeof pooled)[number]>()
  for (const key of ['periodMs', 'latencyMs', 'energyJ', 'airMs'] as const) keep.add(front.reduce((a, b) => (b.label[key] < a.label[key] ? b : a)))
  const rest = (front.length >= width ? front : pooled).slice().sort((a, b) => a.label.latencyMs - b.label.latencyMs)
  for (let k = 0; keep.size < width && k < width; k++) keep.add(rest[Math.round((k * (rest.length - 1)) / Math.max(1, width - 1))]!)
  for (let k = 0; keep.size < width && k < rest.length; k++) keep.add(rest[k]!)
  const byEntry = new Map<E, Label[]>()
  for (const p of keep) byEntry.set(p.entry, [...(byEntry.get(p.entry) ?? []), p.label])
  return [...byEntry].map(([entry, labels]) => ({ ...entry, set: labels }))
}

/** The single-type groups of type t, one per replica degree, shared (groups are immutable). */
const SINGLE_GROUPS: Group[][] = []
function singleGroups(t: number): Group[] {
  return (SINGLE_GROUPS[t] ??= REPLICAS.map((replicas) => [{ type: t, replicas }]))
}

/**
 * Replica groups for one stage: r devices of a single type (r from REPLICAS), and mixed groups of
 * the k fastest available devices across types (k = 2 .. 4), which a heterogeneous fleet needs
 * to spread a heavy stage.
 */
function candidateGroups(fits: readonly DeviceType[], counts: readonly number[], ms: ReadonlyMap<number, number>): Group[] {
  const groups: Group[] = []
  for (const t of fits) {
    const avail = t.ids.length - counts[t.index]!
    const singles = singleGroups(t.index)
    for (let k = 0; k < REPLICAS.length && REPLICAS[k]! <= avail; k++) groups.push(singles[k]!)
  }
  if (fits.length > 1) {
    const bySpeed = [...fits].sort((a, b) => ms.get(a.index)! - ms.get(b.index)!)
    const pool: number[] = bySpeed.flatMap((t) => Array<number>(Math.min(4, t.ids.length - counts[t.index]!)).fill(t.index))
    for (let k = 2; k <= Math.min(4, pool.length); k++) {
      const picked = pool.slice(0, k)
      const distinct = [...new Set(picked)]
      if (distinct.length < 2) continue
      groups.push(distinct.map((type) => ({ type, replicas: picked.filter((x) => x === type).length })))
    }
  }
  return groups
}

/**
 * Plans no other compliant plan dominates (at least as fast, as frugal and, for a throughput goal,
 * of as much capacity, better on one), in order of `speed`, thinned evenly to `max` (extremes kept).
 */
function paretoFront(cs: readonly PlanCandidate[], speed: (c: PlanCandidate) => number, max: number, withCapacity: boolean): PlanCandidate[] {
  const sorted = [...cs].sort((a, b) => speed(a) - speed(b) || a.prediction.energyJPerRequest - b.prediction.energyJPerRequest)
  const front = sorted.filter((c) => !cs.some((o) => o !== c && dominatesPlan(o, c, withCapacity)))
  // equal plans (same figures) once
  const unique = front.filter((c, k) => front.findIndex((o) => sameFigures(o, c)) === k)
  if (unique.length <= max) return unique
  return Array.from({ length: max }, (_, k) => unique[Math.round((k * (unique.length - 1)) / (max - 1))]!).filter((c, k, arr) => arr.indexOf(c) === k)
}

function sameFigures(a: PlanCandidate, b: PlanCandidate): boolean {
  return a.prediction.latencyMs === b.prediction.latencyMs && a.prediction.energyJPerRequest === b.prediction.energyJPerRequest && a.prediction.capacityRps === b.prediction.capacityRps
}

/** True when plan a is at least as good as b on latency and energy (and capacity), and better on one. */
export function dominatesPlan(a: PlanCandidate, b: PlanCandidate, withCapacity = false): boolean {
  const x = a.prediction
  const y = b.prediction
  const le = x.latencyMs <= y.latencyMs && x.energyJPerRequest <= y.energyJPerRequest && (!withCapacity || x.capacityRps >= y.capacityRps)
  const lt = x.latencyMs < y.latencyMs || x.energyJPerRequest < y.energyJPerRequest || (withCapacity && x.capacityRps > y.capacityRps)
  return le && lt
}

function fmt(x: number): string {
  return Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3)) : 'unbounded'
}
