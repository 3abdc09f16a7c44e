/**
 * Training checkpoints on the wire (topics.md § Training checkpoints). A parameter's state travels
 * as one tensor in the tensor-chunk format (CBOR, CRC-32 per chunk, bounded reassembly): name the
 * parameter's, float32, shape [3, ...dims] (values, Adam's first moment, second moment), `epoch`
 * the plan epoch it was taken in, `req` = `ckpt:{step}:{t}` (the state before optimizer step
 * `step`, after `t` Adam updates). Restore requests and answers are small CBOR maps.
 */
import { z } from 'zod'
import { PROTOCOL_VERSION } from './topics.js'
import { textList } from './text-lists.js'

const version = z.literal(PROTOCOL_VERSION)
const count = z.number().int().nonnegative().max(2 ** 40)
const paramName = z.string().min(1).max(256)

/** Most parameters one stage may ask for (the stage assignment's own bound). */
export const MAX_STAGE_PARAMS = 100_000

/**
 * The one device of a stage that sends its periodic checkpoints: the stage's first replica. The
 * replicas of a stage hold the same state after every step (they all-reduce their gradients), so
 * one copy is enough; the planner's cost model, the simulator and the devices all use this.
 */
export function checkpointSender(replicas: readonly string[]): string | undefined {
  return replicas[0]
}

/**
 * The one device of a stage that hands its state over to the hub at a new plan epoch: the first of
 * its replicas (in the epoch it trained in) that the new epoch does not name as departed (a
 * crashed first replica cannot send; another holds the same state). Devices and the hub both use
 * this, so the hub waits for that one handover per stage and no other replica sends a copy.
 */
export function handoverSender(replicas: readonly string[], departed: readonly string[]): string | undefined {
  return replicas.find((id) => !departed.includes(id))
}

export function checkpointReq(step: number, t: number): string {
  return `ckpt:${step}:${t}`
}

/** The step and Adam count a checkpoint tensor's request id names, or null when it is not one. */
export function parseCheckpointReq(req: string): { step: number; t: number } | null {
  const m = /^ckpt:(\d{1,13}):(\d{1,13})$/.exec(req)
  return m ? { step: Number(m[1]), t: Number(m[2]) } : null
}

/** A device asks the hub for the state of its stage's parameters before optimizer step `step` of `epoch` (on `.../restore`). */
export const restoreWantSchema = z.object({
  v: version,
  kind: z.literal('want'),
  device: z.string().min(1).max(128),
  epoch: z.number().int().positive(),
  step: count,
  // one loop, one issue (text-lists.ts): a hostile 100,000 non-names would cost zod a second of issues
  params: textList({ min: 1, max: MAX_STAGE_PARAMS, maxChars: 256 }),
  /** The step the device's own state of these parameters is before (null or absent: it has none): the hub sends only newer state. */
  have: count.nullable().optional(),
})
export type RestoreWant = z.infer<typeof restoreWantSchema>

/**
 * The hub's answer (on `.../restore/{device}`): per parameter asked for, the checkpoint it sends
 * (its step and Adam count; the tensor follows on `.../checkpoint/{device}`), or null: the hub
 * has none (the parameter keeps what the device has).
 */
export const restoreAnswerSchema = z.object({
  v: version,
  kind: z.literal('restore'),
  epoch: z.number().int().positive(),
  step: count,
  params: z.array(z.object({ name: paramName, from: z.object({ step: count, t: count }).nullable() })).max(MAX_STAGE_PARAMS),
})
export type RestoreAnswer = z.infer<typeof restoreAnswerSchema>
