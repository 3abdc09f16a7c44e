/**
 * Activation compression per cut, as the planner sees it (pure): at each layer boundary the
 * smallest codec whose measured output error (src/model/compression-error.ts) is within the
 * job's bound; the boundary then carries fewer bytes (float16: half of its float32 tensors,
 * int8: a quarter), so the partitioner and the cost model weigh cuts by what really crosses
 * them. Errors were measured one cut at a time: a plan with several compressed cuts can add them.
 */
import { CODEC_BYTES, type ActivationCodec } from '../protocol/activation-codec.js'
import type { ModelProfile } from './types.js'

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
  for (const e of errors) {
    if (e.boundary <= 0 || e.boundary >= model.layers.length) continue
    const codec = BY_SIZE.find((c) => e.error[c] <= maxOutputError)
    if (!codec) continue
    codecs[e.boundary] = codec
    boundaryBytes[e.boundary] = boundaryBytes[e.boundary]! - e.floatBytes * (1 - CODEC_BYTES[codec] / 4)
  }
  return { ...model, boundaryBytes, boundaryCodecs: codecs }
}
