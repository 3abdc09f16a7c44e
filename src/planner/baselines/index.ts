/** The baseline planners by name, all through Dora's plan type and cost model. */
import { bestSingleDevice, dataParallelOnly, equalSplit, exoRing } from './simple.js'
import { pipeEdge } from './pipeedge.js'

export const BASELINES = {
  pipeedge: pipeEdge,
  'single-device': bestSingleDevice,
  'equal-split': equalSplit,
  'data-parallel': dataParallelOnly,
  exo: exoRing,
} as const

export type BaselineName = keyof typeof BASELINES
