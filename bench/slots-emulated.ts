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
 * transfer goes at once. Both runs use the same frame clocks (seeded phases).
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
  predicted: ModePrediction
  /** Grants: mean round trip measured by the devices, ms of profile time. */
  grantRttMs: number | null
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

async function scenarioPlan(name: string): Promise<PlanningInputs & { plan: Plan }> {
  const file = fileURLToPath(new URL(`../config/scenarios/${name}.yaml`, import.meta.url))
  const inputs = await planningInputs(file, await readScenario(file))
  const res = partition(inputs.job, inputs.fleet, { network: inputs.network })
  if (!res.ok) throw new Error(`${name}: no plan`)
  return { ...inputs, plan: res.chosen.plan }
}

type Setup = PlanningInputs & { plan: Plan; K: number; activateAtMs: number; mode: 'slots' | 'grants' | 'at-once'; schedule: Schedule | null }

/** The emulated fleet of one run: broker, Wi-Fi proxy, the hub's grant desk, one MQTT station per device, and the requests in flight. */
class EmulatedFleet {
  readonly stations = new Map<string, Station>()
  readonly latencies: Array<{ t0: number; ms: number }> = []
  outstanding = 0
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
  request(src: string, consumer: string, route: string[], req: string): void {
    const hop: Hop = { src, plan: this.x.plan.id, stage: 0, route, t0: Date.now() }
    this.consumers.set(req, consumer)
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
      await sleep(st.gate.take(to, Date.now(), slots, schedule.cycleMs * K, activateAtMs) - Date.now())
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
      this.latencies.push({ t0: hop.t0, ms: (Date.now() - hop.t0) / K })
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
 * The sources' frame clocks from `startMs` to `endMs`: each at its rate from a seeded phase (the
 * same in both runs); with slots a frame is captured at the source's next turn, else at its tick.
 */
function startSources(f: EmulatedFleet, x: Setup, startMs: number, endMs: number, rand: () => number): NodeJS.Timeout[] {
  const { job, fleet, plan, K, schedule, activateAtMs } = x
  const routing = planRouting(plan, job, fleet)
  const turns = new WeightedTurns()
  const timers: NodeJS.Timeout[] = []
  jobSources(job).forEach((src, k) => {
    const id = src.device ?? HUB_SOURCE
    const periodMs = (1000 * K * plan.microBatch) / (job.rateRps * src.share)
    const phase = rand() * periodMs
    const mine = schedule?.routes.flatMap((r, m) => (r.source === src.device ? [m] : [])) ?? []
    const clock = schedule && src.device && mine.length ? new TurnClock({ activateAtMs, cycleMs: schedule.cycleMs * K, periodMs: schedule.periodMs * K, turns: mine }) : null
    const consumer = routing.consumers[k]?.id ?? HUB_SOURCE
    let n = 0
    let seq = 0
    const capture = (at: number) => {
      // the route: the schedule's for this turn, else the run's router (weighted turns by replica speed)
      const C = schedule ? schedule.cycleMs * K : 1
      const m = clock ? Math.round((((at - activateAtMs) % C) + C) % C / (schedule!.periodMs * K)) % schedule!.microBatchesPerCycle : -1
      const route = m >= 0 ? [...schedule!.routes[m]!.replicas] : plan.stages.map((st, j) => st.devices[turns.pick(`${k}/${j}`, routing.weights[k]![j]!)]!)
      f.request(id, consumer, route, `${id}.${seq++}`)
    }
    const tick = () => {
      const due = startMs + phase + n++ * periodMs
      if (due >= endMs) return
      const at = clock ? clock.take(due) : due
      timers.push(setTimeout(() => capture(at), Math.max(0, at - Date.now())))
      timers.push(setTimeout(tick, Math.max(0, due + periodMs - Date.now() - 50)))
    }
    tick()
  })
  return timers
}

/** One run of `profileS` seconds of frames (profile time) on the emulated fleet. */
export async function emulatedRun(name: string, coordinated: boolean, round: number, o: { profileS: number; timeScale: number; seed: number; force?: 'grants' }): Promise<EmulatedRun> {
  const inputs = await scenarioPlan(name)
  const { job, fleet, network, plan } = inputs
  const K = o.timeScale
  const activateAtMs = Date.now() + 3000
  const modes = chooseTransferMode(plan, job, fleet, network, predict(plan, job, fleet, network), activateAtMs)
  // `force`: run grants whatever the planner chose (to measure what a grant costs)
  const mode = o.force ?? (coordinated ? modes.mode : 'at-once')
  const x: Setup = { ...inputs, K, activateAtMs, mode, schedule: mode === 'slots' ? modes.schedule : null }
  const f = new EmulatedFleet(x)
  try {
    await f.open()
    const startMs = activateAtMs + 500
    const endMs = startMs + o.profileS * 1000 * K
    const timers = startSources(f, x, startMs, endMs, seededRandom(o.seed + round))
    await sleep(endMs - Date.now())
    await f.drain(60_000) // the last frames finish (at most a minute of wall clock)
    for (const t of timers) clearTimeout(t)
    const rtts = [...f.stations.values()].flatMap((s) => s.air?.stats.roundTripsMs ?? [])
    // the first tenth of the frames is warm-up
    const measured = [...f.latencies].sort((a, c) => a.t0 - c.t0).slice(Math.floor(f.latencies.length / 10)).map((l) => l.ms)
    const { mean, p95 } = meanAndP95(measured)
    return {
      scenario: name, coordinated, mode: o.force ? `${mode} (forced)` : coordinated ? mode : 'at once (uncoordinated)', round, timeScale: K, frames: f.latencies.length + f.outstanding, completed: f.latencies.length,
      meanMs: mean, p95Ms: p95, predicted: o.force ? modes.grants : coordinated ? predictionOf(modes) : modes.atOnce, grantRttMs: rtts.length ? rtts.reduce((a, r) => a + r, 0) / rtts.length / K : null,
    }
  } finally {
    await f.close()
  }
}

/** Coordinated and uncoordinated runs interleaved A/B/A/B per scenario (the machine's drift hits both alike). */
export async function emulatedCoordination(o: { scenarios: readonly string[]; rounds: number; profileS: number; timeScale: number; log: (s: string) => void }): Promise<EmulatedRun[]> {
  const out: EmulatedRun[] = []
  for (const name of o.scenarios) {
    for (let round = 0; round < o.rounds; round++) {
      for (const coordinated of [true, false]) {
        o.log(`  ${name}, round ${round + 1}, ${coordinated ? 'coordinated' : 'uncoordinated'}: ${(o.profileS * o.timeScale).toFixed(0)} s (wall) ...`)
        out.push(await emulatedRun(name, coordinated, round, { profileS: o.profileS, timeScale: o.timeScale, seed: 7 }))
      }
    }
  }
  return out
}

/** The runs as a table: each coordinated run beside the uncoordinated run of its round. */
export function emulatedTable(runs: readonly EmulatedRun[]): { header: string[]; rows: string[][] } {
  const f = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(1))
  const rows = runs.map((r) => {
    const other = runs.find((x) => x.scenario === r.scenario && x.round === r.round && x.coordinated !== r.coordinated && !x.mode.includes('forced'))
    const pair = r.coordinated && other ? [(r.meanMs / other.meanMs).toFixed(2), (r.p95Ms / other.p95Ms).toFixed(2)] : ['', '']
    return [r.scenario, String(r.round + 1), r.mode, `${r.completed} of ${r.frames}`, f(r.meanMs), f(r.p95Ms), f(r.predicted.latencyMs), f(r.predicted.p95LatencyMs), ...pair, f(r.grantRttMs)]
  })
  return { header: ['scenario', 'round', 'transfers', 'answered', 'mean ms', 'p95 ms', 'predicted mean', 'predicted p95', 'mean / uncoord.', 'p95 / uncoord.', 'grant round trip ms'], rows }
}
