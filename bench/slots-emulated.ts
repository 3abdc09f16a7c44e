/**
 * Coordinated against uncoordinated transfers on the emulated Wi-Fi (issue 15 § Show it),
 * EMULATION: a scenario's requests, as its plan routes them, cross a real Aedes broker through
 * the emulated Wi-Fi proxy (every station paced at its link rate, sharing the air per the DCF
 * model), as real MQTT tensor chunks of the real sizes (uint8 frames, activations, decoded
 * results). Stages are emulated as the devices dilate them: each device computes one micro-batch
 * at a time for the planner's profile time, without running onnxruntime (the transfers are what
 * coordination changes; the compute is the profile's either way). Every time is stretched by the
 * clock factor K and reported in profile time (wall / K).
 *
 * Coordinated: the mode the planner predicts fastest (chooseTransferMode): in slots, each camera
 * captures at its next turn (runtime/turn-clock.ts) and every transfer a device sends waits for
 * its next slot toward the receiver (runtime/slot-gate.ts, as the executor does); with grants,
 * each transfer a device sends asks the hub's grant desk first (hub/air-grants.ts,
 * runtime/air-grants.ts). Uncoordinated: every frame is captured at its clock's tick and every
 * transfer goes at once.
 *
 * Phase draws. Free-running cameras hold no fixed relative phase: each frame clock has its own
 * crystal (tens of ppm) and the deployment's phases are random, so over hours the phases sweep
 * through every value, while within a run of seconds they stay put. Periodic sources at fixed
 * phases either collide on every frame or never, so one run at one phase draw is one sample of
 * a random variable (issue 15: traffic p95 0.74x in one round, 1.00x in the next). A run here is
 * a sequence of blocks, each one phase draw: every source's clock restarts at the draw's phases
 * for one hyperperiod of the sources' periods (every relative position the draw's phases give
 * occurs in it), then a quiet gap lets the block's frames finish, so blocks are independent. The
 * draws are a randomised quasi-Monte Carlo sample of uniform phases (the R_d sequence, Roberts
 * 2018, under a seeded random shift: each draw is uniform, and the draws cover the phase space
 * evenly, which a p95 over a few dozen draws needs). Coordinated and uncoordinated runs take the
 * same draws (A/B, interleaved by round). The hub's requests (smart home) are Poisson, seeded per
 * draw, as the demo sends them.
 */
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { Aedes } from 'aedes'
import mqtt, { type MqttClient } from 'mqtt'
import { planningInputs, readScenario, type PlanningInputs } from '../src/scenario/load.js'
import { partition } from '../src/planner/partition.js'
import { predict, stageComputeMs } from '../src/planner/cost.js'
import { chooseTransferMode, predictionOf, type ModePrediction } from '../src/planner/adapt/transfer-mode.js'
import { planRouting } from '../src/planner/routing.js'
import { jobSources, outputBytesOf, type DeviceProfile, type Plan } from '../src/planner/types.js'
import type { Schedule } from '../src/planner/network/scheduler.js'
import { WifiProxy } from '../src/emulation/wifi-proxy.js'
import { DoraClient } from '../src/mqtt/client.js'
import { serveGrants } from '../src/hub/air-grants.js'
import { AirGrants, linkAirMs } from '../src/runtime/air-grants.js'
import { SlotGate } from '../src/runtime/slot-gate.js'
import { TurnClock } from '../src/runtime/turn-clock.js'
import { WeightedTurns } from '../src/runtime/route.js'
import { encodeTensorChunks, type Hop } from '../src/protocol/chunks.js'
import { decodeTensorMessage } from '../src/protocol/chunk-batch.js'
import { Reassembler } from '../src/protocol/reassembly.js'
import { HUB_SOURCE, topics } from '../src/protocol/topics.js'
import { meanAndP95 } from '../src/shared/stats.js'
import { seededRandom } from '../src/shared/random.js'

export interface EmulatedRun {
  scenario: string
  coordinated: boolean
  /** How transfers went: the planner's mode, or at once (uncoordinated). */
  mode: string
  round: number
  timeScale: number
  frames: number
  completed: number
  meanMs: number
  p95Ms: number
  /** Each measured phase draw of the run: its index, frames sent and answered, and their latencies (profile ms). */
  draws: Array<{ draw: number; frames: number; latenciesMs: number[] }>
  predicted: ModePrediction
  /** Grants: mean round trip measured by the devices, ms of profile time. */
  grantRttMs: number | null
  /** Slots: the sources' frames' mean and largest wait at their slot gate, ms of profile time (0: captured at their turns). */
  frameGateWaitMs: { mean: number; max: number } | null
}

const CHUNK = 256 * 1024
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)))

interface Station {
  readonly id: string
  readonly profile: DeviceProfile | null
  readonly client: MqttClient
  readonly gate: SlotGate
  readonly air: AirGrants | null
  busyUntil: number
}

/** A scenario's inputs and Dora's plan for them, its sources' rates times `load` (as `dora demo --load`). */
async function scenarioPlan(name: string, load = 1): Promise<PlanningInputs & { plan: Plan }> {
  const file = fileURLToPath(new URL(`../config/scenarios/${name}.yaml`, import.meta.url))
  const sc = await readScenario(file)
  const j = sc.job
  const job = load === 1 ? j : {
    ...j,
    ...(j.rateRps !== undefined ? { rateRps: j.rateRps * load } : {}),
    ...(j.sources ? { sources: j.sources.map((x) => ({ ...x, rateRps: x.rateRps * load })) } : {}),
    qoe: { ...j.qoe, ...(j.qoe.throughputRps !== undefined ? { throughputRps: j.qoe.throughputRps * load } : {}) },
  }
  const inputs = await planningInputs(file, { ...sc, job })
  const res = partition(inputs.job, inputs.fleet, { network: inputs.network })
  if (!res.ok) throw new Error(`${name}: no plan`)
  return { ...inputs, plan: res.chosen.plan }
}

type Setup = PlanningInputs & { plan: Plan; K: number; activateAtMs: number; mode: 'slots' | 'grants' | 'at-once'; schedule: Schedule | null }

/** The emulated fleet of one run: broker, Wi-Fi proxy, the hub's grant desk, one MQTT station per device, and the requests in flight. */
class EmulatedFleet {
  readonly stations = new Map<string, Station>()
  /** Answered requests: phase draw and latency (profile ms). */
  readonly latencies: Array<{ draw: number; ms: number }> = []
  /** Requests sent per phase draw. */
  readonly sent = new Map<number, number>()
  /** Each source's own first transfer of a request (its frame, or stage 0's output when it runs stage 0): its wait at the slot gate (profile ms). */
  readonly frameGateWaitsMs: number[] = []
  outstanding = 0
  private readonly drawOf = new Map<string, number>()
  private onDone: (() => void) | null = null
  private readonly consumers = new Map<string, string>()
  private readonly reassembler = new Reassembler({ timeoutMs: 600_000, maxTensorBytes: 2 ** 28, maxPendingBytes: 2 ** 30 })
  private readonly closers: Array<() => Promise<void>> = []

  constructor(private readonly x: Setup) {}

  async open(): Promise<void> {
    const { job, fleet, network, plan, K, mode } = this.x
    const aedes = await Aedes.createBroker()
    const server = net.createServer(aedes.handle)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    this.closers.push(() => new Promise<void>((r) => aedes.close(() => r())), () => new Promise<void>((r) => server.close(() => r())))
    const brokerPort = (server.address() as net.AddressInfo).port
    const proxy = new WifiProxy({ brokerHost: '127.0.0.1', brokerPort, standard: network.standard, availableAirtime: network.availableAirtime, timeScale: K })
    this.closers.unshift(() => proxy.close())
    const hub = new DoraClient({ url: `mqtt://127.0.0.1:${brokerPort}`, clientId: 'bench-grant-desk', maxInflight: 64, publishTimeoutMs: 60_000 })
    await hub.start()
    const desk = await serveGrants(hub, Date.now, () => undefined)
    this.closers.unshift(async () => desk.stop(), () => hub.stop(false))
    const ids = new Set<string>([...plan.stages.flatMap((s) => s.devices), ...jobSources(job).map((s) => s.device ?? HUB_SOURCE), HUB_SOURCE])
    for (const id of ids) {
      const profile = fleet.devices.get(id) ?? null
      const rate = profile?.linkRateBps ?? null
      // the hub sits beside the broker; a wired device has its own link
      const port = id === HUB_SOURCE ? brokerPort : await proxy.addStation(id, rate ?? 1e9, { wired: rate === null })
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `bench-station-${id}`, reconnectPeriod: 0 })
      const air = mode === 'grants' && profile && rate !== null
        ? new AirGrants({ deviceId: id, clock: Date.now, timeoutMs: 60_000, estimateMs: (b) => linkAirMs(b, rate, K), publish: async (t, p, qos) => void (await client.publishAsync(t, p, { qos })) })
        : null
      this.stations.set(id, { id, profile, client, gate: new SlotGate(), air, busyUntil: 0 })
      this.closers.unshift(async () => {
        air?.stop()
        await client.endAsync(true).catch(() => undefined)
      })
      client.on('message', (topic, payload) => this.onMessage(id, topic, payload))
      await client.subscribeAsync([topics.tensors(job.id, id), topics.device(id, 'grant')], { qos: 1 })
    }
  }

  async close(): Promise<void> {
    // each part gets 5 s to close (a socket that never ends must not hold the next run)
    for (const c of this.closers) await Promise.race([c().catch(() => undefined), sleep(5000)])
  }

  /** Resolves once every request in flight is answered, or after `ms`. */
  async drain(ms: number): Promise<void> {
    if (this.outstanding > 0) await Promise.race([new Promise<void>((r) => (this.onDone = r)), sleep(ms)])
  }

  private onMessage(id: string, topic: string, payload: Buffer): void {
    const st = this.stations.get(id)!
    if (topic === topics.device(id, 'grant')) return st.air?.onGrant(payload)
    const m = decodeTensorMessage(payload)
    if (!m.ok) return
    for (const c of m.chunks) {
      if (!c.ok) continue
      const r = this.reassembler.add(c.chunk, Date.now(), id)
      if (r.status === 'complete' && r.tensor.hop) this.arrived(id, r.tensor.name, r.tensor.hop, r.tensor.req)
    }
  }

  /** A request leaves its source: its stage-0 input goes to the first replica (or stays, when the source runs it). */
  request(src: string, consumer: string, route: string[], req: string, draw: number): void {
    const hop: Hop = { src, plan: this.x.plan.id, stage: 0, route, t0: Date.now() }
    this.consumers.set(req, consumer)
    this.drawOf.set(req, draw)
    this.sent.set(draw, (this.sent.get(draw) ?? 0) + 1)
    this.outstanding++
    if (route[0] === src) this.arrived(src, 'input', hop, req)
    else void this.send(src, route[0]!, 'input', this.x.plan.microBatch * this.x.job.model.boundaryBytes[0]!, hop, req).catch(() => undefined)
  }

  /** Sends `bytes` from one station to another as the mode says: in the sender's next slot toward the receiver, with a grant, or at once. */
  private async send(from: string, to: string, name: string, bytes: number, hop: Hop, req: string): Promise<void> {
    const { K, schedule, activateAtMs, job } = this.x
    const st = this.stations.get(from)!
    if (schedule && st.profile) {
      const slots = (schedule.byDevice[from] ?? []).filter((s) => s.to === to).map((s) => ({ offsetMs: s.offsetMs * K, durationMs: s.durationMs * K }))
      const now = Date.now()
      const at = st.gate.take(to, now, slots, schedule.cycleMs * K, activateAtMs)
      if (from === hop.src && name !== 'result') this.frameGateWaitsMs.push((at - now) / K)
      await sleep(at - Date.now())
    }
    const msgs = [...encodeTensorChunks({ req, name, dtype: 'uint8', shape: [bytes], epoch: 1, hop }, new Uint8Array(bytes), CHUNK)]
    const go = () => Promise.all(msgs.map((m) => st.client.publishAsync(topics.tensors(job.id, to), m, { qos: 1 }))).then(() => undefined)
    await (st.air ? st.air.withAir(bytes, go) : go())
  }

  /** A tensor reached station `id`: the stage it feeds computes (one micro-batch at a time, for its profile time), or it is a result. */
  private arrived(id: string, name: string, hop: Hop, req: string): void {
    const { job, plan, K } = this.x
    if (name === 'result') {
      this.consumers.delete(req)
      this.latencies.push({ draw: this.drawOf.get(req) ?? -1, ms: (Date.now() - hop.t0) / K })
      this.drawOf.delete(req)
      if (--this.outstanding === 0) this.onDone?.()
      return
    }
    const st = this.stations.get(id)!
    const k = hop.stage
    const b = plan.microBatch
    const S = plan.stages.length
    st.busyUntil = Math.max(Date.now(), st.busyUntil) + stageComputeMs(job, st.profile!, plan.stages[k]!.layers, b) * K
    setTimeout(() => {
      const next = k + 1 < S ? hop.route[k + 1]! : null
      if (next === null) return void this.send(id, this.consumers.get(req) ?? hop.src, 'result', b * outputBytesOf(job.model, plan.stages[S - 1]!.layers), hop, req).catch(() => undefined)
      const h = { ...hop, stage: k + 1 }
      if (next === id) return this.arrived(id, 'act', h, req)
      void this.send(id, next, 'act', b * job.model.boundaryBytes[plan.stages[k + 1]!.layers[0]]!, h, req).catch(() => undefined)
    }, st.busyUntil - Date.now())
  }
}


/**
 * Phase draw `d` of `n` sources, each in [0, 1): the R_d sequence (Roberts 2018: alpha_i =
 * phi^-(i+1), phi the root of x^(n+1) = x + 1) under the random shift `shift`. Each draw is
 * uniform on the unit cube; consecutive draws cover it evenly.
 */
export function phaseDraw(d: number, shift: readonly number[]): number[] {
  let phi = 2
  for (let i = 0; i < 60; i++) phi = (1 + phi) ** (1 / (shift.length + 1))
  return shift.map((u, i) => (u + (d + 1) / phi ** (i + 1)) % 1)
}

/** The sources' hyperperiod (profile ms): the least multiple of the longest period that every period divides (at most 8 of them; else 4 periods). */
export function hyperperiodMs(periodsMs: readonly number[]): number {
  const longest = Math.max(...periodsMs)
  for (let j = 1; j <= 8; j++) {
    const h = j * longest
    if (periodsMs.every((p) => Math.abs(h / p - Math.round(h / p)) < 1e-6)) return h
  }
  return 4 * longest
}

/** A run's blocks: one phase draw each, `blockMs` of frames then `gapMs` quiet (profile ms); the first is a warm-up draw (-1). */
interface Blocks { readonly draws: readonly number[]; readonly blockMs: number; readonly gapMs: number; readonly shift: readonly number[]; readonly seed: number }

/** The hub's requests are Poisson (the draw's own seeded stream); a device's frame clock ticks at its period from the draw's phase. */
function dueTimes(x: Setup, bl: Blocks, k: number, phase: number, draw: number, blockStart: number): number[] {
  const { job, plan, K } = x
  const src = jobSources(job)[k]!
  const periodMs = (1000 * K * plan.microBatch) / (job.rateRps * src.share)
  const end = blockStart + bl.blockMs * K
  const out: number[] = []
  if (src.device) {
    for (let t = blockStart + phase * periodMs; t < end - 1e-6; t += periodMs) out.push(t)
    return out
  }
  const rand = seededRandom(bl.seed * 7919 + (draw + 1) * 104729 + k)
  for (let t = blockStart - Math.log(1 - rand()) * periodMs; t < end; t -= Math.log(1 - rand()) * periodMs) out.push(t)
  return out
}

/**
 * The sources' requests, block by block from `startMs`: with slots a device's frame is captured
 * at its next turn (runtime/turn-clock.ts), else at its tick. Returns the timers.
 */
function startSources(f: EmulatedFleet, x: Setup, startMs: number, bl: Blocks): NodeJS.Timeout[] {
  const { job, fleet, plan, K, schedule, activateAtMs } = x
  const routing = planRouting(plan, job, fleet)
  const turns = new WeightedTurns()
  const timers: NodeJS.Timeout[] = []
  const warm = seededRandom(bl.seed)
  jobSources(job).forEach((src, k) => {
    const id = src.device ?? HUB_SOURCE
    const mine = schedule?.routes.flatMap((r, m) => (r.source === src.device ? [m] : [])) ?? []
    const clock = schedule && src.device && mine.length ? new TurnClock({ activateAtMs, cycleMs: schedule.cycleMs * K, periodMs: schedule.periodMs * K, turns: mine }) : null
    const consumer = routing.consumers[k]?.id ?? HUB_SOURCE
    let seq = 0
    const capture = (at: number, draw: number) => {
      // the route: the schedule's for this turn, else the run's router (weighted turns by replica speed)
      const C = schedule ? schedule.cycleMs * K : 1
      const m = clock ? Math.round((((at - activateAtMs) % C) + C) % C / (schedule!.periodMs * K)) % schedule!.microBatchesPerCycle : -1
      const route = m >= 0 ? [...schedule!.routes[m]!.replicas] : plan.stages.map((st, j) => st.devices[turns.pick(`${k}/${j}`, routing.weights[k]![j]!)]!)
      f.request(id, consumer, route, `${id}.${seq++}`, draw)
    }
    ;[-1, ...bl.draws].forEach((draw, b) => {
      const blockStart = startMs + b * (bl.blockMs + bl.gapMs) * K
      const phase = draw < 0 ? warm() : phaseDraw(draw, bl.shift)[k]!
      for (const due of dueTimes(x, bl, k, phase, draw, blockStart)) {
        const at = clock ? clock.take(due) : due
        timers.push(setTimeout(() => capture(at, draw), Math.max(0, at - Date.now())))
      }
    })
  })
  return timers
}

/** One run on the emulated fleet: a warm-up block, then one block per phase draw in `draws`. */
export async function emulatedRun(name: string, coordinated: boolean, round: number, o: { draws: readonly number[]; timeScale: number; seed: number; load?: number; force?: 'grants' }): Promise<EmulatedRun> {
  const inputs = await scenarioPlan(name, o.load ?? 1)
  const { job, fleet, network, plan } = inputs
  const K = o.timeScale
  const activateAtMs = Date.now() + 3000
  const modes = chooseTransferMode(plan, job, fleet, network, predict(plan, job, fleet, network), activateAtMs)
  // `force`: run grants whatever the planner chose (to measure what a grant costs)
  const mode = o.force ?? (coordinated ? modes.mode : 'at-once')
  const x: Setup = { ...inputs, K, activateAtMs, mode, schedule: mode === 'slots' ? modes.schedule : null }
  const periods = jobSources(job).map((s) => (1000 * plan.microBatch) / (job.rateRps * s.share))
  const shiftRand = seededRandom(o.seed)
  // a Poisson source (the hub's) has no period to repeat: its blocks last 2 s (4 requests of the smart home's)
  const blockMs = jobSources(job).some((s) => !s.device) ? Math.max(2000, hyperperiodMs(periods)) : hyperperiodMs(periods)
  const bl: Blocks = { draws: o.draws, blockMs, gapMs: 300, shift: periods.map(() => shiftRand()), seed: o.seed }
  const f = new EmulatedFleet(x)
  try {
    await f.open()
    const startMs = activateAtMs + 500
    const endMs = startMs + (o.draws.length + 1) * (bl.blockMs + bl.gapMs) * K
    const timers = startSources(f, x, startMs, bl)
    await sleep(endMs - Date.now())
    await f.drain(60_000) // the last frames finish (at most a minute of wall clock)
    for (const t of timers) clearTimeout(t)
    const rtts = [...f.stations.values()].flatMap((s) => s.air?.stats.roundTripsMs ?? [])
    const draws = o.draws.map((d) => ({ draw: d, frames: f.sent.get(d) ?? 0, latenciesMs: f.latencies.filter((l) => l.draw === d).map((l) => l.ms) }))
    const measured = draws.flatMap((d) => d.latenciesMs)
    const { mean, p95 } = meanAndP95(measured)
    const waits = f.frameGateWaitsMs
    return {
      scenario: (o.load ?? 1) === 1 ? name : `${name} at x${o.load} load`, coordinated, mode: o.force ? `${mode} (forced)` : coordinated ? mode : 'at once (uncoordinated)', round, timeScale: K,
      frames: draws.reduce((a, d) => a + d.frames, 0), completed: measured.length, meanMs: mean, p95Ms: p95, draws,
      predicted: o.force ? modes.grants : coordinated ? predictionOf(modes) : modes.atOnce, grantRttMs: rtts.length ? rtts.reduce((a, r) => a + r, 0) / rtts.length / K : null,
      frameGateWaitMs: x.schedule && waits.length ? { mean: waits.reduce((a, w) => a + w, 0) / waits.length, max: Math.max(...waits) } : null,
    }
  } finally {
    await f.close()
  }
}

/**
 * Coordinated and uncoordinated runs on the same phase draws, interleaved A/B per round (the
 * machine's drift hits both alike): `draws` draws per scenario, split evenly over the rounds.
 * `onRun` hears each run as it ends (so a run that never ends leaves the ones before it).
 */
export async function emulatedCoordination(o: { scenarios: ReadonlyArray<{ name: string; draws: number; load?: number }>; rounds: number; timeScale: number; seed: number; log: (s: string) => void; onRun?: (r: EmulatedRun) => void }): Promise<EmulatedRun[]> {
  const out: EmulatedRun[] = []
  for (const sc of o.scenarios) {
    for (let round = 0; round < o.rounds; round++) {
      const draws = Array.from({ length: sc.draws }, (_, d) => d).filter((d) => d % o.rounds === round)
      for (const coordinated of [true, false]) {
        o.log(`  ${sc.name}${sc.load ? ` x${sc.load}` : ''}, round ${round + 1}, ${coordinated ? 'coordinated' : 'uncoordinated'}: ${draws.length} phase draws ...`)
        const r = await emulatedRun(sc.name, coordinated, round, { draws, timeScale: o.timeScale, seed: o.seed, ...(sc.load ? { load: sc.load } : {}) })
        out.push(r)
        o.onRun?.(r)
      }
    }
  }
  return out
}
