/**
 * Activation compression per cut, as the planner sees it (pure): at each layer boundary the
 * smallest codec whose measured output error (src/model/compression-error.ts) is within the
 * job's bound; the boundary then carries fewer bytes (float16: half of its float32 tensors,
 * int8: a quarter), so the partitioner and the cost model weigh cuts by what really crosses
 * them. Errors were measured one cut at a time, and they add over cuts (ResNet-18, int8 at two
 * cuts: 1.2-1.5e-3 together against 0.7e-3 and 1.24e-3 alone, BENCHMARKS.md): the bound holds for
 * a request's whole path, the sum of the errors of the compressed cuts it crosses
 * (planOutputError; the cost model refuses a plan above it), a conservative estimate the
 * measured path error (src/model/compression-error.ts pathCompressionError) stays within.
 */
import { CODEC_BYTES, type ActivationCodec } from '../protocol/activation-codec.js'
import type { ModelProfile, Plan } from './types.js'

export interface BoundaryError {
  /** Layer boundary index (1 .. layers - 1). */
  readonly boundary: number
  /** Float32 bytes per sample crossing it. */
  readonly floatBytes: number
  readonly error: Readonly<Record<ActivationCodec, number>>
}

/** Smallest first: the codec each boundary tries in turn. */
const BY_SIZE: readonly ActivationCodec[] = (['int8', 'fp16'] as const).slice().sort((a, b) => CODEC_BYTES[a] - CODEC_BYTES[b])

export function compressBoundaries(model: ModelProfile, errors: readonly BoundaryError[], maxOutputError: number): ModelProfile {
  const boundaryBytes = [...model.boundaryBytes]
  const codecs: Array<ActivationCodec | null> = model.boundaryBytes.map(() => null)
  const boundaryErrors = model.boundaryBytes.map(() => 0)
  for (const e of errors) {
    if (e.boundary <= 0 || e.boundary >= model.layers.length) continue
    const codec = BY_SIZE.find((c) => e.error[c] <= maxOutputError)
    if (!codec) continue
    codecs[e.boundary] = codec
    boundaryErrors[e.boundary] = e.error[codec]
    boundaryBytes[e.boundary] = boundaryBytes[e.boundary]! - e.floatBytes * (1 - CODEC_BYTES[codec] / 4)
  }
  return { ...model, boundaryBytes, boundaryCodecs: codecs, boundaryErrors, maxOutputError }
}

/**
 * The output error a request of `plan` gets from activation compression, estimated as the sum of
 * the single-cut errors of the compressed cuts between its stages (0 without compression).
 */
export function planOutputError(model: ModelProfile, plan: Plan): number {
  const errors = model.boundaryErrors
  if (!errors) return 0
  return plan.stages.reduce((sum, s) => sum + (s.layers[0] > 0 ? errors[s.layers[0]] ?? 0 : 0), 0)
}
