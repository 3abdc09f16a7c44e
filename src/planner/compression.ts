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
 * A plan whose cuts add above the bound sends lighter on some of them (withinErrorBound: int8 ->
 * fp16 -> float32, the cut that saves the fewest bytes per unit of error first), so only a plan
 * that fails uncompressed is refused for its error, and never is (float32 adds none).
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

/** Wire bytes per float32 byte with a codec (null: float32). */
function wireShare(c: ActivationCodec | null): number {
  return c ? CODEC_BYTES[c] / 4 : 1
}

export function compressBoundaries(model: ModelProfile, errors: readonly BoundaryError[], maxOutputError: number): ModelProfile {
  const boundaryBytes = [...model.boundaryBytes]
  const codecs: Array<ActivationCodec | null> = model.boundaryBytes.map(() => null)
  const boundaryErrors = model.boundaryBytes.map(() => 0)
  const options: Array<{ floatBytes: number; error: Readonly<Record<ActivationCodec, number>> } | null> = model.boundaryBytes.map(() => null)
  for (const e of errors) {
    if (e.boundary <= 0 || e.boundary >= model.layers.length) continue
    const codec = BY_SIZE.find((c) => e.error[c] <= maxOutputError)
    if (!codec) continue
    codecs[e.boundary] = codec
    boundaryErrors[e.boundary] = e.error[codec]
    options[e.boundary] = { floatBytes: e.floatBytes, error: e.error }
    boundaryBytes[e.boundary] = boundaryBytes[e.boundary]! - e.floatBytes * (1 - wireShare(codec))
  }
  return { ...model, boundaryBytes, boundaryCodecs: codecs, boundaryErrors, boundaryOptions: options, maxOutputError }
}

/** How a plan's float32 tensors cross `boundary` (null: float32): its own lighter codec, else the model's. */
export function cutCodec(model: ModelProfile, plan: Plan, boundary: number): ActivationCodec | null {
  const own = plan.codecs?.[boundary]
  return own !== undefined ? own : model.boundaryCodecs?.[boundary] ?? null
}

/** Bytes per sample that cross `boundary` in `plan`: the model's boundaryBytes, with the plan's lighter codec where it has one. */
export function cutBytes(model: ModelProfile, plan: Plan, boundary: number): number {
  const base = model.boundaryBytes[boundary]!
  const own = plan.codecs?.[boundary]
  const o = model.boundaryOptions?.[boundary]
  if (own === undefined || !o) return base
  return base + o.floatBytes * (wireShare(own) - wireShare(model.boundaryCodecs?.[boundary] ?? null))
}

/** The single-cut output error of `plan`'s codec at `boundary` (0: float32). */
function cutError(model: ModelProfile, plan: Plan, boundary: number): number {
  const own = plan.codecs?.[boundary]
  if (own === undefined) return model.boundaryErrors?.[boundary] ?? 0
  return own ? model.boundaryOptions?.[boundary]?.error[own] ?? 0 : 0
}

/**
 * The output error a request of `plan` gets from activation compression, estimated as the sum of
 * the single-cut errors of the compressed cuts between its stages (0 without compression).
 */
export function planOutputError(model: ModelProfile, plan: Plan): number {
  if (!model.boundaryErrors) return 0
  return plan.stages.reduce((sum, s) => sum + (s.layers[0] > 0 ? cutError(model, plan, s.layers[0]) : 0), 0)
}

/**
 * `plan` with its summed compression error within the model's bound: while the sum is above it,
 * one compressed cut goes one codec lighter (int8 -> fp16 where fp16 errs less, else float32),
 * the cut that gives up the fewest bytes per unit of error it removes first (the cheapest error
 * to buy back); the plan's `codecs` name the cuts changed. Unchanged when already within.
 */
export function withinErrorBound(model: ModelProfile, plan: Plan): Plan {
  const bound = model.maxOutputError
  if (bound === undefined || !model.boundaryOptions) return plan
  const cuts = plan.stages.map((s) => s.layers[0]).filter((b) => b > 0)
  let p = plan
  while (planOutputError(model, p) > bound) {
    let best: { boundary: number; codec: ActivationCodec | null; cost: number } | null = null
    for (const b of cuts) {
      const o = model.boundaryOptions[b]
      const c = cutCodec(model, p, b)
      if (!o || !c) continue
      const lighter: ActivationCodec | null = c === 'int8' && o.error.fp16 < o.error.int8 ? 'fp16' : null
      const removed = o.error[c] - (lighter ? o.error[lighter] : 0)
      const cost = (o.floatBytes * (wireShare(lighter) - wireShare(c))) / Math.max(removed, 1e-300)
      if (!best || cost < best.cost) best = { boundary: b, codec: lighter, cost }
    }
    if (!best) break
    p = { ...p, codecs: { ...p.codecs, [best.boundary]: best.codec } }
  }
  return p
}
