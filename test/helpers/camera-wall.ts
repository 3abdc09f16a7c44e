/**
 * camera-wall (config/scenarios/camera-wall.yaml) cut down to two cameras and the mini PC, as the
 * scheduler and simulator tests of slots use it: each camera runs the first stage on its own
 * frames, the mini PC the rest (camera-wall's plan at 80 frames/s), at 44 frames/s shared 3:1.
 * And the whole fleet at a multiple of its rate with Dora's chosen plan (cameraWallAt).
 */
import { fileURLToPath } from 'node:url'
import { planningInputs, readScenario } from '../../src/scenario/load.js'
import { partition } from '../../src/planner/partition.js'

export async function twoCamerasAndMiniPc() {
  const file = fileURLToPath(new URL('../../config/scenarios/camera-wall.yaml', import.meta.url))
  const inputs = await planningInputs(file, await readScenario(file))
  const keep = ['cam-a', 'cam-b', 'mini-pc']
  const fleet = { ...inputs.fleet, devices: new Map([...inputs.fleet.devices].filter(([id]) => keep.includes(id))) }
  const full = partition({ ...inputs.job, rateRps: 80 }, inputs.fleet, { network: inputs.network })
  if (!full.ok) throw new Error('camera-wall: no plan')
  const p = full.chosen.plan
  if (p.stages.length !== 2) throw new Error(`camera-wall: a plan of ${p.stages.length} stages, not 2`)
  const plan = { ...p, stages: [{ ...p.stages[0]!, devices: ['cam-a', 'cam-b'] }, p.stages[1]!] }
  const job = { ...inputs.job, rateRps: 44, sources: [{ device: 'cam-a', share: 0.75 }, { device: 'cam-b', share: 0.25 }] }
  return { network: inputs.network, fleet, plan, job }
}

/** camera-wall at `load` times its rate, with the plan Dora chooses for it. */
export async function cameraWallAt(load: number) {
  const file = fileURLToPath(new URL('../../config/scenarios/camera-wall.yaml', import.meta.url))
  const inputs = await planningInputs(file, await readScenario(file))
  const job = { ...inputs.job, rateRps: inputs.job.rateRps * load }
  const res = partition(job, inputs.fleet, { network: inputs.network })
  if (!res.ok) throw new Error('camera-wall: no plan')
  return { inputs, job, plan: res.chosen.plan }
}
