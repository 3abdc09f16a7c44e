/**
 * `npm run bench`: runs the benchmarks and prints Markdown tables (paste into BENCHMARKS.md
 * with the date and machine). `npm run bench -- codec` (or models, planner, planner-targets, planner-training, incremental, join48, comparison, coordination, slots-emulated, adapter, loop-stall, transfer, transfer-1m, execution, load, flood, compression) runs one;
 * `slots-emulated=traffic:24,camera-wall@2 clock=10` runs that bench on some of its scenarios (traffic with 24 phase draws, camera-wall at
 * twice its sources' rates) on a x10 clock.
 */
import os from 'node:os'
import { codecBench } from './codec.js'
import { transferBench, fmtBytes } from './transfer.js'
import { DEVICE_MAX_INFLIGHT } from '../device-firmware-bridge/connection.js'
import { DEFAULT_CHUNK_BYTES, chunkBytesFor } from '../src/protocol/chunks.js'
import { modelBench } from './models.js'
import { plannerModelSizes, plannerQuality, plannerTimes } from './planner.js'
import { adapterReaction, plannerTargets } from './planner-targets.js'
import { plannerTraining, trainingSummary } from './planner-training.js'
import { SCENARIOS, compareScenario, optimumDistance } from './comparison.js'
import { coordinationBench } from './coordination.js'
import { emulatedCoordination } from './slots-emulated.js'
import { drawTable, emulatedTable, runLine } from './slots-emulated-table.js'
import { POLICIES, adapterBench } from './adapter.js'
import { hubReactionBench } from './hub-reaction.js'
import { incrementalBench, median, quantile } from './incremental.js'
import { join48Bench } from './join48.js'
import { executionBench, label } from './execution.js'
import { loadBench } from './load.js'
import { floodBench } from './flood.js'
import { compressionBench, compressionTable } from './compression.js'
import { loopStallBench, loopStallTable } from './loop-stall.js'

const which = process.argv.slice(3)
const want = (name: string) => which.length === 0 || which.some((w) => w === name || w.startsWith(`${name}=`))
/** `NAME=a,b@2,c:20`: the bench's cases (b at twice its load, c with 20 draws), else `dflt`. */
const casesOf = (name: string, dflt: string): Array<{ name: string; load?: number; draws?: number }> =>
  (which.find((w) => w.startsWith(`${name}=`))?.slice(name.length + 1) ?? dflt).split(',').map((c) => {
    const [nl, draws] = c.split(':')
    const [n, load] = nl!.split('@')
    return { name: n!, ...(load ? { load: Number(load) } : {}), ...(draws ? { draws: Number(draws) } : {}) }
  })
/** `clock=K`: an emulation clock for the emulated benches (a busy host: a slower clock shrinks its stalls in profile time). */
const clockArg = Number(which.find((w) => w.startsWith('clock='))?.slice(6) ?? NaN)
const progress = (s: string) => process.stderr.write(`${s}\n`)

/** Prints one Markdown table with its heading (and an optional note under it). */
function printTable(title: string, header: string[], rows: string[][], note?: string): void {
  console.log(`## ${title}\n`)
  if (note) console.log(`${note}\n`)
  console.log(`| ${header.join(' | ')} |`)
  console.log(`|${header.map(() => '---').join('|')}|`)
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
  console.log('')
}

console.log(`# Dora benchmarks, ${new Date().toISOString()}`)
console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`)
console.log('transfers on loopback (127.0.0.1) between real processes; planner figures use synthetic device profiles (emulation) costed with the Wi-Fi model; no emulated Wi-Fi proxy involved\n')

if (want('codec')) {
  progress('codec: 64 MiB tensor, best of 5 ...')
  const rows = codecBench(progress)
  printTable('CBOR tensor-chunk codec vs memory copy (64 MiB tensor, best of 5)',
    ['chunk', 'memcpy GB/s', 'encode GB/s', 'decode+reassemble GB/s', 'encode / copy', 'decode / copy'],
    rows.map((r) => [fmtBytes(r.chunkBytes), r.copyGBps.toFixed(2), r.encodeGBps.toFixed(2), r.decodeGBps.toFixed(2), r.encodeVsCopy.toFixed(2), r.decodeVsCopy.toFixed(2)]))
}

if (want('models')) {
  progress('models: profile + split (4 stages), best of 3 ...')
  const rows = await modelBench(progress)
  printTable('Model profiling and splitting (planner time; the onnxruntime shape run apart), best of 3',
    ['model', 'nodes', 'GFLOPs', 'profile ms', 'split (4 stages) ms', 'planner total ms', 'onnxruntime shape run ms'],
    rows.map((r) => [r.model, String(r.nodes), r.gflops.toFixed(3), r.profileMs.toFixed(1), r.splitMs.toFixed(1), (r.profileMs + r.splitMs).toFixed(1), r.ortShapeMs.toFixed(0)]))
}

if (want('compression')) {
  const bound = 0.01
  const rows = await compressionBench(progress)
  printTable('Activation compression on the zoo models: bytes and output error per cut (seeded inputs, onnxruntime)',
    ['model', 'input / request', 'output / request', 'cuts', 'float32 / fp16 / int8 at the median cut', 'fp16 error: median (worst)', 'int8 error: median (worst)', `cuts within ${bound} (fp16 / int8)`, 'measure ms'],
    compressionTable(rows, bound),
    'Error: relative L2 distance of all float outputs from the float32 run, sqrt(sum (y - y0)^2 / sum y0^2), with the activations crossing the cut round-tripped through the codec.')
}

if (want('planner')) {
  progress('planner: quality against the exhaustive optimum, then time against fleet size ...')
  const q = plannerQuality()
  printTable("Dora's partitioner against the exhaustive optimum (seeded random instances: 2-4 devices, 2-6 layers; synthetic device profiles)",
    ['goal', 'instances', 'optimal', 'median ratio', 'p90 ratio', 'worst ratio'],
    q.map((r) => [r.goal, String(r.instances), String(r.optimal), r.median.toFixed(3), r.p90.toFixed(3), r.worst.toFixed(3)]),
    'Ratio = Dora\'s chosen plan / the optimum on the goal metric (latency, energy per request, 1 / capacity); 1.000 is optimal.')
  const t = plannerTimes(progress)
  printTable('Planner time against fleet size (24-layer model profile, synthetic device profiles)',
    ['devices', 'kinds', 'layers', 'goal', 'plan ms', 'stage options explored'],
    t.map((r) => [String(r.devices), String(r.kinds), String(r.layers), r.goal, r.ms.toFixed(0), String(r.explored)]),
    'Best of 3 runs per row.')
  const m = await plannerModelSizes(progress)
  printTable('Planner time and plan quality against model size (16 devices of 8 kinds, synthetic profiles; models from their ONNX graphs)',
    ['model', 'ONNX nodes', 'candidate cuts kept (layers)', 'goal', 'reduce ms', 'plan ms', 'goal metric', 'vs best reduction'],
    m.map((r) => [r.model, String(r.nodes), String(r.layers), r.goal, r.profileMs.toFixed(1), r.planMs.toFixed(0), r.goal === 'latency' ? `${r.metric.toFixed(1)} ms` : `${r.metric.toFixed(1)} req/s`, r.vsBest.toFixed(3)]),
    'The partitioner runs on the kept candidate cuts (default 24, chosen per equal FLOP share with the fewest crossing bytes); vs best = how far that plan is from the best plan over all reductions (1.000 = as good).')
}

if (want('planner') || want('planner-targets')) {
  progress('planner targets: the current search against the fast one, then the adapter on 48 devices ...')
  const load = os.loadavg().map((x) => x.toFixed(1)).join(' ')
  const t = await plannerTargets(progress)
  printTable(`Planner time on the issue-18 targets: the search before issue 18 against the fast one, same run (EMULATION: synthetic device profiles; load ${load})`,
    ['model', 'devices', 'layers', 'goal', 'current search ms', 'fast search ms', 'fast search CPU ms', 'fast / current time', 'aim ms', 'fast plan / current plan'],
    t.map((r) => [r.instance, String(r.devices), String(r.layers), r.goal, r.currentMs.toFixed(0), r.fastMs.toFixed(0), r.fastCpuMs.toFixed(0), (r.fastMs / r.currentMs).toFixed(2), String(r.aimMs), r.ratio.toFixed(3)]),
    'Best of 3 per search (wall; CPU: this process, user + system, best of the same 3). Plan ratio on the goal metric (latency, J per request, 1 / capacity): 1.000 = as good, above 1 = the fast plan is worse, below 1 = better.')
  const a = await adapterReaction(progress)
  printTable('Adapter reaction to a device leaving or joining a running 48-device fleet (12-layer encoder, latency goal; EMULATION)',
    ['devices', 'event', 'action', 'current search ms', 'fast search ms'],
    a.map((r) => [String(r.devices), r.event, r.action, r.currentMs.toFixed(0), r.fastMs.toFixed(0)]))
}

if (want('planner') || want('planner-training')) {
  progress('planner training: the fast search against the wide one on 40 seeded random training fleets x 2 goals ...')
  const load = os.loadavg().map((x) => x.toFixed(1)).join(' ')
  const s = trainingSummary(plannerTraining(progress))
  printTable(`The fast search against the wide one on 40 seeded random training fleets (EMULATION: synthetic devices and models; load ${load})`,
    ['goal', 'instances', 'fast / wide plan: worst', 'median', 'p90', 'worse than 1.001', 'over 1.01', 'better than 0.999', 'wide search CPU ms (all)', 'fast search CPU ms (all)', 'fast / wide CPU', 'fast search CPU ms (slowest)'],
    s.map((r) => [r.goal, String(r.n), r.worst.toFixed(4), r.median.toFixed(4), r.p90.toFixed(4), String(r.worse), String(r.over1pct), String(r.better), r.wideCpuMs.toFixed(0), r.fastCpuMs.toFixed(0), (r.fastCpuMs / r.wideCpuMs).toFixed(2), r.fastMaxCpuMs.toFixed(0)]),
    'randomCase(seed, { training: true }), seeds 1-40, throughput bound at the best single device\'s capacity. Plan ratio on the goal metric (1 / capacity, J per sample): above 1 = the fast plan is worse. CPU: this process, user + system, one run of each search.')
}

if (want('planner') || want('incremental')) {
  progress('incremental: warm-start quick decisions against the full search, 48 devices, 50 seeded joins and every planned device leaving ...')
  const load = os.loadavg().map((x) => x.toFixed(1)).join(' ')
  const rows = incrementalBench(progress)
  const ms = (xs: number[]) => `${median(xs).toFixed(0)} / ${Math.max(...xs).toFixed(0)}`
  printTable(`Warm-start re-planning: the adapter's reaction to one device joining or leaving a running 48-device fleet (12-layer encoder, 20 req/s; EMULATION; load ${load})`,
    ['fleet', 'goal', 'event', 'events', 'quick decision ms (median / max)', 'full search after it ms', 'adapter before (full search at once) ms', 'quick / before objective: min, median, p90, max', 'quick not compliant', 'quick published (10% hysteresis)', 'then replaced by the full search'],
    rows.map((r) => [r.fleet, r.goal, r.event, String(r.events), ms(r.quickMs), ms(r.fullMs), ms(r.beforeMs), `${quantile(r.ratios, 0).toFixed(4)}, ${quantile(r.ratios, 0.5).toFixed(4)}, ${quantile(r.ratios, 0.9).toFixed(4)}, ${quantile(r.ratios, 1).toFixed(4)}`, String(r.notCompliant), String(r.published), String(r.replaced)]),
    'Wall times (shared host). Objective: the running mix\'s J per request (energy goal) or mean latency (latency goal) after the decision, both at hysteresis 0 (each runs the best mix of its plans); above 1: the quick decision is worse than the adapter before. Joins: a device of one of the six kinds, drawn at random, its speeds drawn 0.8-1.2x (seed 2026); leaves: every device of the first search\'s plans, one at a time.')
}

if (want('planner') || want('join48')) {
  progress('join48: an Orin-class newcomer joins a running 48-device fleet without one (the plan changes): quick decision, the full search after it, the full search at once ...')
  const load = os.loadavg().map((x) => x.toFixed(1)).join(' ')
  const rows = join48Bench(progress)
  const ms = (xs: number[]) => `${median(xs).toFixed(0)} / ${Math.max(...xs).toFixed(0)}`
  const q3 = (xs: number[]) => `${quantile(xs, 0).toFixed(3)}, ${quantile(xs, 0.5).toFixed(3)}, ${quantile(xs, 1).toFixed(3)}`
  printTable(`A join that changes the plan: an Orin-class newcomer (speed 0.8-1.2x, seed 4818) joins 48 devices without one (12-layer encoder, 20 req/s; EMULATION; load ${load}, then ${os.loadavg().map((x) => x.toFixed(1)).join(' ')})`,
    ['goal', 'joins', 'quick decision ms (median / max)', 'full search after it ms', 'adapter before (full search at once) ms', 'objective before the join (median)', 'after the full search (median)', 'full / old objective: min, median, max', 'quick / full objective: min, median, max', 'full after it / full at once', 'newcomer in the mix: quick, full'],
    (['energy', 'latency'] as const).map((goal) => {
      const g = rows.filter((r) => r.goal === goal)
      return [goal, String(g.length), ms(g.map((r) => r.quickMs)), ms(g.map((r) => r.fullMs)), ms(g.map((r) => r.beforeMs)), median(g.map((r) => r.objective.old)).toPrecision(4), median(g.map((r) => r.objective.full)).toPrecision(4),
        q3(g.map((r) => r.objective.full / r.objective.old)), q3(g.map((r) => r.objective.quick / r.objective.full)), q3(g.map((r) => r.objective.full / r.objective.before)), `${g.filter((r) => r.quickUses).length}, ${g.filter((r) => r.fullUses).length}`]
    }),
    'Wall times (shared host). Objective: the running mix\'s J per request (energy goal) or mean latency in ms (latency goal), every decision at hysteresis 0 (each runs the best mix of its plans); below 1 = better. The fleet: bench/fleet48.ts with its four Orin boxes replaced by Pi-class boards (bench/join48.ts).')
}

if (want('comparison')) {
  progress('comparison: Dora against every baseline on the shipped scenarios (emulation), then the exhaustive optimum ...')
  const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(0)}%`)
  const times = (x: number | null) => (x === null ? '-' : `${x.toFixed(2)}x`)
  for (const name of SCENARIOS) {
    const c = await compareScenario(name, progress)
    const unit = c.speedGoal === 'throughput' ? 'samples/s' : 'ms'
    printTable(`${name}: Dora against the baselines (EMULATION; simulated, seed 1, 120 s)`,
      ['baseline', `${c.speedGoal} (${unit})`, 'QoE met', 'Dora speed-up', 'J/request (energy goal)', 'QoE met', 'Dora energy saved'],
      c.rows.map((r) => [r.planner, r.speedValue === null ? '-' : r.speedValue.toFixed(1), r.speedQoe ? 'yes' : 'no', times(r.speedUp), r.energyJ === null ? '-' : r.energyJ.toFixed(3), r.energyQoe ? 'yes' : 'no', pct(r.energySaved)]),
      `Dora, ${c.speedGoal} goal: ${(c.speedGoal === 'throughput' ? c.dora.speed.throughputRps : c.dora.speed.latencyMs).toFixed(1)} ${unit}, QoE met: ${c.dora.speed.qoeMet ? 'yes' : 'no'}; energy goal: ${c.dora.energy.energyJPerRequest.toFixed(3)} J/request, QoE met: ${c.dora.energy.qoeMet ? 'yes' : 'no'}. Speed-up > 1 and energy saved > 0 favour Dora.`)
  }
  const opt = []
  for (const name of SCENARIOS) opt.push(...(await optimumDistance(name, progress)))
  printTable("Dora's chosen plan against the exhaustive optimum per scenario (model reduced to 6 layers; cost model; EMULATION)",
    ['scenario', 'goal', 'plans enumerated', 'Dora', 'optimum', 'unit', 'Dora / optimum'],
    opt.map((r) => [r.scenario, r.goal, String(r.plans), r.dora.toFixed(3), r.optimum.toFixed(3), r.unit, (r.goal === 'throughput' ? r.optimum / r.dora : r.ratio).toFixed(3)]),
    'Ratio on the goal metric (latency, J per request, or 1 / throughput); 1.000 is optimal.')
}

if (want('coordination')) {
  progress('coordination: slots vs hub grants vs uncoordinated sending (emulation) ...')
  const rows = await coordinationBench(progress)
  const ms = (r: { latencyMs: number } | null) => (r && Number.isFinite(r.latencyMs) ? r.latencyMs.toFixed(1) : '-')
  printTable('Transfer coordination: the same plan with timed slots, hub grants, or uncoordinated (EMULATION; seed 1, 300 s)',
    ['scenario', 'req/s', 'plan', 'slots mean ms', 'slots p95 ms', 'grants mean ms', 'grants p95 ms', 'uncoord. mean ms', 'uncoord. p95 ms', 'uncoord. / grants', 'slots / grants', 'slots'],
    rows.map((r) => [r.scenario, r.rateRps.toFixed(1), r.plan, ms(r.slots), r.slots ? r.slots.p95LatencyMs.toFixed(1) : '-', ms(r.granted), r.granted.p95LatencyMs.toFixed(1), ms(r.uncoordinated), r.uncoordinated.p95LatencyMs.toFixed(1),
      (r.uncoordinated.latencyMs / r.granted.latencyMs).toFixed(2), r.slots ? (r.slots.latencyMs / r.granted.latencyMs).toFixed(2) : '-', r.slotsNote]),
    'Mean and p95 latency of the requests; ratios above 1 mean slower than hub grants.')
}

if (want('slots-emulated')) {
  // phase draws per scenario (blocks of one hyperperiod: traffic 2 s, camera-wall 0.5 s, at twice its load 0.25 s; the smart
  // home's Poisson requests 2 s); `slots-emulated=traffic,camera-wall@2` runs some of them
  const draws: Record<string, number> = { traffic: 40, 'camera-wall': 60, 'smart-home': 12 }
  const scenarios = casesOf('slots-emulated', 'traffic,camera-wall,camera-wall@2,smart-home').map((c) => ({ ...c, draws: c.draws ?? draws[c.name] ?? 40 }))
  const K = clockArg > 0 ? clockArg : 5
  progress(`slots-emulated: coordinated vs uncoordinated on the emulated Wi-Fi over phase draws, A/B per round (emulation), load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} ...`)
  const rows = await emulatedCoordination({ scenarios, rounds: 2, timeScale: K, seed: 7, log: progress, onRun: (r) => progress(`${runLine(r)} (load ${os.loadavg()[0]!.toFixed(2)})`) })
  const t = emulatedTable(rows)
  printTable(`Coordinated vs uncoordinated on the emulated Wi-Fi over phase draws (EMULATION: real broker, emulated Wi-Fi proxy, stages as profile-time waits; clock x${K}; load at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`, t.header, t.rows,
    `Latency in profile ms (wall / ${K}). Each run is a warm-up block and then one block per phase draw (the sources' hyperperiod of frames at the draw's phases, then 300 ms quiet); coordinated and uncoordinated take the same draws, A/B per round; **all** pools every draw of the scenario. Ratios below 1 mean coordination was faster.`)
  const d = drawTable(rows)
  printTable('The phase draws, coordinated beside uncoordinated (mean / p95 of each draw\'s frames, profile ms)', d.header, d.rows)
}

if (want('adapter')) {
  progress('adapter: scripted dynamics (emulation) and reaction times ...')
  const rows = await adapterBench(progress)
  printTable('Runtime dynamics: the adapter against a static plan and re-planning on every change (EMULATION; seed 1)',
    ['scenario', 'policy', 'QoE violated s', 'requests lost', 'requests re-sent', 'energy J', 're-plans'],
    rows.flatMap((r) => POLICIES.map((p) => [r.scenario, p, r.totals[p].violationS.toFixed(0), String(r.totals[p].lost), String(r.totals[p].resent), r.totals[p].energyJ.toFixed(0), String(r.totals[p].replans)])),
    'The scripted events are in each scenario file (dynamics section).')
  printTable('Adapter reaction time on this machine (best of 5)',
    ['scenario', 'no change (re-cost + compose) ms', 'a device leaves ms', 'what it did', 'partitioner alone ms'],
    rows.map((r) => [r.scenario, r.keepMs.toFixed(2), r.changeMs.toFixed(1), r.changeAction, r.replanMs.toFixed(1)]))
  const t = (await hubReactionBench(5, progress)).sort((x, y) => x - y)
  printTable('Hub reaction, end to end on loopback: a device drops off -> the new plan epoch reaches another device (real Aedes and mqtt.js; emulated device profiles)',
    ['rounds', 'min ms', 'median ms', 'max ms'],
    [[String(t.length), t[0]!.toFixed(1), t[Math.floor(t.length / 2)]!.toFixed(1), t[t.length - 1]!.toFixed(1)]],
    'Includes the hub\'s 100 ms debounce of fleet changes, the adapter (re-plan of a ResNet-18 job) and the retained publish.')
}

if (want('loop-stall')) {
  progress('loop-stall: the embedded broker\'s event loop while a 48-device job re-plans, search in the hub\'s thread vs the worker thread ...')
  const runs = await loopStallBench(3, progress)
  printTable(`The embedded broker's event loop during a 48-device re-plan: the adapter's search in the hub's thread (before) and in its worker thread (after), same run (EMULATION: synthetic device profiles; load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')})`,
    ['search runs in', 'adapter\'s action', 'rounds', 'search ms', 'longest 1 ms timer gap ms (median)', '(worst)', 'pings in the search', 'ping round trip median ms', 'p99 ms', 'max ms', 'unanswered'],
    loopStallTable(runs),
    'The hub\'s process: the embedded broker (Aedes) and a device joining a running 48-device fleet (bench/fleet48.ts, 12-layer encoder): the partitioner searches the whole fleet again (\'keep\': the running mix stays within the hysteresis); the modes alternate with a quiet reference, 3 rounds each (medians of the rounds; round trips pooled). Pings: a real mqtt.js client in another process publishing to itself through the broker every 5 ms; those sent from the search\'s start to its end count.')
}

for (const [name, chunk] of [['transfer', DEFAULT_CHUNK_BYTES], ['transfer-1m', chunkBytesFor(1024 * 1024)]] as const) {
  if (name === 'transfer-1m' ? !which.includes(name) : !want(name)) continue // transfer-1m only when asked
  progress(`${name}: embedded broker and Mosquitto vs raw TCP relay, separate processes ...`)
  const rows = await transferBench(progress, 2, chunk)
  const cpu = (c: { cpuMsPerMB: number[] }) => c.cpuMsPerMB.map((x) => x.toFixed(2)).join(' / ')
  const r2 = (a: number, b: { MBps: number } | null) => (b ? (a / b.MBps).toFixed(2) : '-')
  printTable(`Tensor transfer through MQTT brokers vs raw TCP relays (Node, socat), same run (load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')})`,
    ['broker', 'tensor', 'chunk', 'tensors sent', 'Dora MB/s', 'Dora tensors/s', 'bare MQTT MB/s', 'Node relay MB/s', 'socat MB/s', 'Dora / Node relay', 'Dora / socat', 'bare / Node relay', 'bare / socat', 'Dora / bare', 'CPU ms/MB Dora: send / recv / broker', 'bare', 'Node relay', 'socat'],
    rows.map((r) => [r.broker, fmtBytes(r.tensorBytes), fmtBytes(r.chunkBytes), String(r.tensors), r.dora.MBps.toFixed(1), ((r.dora.MBps * 1e6) / r.tensorBytes).toFixed(0), r.bare.MBps.toFixed(1), r.raw.MBps.toFixed(1), r.socat?.MBps.toFixed(1) ?? '-',
      r2(r.dora.MBps, r.raw), r2(r.dora.MBps, r.socat), r2(r.bare.MBps, r.raw), r2(r.bare.MBps, r.socat), (r.dora.MBps / r.bare.MBps).toFixed(2), cpu(r.dora), cpu(r.bare), cpu(r.raw), r.socat ? cpu(r.socat) : '-']),
    `${chunk === DEFAULT_CHUNK_BYTES ? 'Default settings (256 KiB chunks' : `tensors.chunkBytes ${chunk} (the largest a 1 MiB broker packet limit allows; not the default`}, the device agent's window of ${DEVICE_MAX_INFLIGHT} publishes in flight; Mosquitto with the data-plane lines of the conf dora mosquitto-config writes: set_tcp_nodelay true). Dora = as devices send: sendTensor through the chunk batcher (small tensors batched under load), CBOR chunks with CRC, QoS 1, decoded, checked and reassembled; bare MQTT = the same chunk bytes as plain QoS 1 payloads, one per message; Node relay = bench/transfer-relay.ts (its own process, 1 MiB reads into reused buffers, Nagle off); socat = socat -U -b 1048576 (the C-level bound; ${rows.some((r) => r.socat) ? 'installed' : 'NOT INSTALLED on this host, its columns are empty: apt-get install socat'}); best of 2 interleaved rounds. CPU = each process's CPU time per MB moved.`)
}

if (want('execution')) {
  progress('execution: dora demo runs (hub, emulated Wi-Fi, device processes, real onnxruntime) ...')
  const runs = await executionBench(30, progress)
  const err = (m: number | null, p: number | null) => (m !== null && p !== null && p > 0 ? `${(((m - p) / p) * 100).toFixed(0)}%` : '-')
  const inference = runs.filter((r) => !r.summary.training)
  printTable('Real execution on the emulated fleet and Wi-Fi: measured vs predicted (EMULATION; 30 s of profile time per run)',
    ['scenario', 'planner', 'sending', 'requests', 'skipped', 'lost', 'unfinished', 'mean ms', 'p95 ms', 'predicted mean', 'predicted p95', 'error (mean)', 'scheduler\'s prediction with slots', 'error', 'throughput rps (offered)', 'J / request'],
    inference.map((r) => {
      const s = r.summary
      return [label(r), r.planner, r.coordination === 'slots' ? 'slots' : 'uncoordinated', String(s.requests), String(s.skipped), String(s.lost), String(s.unfinished), fmt(s.latencyMs.mean), fmt(s.latencyMs.p95), fmt(s.predictedLatencyMs.mean), fmt(s.predictedLatencyMs.p95), err(s.latencyMs.mean, s.predictedLatencyMs.mean), fmt(s.predictedSlotLatencyMs), err(s.latencyMs.mean, s.predictedSlotLatencyMs), `${s.throughputRps} (${s.offeredRps})`, s.completed ? (s.energyJ / s.completed).toFixed(1) : '-']
    }),
    'Energy is the emulated devices\' power models over the run (idle included) divided by completed requests. "clock xK": the emulation clock ran K times slower than the profiles (compute, Wi-Fi rates, slots, request rates alike); its figures are in profile time (wall / K).')
  printTable('Training on the emulated fleet: optimizer steps measured vs predicted (EMULATION)',
    ['scenario', 'planner', 'steps (failed)', 'samples / step', 'step mean ms', 'p95 ms', 'predicted ms', 'error (mean)', 'samples/s', 'predicted samples/s', 'loss first -> last', 'replicas agree'],
    runs.filter((r) => r.summary.training).map((r) => {
      const t = r.summary.training!
      return [label(r), r.planner, `${t.steps} (${t.failedSteps})`, String(t.samplesPerStep), fmt(t.stepMs.mean), fmt(t.stepMs.p95), fmt(t.predictedStepMs), err(t.stepMs.mean, t.predictedStepMs), String(t.samplesPerS), String(t.predictedSamplesPerS), `${t.lossFirst?.toFixed(4) ?? '-'} -> ${t.lossLast?.toFixed(4) ?? '-'}`, t.replicasAgree ? 'yes' : 'NO']
    }),
    'Step times in profile time (wall / K). The objective is the mean square of the encoder\'s outputs (the emulated data has no labels).')
  printTable('Where the time goes (mean per stage, from the devices\' traces; wall-clock ms)',
    ['scenario', 'planner', 'sending', 'stage', 'devices', 'inputs in ms', 'queue + compute ms', 'send ms'],
    inference.flatMap((r) => r.summary.breakdownMs.map((b) => [label(r), r.planner, r.coordination === 'slots' ? 'slots' : 'uncoordinated', String(b.stage), b.devices.join('+'), String(b.transferInMs), String(b.computeMs), String(b.sendMs)])))
}

if (want('load')) {
  progress('load: 1,000 emulated devices heartbeating at 1 Hz against one hub ...')
  const rows = await loadBench(1000, 30, progress)
  printTable('Load: 1,000 lightweight emulated devices (no model) heartbeating at 1 Hz against one hub, 30 s window',
    ['broker', 'devices online', 'heartbeats received / sent', 'missed (seq gaps)', 'heartbeat -> registry mean ms', 'p95 ms', 'hub process CPU', 'broker process CPU'],
    rows.map((r) => [r.broker, `${r.online} / ${r.devices}`, `${r.heartbeats} / ~${r.expected}`, String(r.missed), r.meanMs.toFixed(1), r.p95Ms.toFixed(1), `${r.hubCpuPct.toFixed(0)}% of a core`, r.brokerCpuPct === null ? 'in the hub process' : `${r.brokerCpuPct.toFixed(0)}% of a core`]),
    'The devices run in one separate process (1,000 MQTT connections, each with its own credentials and last will); latency is from the device\'s send time to the hub\'s registry event, same machine and clock. With the embedded broker, the hub process also runs Aedes.')
}

if (want('plans')) {
  const { instances, holdRows, baselineRows, accuracyRows, scaleRow } = await import('./plans-hold.js')
  const list = await instances()
  progress('plans: Dora\'s chosen plans, 600 s x 5 seeds ...')
  const hold = holdRows(list, 5)
  const pct = (a: number, b: number) => `${((a / b - 1) * 100).toFixed(1)}%`
  printTable('Plans that hold: Dora\'s chosen plan predicted vs simulated (EMULATION, 600 s, mean of 5 seeds)',
    ['instance', 'plan ms', 'predicted mean', 'simulated mean', 'off', 'predicted p95', 'simulated p95', 'off', 'bounds met (seeds)'],
    hold.map((r) => r.predicted && r.simulated
      ? [r.name, r.planMs.toFixed(0), r.predicted.latencyMs.toFixed(1), r.simulated.latencyMs.toFixed(1), pct(r.predicted.latencyMs, r.simulated.latencyMs), r.predicted.p95LatencyMs.toFixed(1), r.simulated.p95LatencyMs.toFixed(1), pct(r.predicted.p95LatencyMs, r.simulated.p95LatencyMs), `${r.simulated.met}/${r.simulated.seeds}`]
      : [r.name, r.planMs.toFixed(0), '-', '-', '-', '-', '-', '-', 'no compliant plan']),
    `Shipped scenarios and 20 seeded random fleets (test/helpers/random-fleets.ts, seeds 1001-1020; bounds: half the fastest device's capacity, 3x / 5x its latency). Chosen plans meeting their bounds in every seed: ${hold.filter((r) => r.simulated && r.simulated.met === r.simulated.seeds).length} of ${hold.filter((r) => r.simulated).length}.`)
  progress('plans: every planner on every instance ...')
  const base = baselineRows(list)
  printTable('Dora against every baseline on the same instances (EMULATION, 600 s, seed 1)',
    ['planner', 'QoE met', 'J/request vs Dora where both meet the QoE', 'stopped by its step budget'],
    base.map((r) => [r.planner, `${r.met}/${r.of}`, r.energyVsDora === null ? '-' : `${r.energyVsDora.toFixed(2)}x`, String(r.budget)]))
  progress('plans: cost model vs simulator on 500 random plans ...')
  const acc = accuracyRows(500)
  const under = acc.filter((r) => r.utilisation <= 0.8)
  const ok = under.filter((r) => Math.abs(r.meanErr) <= 0.05 && Math.abs(r.p95Err) <= 0.1)
  const q = (xs: number[], p: number) => xs.sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))]!
  printTable('Cost model vs simulator under load: 500 random plans (EMULATION, 600 s or 20,000 requests)',
    ['plans', 'busiest resource <= 80%', 'mean within 5% and p95 within 10%', 'median |mean error|', '90th pct |mean error|', 'median |p95 error|', '90th pct |p95 error|', 'over 80% busy (not judged)'],
    [[String(acc.length), String(under.length), `${ok.length} (${((ok.length / under.length) * 100).toFixed(0)}%)`,
      `${(q(under.map((r) => Math.abs(r.meanErr)), 0.5) * 100).toFixed(1)}%`, `${(q(under.map((r) => Math.abs(r.meanErr)), 0.9) * 100).toFixed(1)}%`,
      `${(q(under.map((r) => Math.abs(r.p95Err)), 0.5) * 100).toFixed(1)}%`, `${(q(under.map((r) => Math.abs(r.p95Err)), 0.9) * 100).toFixed(1)}%`, String(acc.length - under.length)]])
  progress('plans: 48 devices, 12-layer encoder ...')
  const s = scaleRow()
  printTable('Scale: 48 devices of six kinds, 12-layer encoder (bench/fleet48.ts)',
    ['Dora plan ms', 'compare (every planner planned + 120 s simulated) ms', 'process RSS MB', 'baselines stopped by their budget'],
    [[s.planMs.toFixed(0), s.compareMs.toFixed(0), s.rssMb.toFixed(0), s.notes.join('; ') || 'none']])
}

if (want('flood')) {
  const rows = [...await floodBench(20_000, progress), ...(await floodBench(200, progress, 'heavy')).slice(1)]
  printTable('A device joining right after a flood of bad heartbeats from another device account (embedded broker, loopback)',
    ['bad heartbeats before the join', 'connect -> online in the registry, ms', 'connect -> assignment received, ms', 'error replies to the flooder'],
    rows.map((r) => [`${r.badHeartbeats}${r.badHeartbeats ? ` ${r.kind === 'heavy' ? 'of 1 MB valid CBOR (a million empty maps)' : 'undecodable (3 bytes)'}` : ''}`, r.joinMs.toFixed(0), Number.isNaN(r.assignmentMs) ? 'none in 60 s' : r.assignmentMs.toFixed(0), String(r.errorReplies)]),
    'One run each on a fresh hub with a configured MLP job; the joining device is emulated (its caps are synthetic).')
}

function fmt(x: number | null): string {
  return x === null ? '-' : x.toFixed(0)
}
