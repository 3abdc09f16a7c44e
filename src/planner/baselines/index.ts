/** The baseline planners by name, all through Dora's plan type and cost model. */
import { bestSingleDevice, coEdge, dataParallelOnly, equalSplit, exoFewest, exoRing, petals } from './simple.js'
import { edgeShard, pipeEdge } from './stage-dp.js'
import { hybridDp } from './hybrid-dp.js'

export const BASELINES = {
  pipeedge: pipeEdge,
  'hybrid-dp': hybridDp,
  edgeshard: edgeShard,
  coedge: coEdge,
  petals,
  'single-device': bestSingleDevice,
  'equal-split': equalSplit,
  'data-parallel': dataParallelOnly,
  exo: exoRing,
  'exo-fewest': exoFewest,
} as const

export type BaselineName = keyof typeof BASELINES
