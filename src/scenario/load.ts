/** Reading a scenario file and turning it into the planner's inputs (fleet, job, network). */
import { dirname, isAbsolute, resolve } from 'node:path'
import { readConfigFile } from '../config/load.js'
import { formatIssues } from '../protocol/payloads.js'
import { DoraError, ErrorCodes } from '../errors.js'
import { scenarioSchema, type JobConfig, type Scenario } from './schema.js'
import { loadModelBytes, profileModel, type Profile } from '../model/load.js'
import { zooModel } from '../model/zoo/index.js'
import { toModelProfile } from '../planner/model-profile.js'
import { compressBoundaries } from '../planner/compression.js'
import { compressionErrors } from '../model/compression-error.js'
import { WIFI_STANDARDS } from '../planner/network/wifi.js'
import { transportWithChunks } from '../planner/network/transport.js'
import type { Fleet, Network, DeviceProfile, Job, ModelProfile } from '../planner/types.js'

export async function readScenario(file: string): Promise<Scenario> {
  const tree = await readConfigFile(file)
  const parsed = scenarioSchema.safeParse(tree)
  if (!parsed.success) throw new DoraError(ErrorCodes.SCENARIO_INVALID, `invalid scenario ${file}: ${formatIssues(parsed.error)}`)
  return parsed.data
}

export interface PlanningInputs {
  scenario: Scenario
  fleet: Fleet
  job: Job
  network: Network
}

/** `maxLayers`: candidate cut points kept in the model profile (toModelProfile). */
export async function planningInputs(file: string, scenario: Scenario, coordination: Network['coordination'] = 'scheduled', maxLayers = 24): Promise<PlanningInputs> {
  const model = (await loadJobModel(scenario.job.model, dirname(file), scenario.job.batch, maxLayers, scenario.job.compression?.maxOutputError)).model
  const devices = new Map<string, DeviceProfile>(scenario.devices.map((d) => [d.id, { ...d, emulated: true }]))
  const job = plannerJob(scenario.job, model)
  const bg = scenario.network.background
  const network: Network = {
    standard: WIFI_STANDARDS[scenario.network.standard]!, coordination,
    availableAirtime: scenario.network.availableAirtime * (1 - (bg?.airShare ?? 0)),
    ...(bg ? { background: bg } : {}),
    ...(scenario.network.grantRoundTripMs !== undefined ? { grantRoundTripMs: scenario.network.grantRoundTripMs } : {}),
    ...(scenario.network.chunkBytes !== undefined ? { transport: transportWithChunks(scenario.network.chunkBytes) } : {}),
  }
  return { scenario, fleet: { devices }, job, network }
}

/** Loads a zoo model or an ONNX file (relative to `baseDir`) and profiles it for the planner. */
export async function modelProfileFor(ref: string, baseDir: string, batch: number, maxLayers = 24): Promise<ModelProfile> {
  return (await loadJobModel(ref, baseDir, batch, maxLayers)).model
}

/** The planner's profile of a job's model and the ONNX profile it came from (to cut stage models). */
export async function loadJobModel(ref: string, baseDir: string, batch: number, maxLayers = 24, maxOutputError?: number): Promise<{ model: ModelProfile; onnx: Profile }> {
  const modelRef = zooModel(ref) || isAbsolute(ref) ? ref : resolve(baseDir, ref)
  const { bytes, source } = await loadModelBytes(modelRef)
  const p = await profileModel(bytes, source, { batch })
  const bytesOf = (names: Array<string | null | undefined>) => names.reduce((s, n) => s + (p.shapes.values.get(n ?? '')?.bytes ?? 0), 0)
  const model = toModelProfile({
    name: p.graph.name,
    costs: p.costs,
    cuts: p.cuts,
    inputBytes: bytesOf(p.graph.inputs.map((v) => v.name)),
    outputBytes: bytesOf(p.graph.outputs.map((v) => v.name)),
    batch,
    modelOutputBytesByNode: p.graph.nodes.map((n) => bytesOf(n.outputs.filter((o) => p.graph.outputs.some((v) => v.name === o)))),
  }, maxLayers)
  if (maxOutputError === undefined || !model.nodeBounds) return { model, onnx: p }
  // activation compression: each kept cut's output error per codec, measured (seeded inputs)
  const inner = model.nodeBounds.slice(1, -1)
  const errors = await compressionErrors(p, inner)
  return { model: compressBoundaries(model, errors.map((e, i) => ({ boundary: i + 1, floatBytes: e.floatBytes / batch, error: e.error })), maxOutputError), onnx: p }
}

/** A validated job (scenario or hub config) as the planner's Job. */
export function plannerJob(j: JobConfig, model: ModelProfile): Job {
  const srcs = j.sources ?? []
  const rateRps = srcs.length ? srcs.reduce((a, x) => a + x.rateRps, 0) : j.rateRps!
  return {
    id: j.id, model, rateRps, qoe: j.qoe, goal: j.goal, sourceDevice: j.source,
    resultsTo: j.results === 'source' ? 'source' : { device: j.results === 'hub' ? null : j.results.device },
    ...(srcs.length ? { sources: srcs.map((x) => ({ device: x.device, share: x.rateRps / rateRps })) } : {}),
    ...(j.training ? { training: j.training } : {}),
    ...(j.transfers ? { transfers: j.transfers } : {}),
  }
}
