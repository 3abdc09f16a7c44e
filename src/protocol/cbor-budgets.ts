/**
 * The decoding budget of every CBOR message Dora reads (topics.md § Payloads, budgets): how many
 * bytes, items and levels of nesting one message of a topic may have before `decodeCbor` builds
 * it. Each budget is the largest message its schema accepts (items counted from the schema's
 * bounds below; test/protocol/cbor-budgets.test.ts builds those messages) plus ROOM for keys to
 * come, so no valid message is refused; anything more is refused unread, whoever sent it.
 *
 * Device-written topics (caps, heartbeat, air, receipts, steps, restore requests) and operators'
 * uploads are what a hostile client controls; the hub-written ones (plans, assignments, grants,
 * model chunks, restore answers) only the hub may publish (broker ACL), and their budgets are the
 * schemas' (large) bounds. Tensor messages have theirs in chunk-batch.ts.
 */
import type { CborBudget } from './codec.js'
import { MAX_STAGE_PARAMS } from './checkpoint.js'

/** Items of room above a schema's largest message, for keys a later revision adds. */
const ROOM = 64

/** Items of a map of these values (each key is an item too). */
function map(...values: number[]): number {
  return 1 + values.length + values.reduce((a, b) => a + b, 0)
}

/** Items of an array of `n` elements of `each` items. */
function array(n: number, each = 1): number {
  return 1 + n * each
}

const budget = (what: string, maxItems: number, maxDepth: number, maxBytes?: number): CborBudget =>
  ({ what, maxItems: maxItems + ROOM, maxDepth: maxDepth + 1, ...(maxBytes !== undefined ? { maxBytes } : {}) })

// payloads.ts: a stage of a plan part, a plan part; an assignment's stage and slot
const planStage = map(array(2), array(2), array(1024), array(256), array(256), array(1024), 1)
const planPart = map(1, 1, 1, array(64, planStage), map(1, 1, 1, 1, array(1024)), 1)
const tensorSpec = map(1, 1, array(16))
const modelRef = map(1, 1, 1)
const assignmentStage = map(1, 1, array(2), array(2), 1, modelRef, modelRef, array(MAX_STAGE_PARAMS), map(1, 1, 1))

/**
 * The byte bounds of a device's control messages (the hub checks them before a byte is scanned):
 * caps 16 KiB, heartbeat 64 KiB, air 1 KiB, availability (a word, not CBOR) 64 bytes.
 */
export const DEVICE_MESSAGE_MAX_BYTES = { caps: 16 * 1024, heartbeat: 64 * 1024, availability: 64, air: 1024 } as const

export const CBOR_BUDGETS = {
  // device-written
  caps: budget('caps', map(1, 1, 1, 1, map(1, map(1, 1, 1), array(16)), map(1, 1), map(1, 1, map(1, 1, 1)), map(1, 1, 1), map(1, 1)), 3, DEVICE_MESSAGE_MAX_BYTES.caps),
  heartbeat: budget('heartbeat', map(1, 1, 1, 1, 1, 1, 1, 1, 1, array(256, map(1, 1, 1, 1)), 1, array(64, map(1, 1, 1, 1)), map(1, 1)), 3, DEVICE_MESSAGE_MAX_BYTES.heartbeat),
  air: budget('air message', map(1, 1, 1, 1, 1), 1, DEVICE_MESSAGE_MAX_BYTES.air),
  receipt: budget('receipt', map(1, 1, 1, array(64), 1), 2),
  /** A training step: `start` names every micro-batch's route (at most 4096 of at most 64 devices). */
  trainingStep: budget('training step', map(1, 1, 1, 1, 1, array(4096, array(64)), 1), 3),
  restoreWant: budget('restore request', map(1, 1, 1, 1, 1, array(MAX_STAGE_PARAMS), 1), 2),
  /** A model chunk an operator uploads (`dora job submit`), as the hub's own model chunks. */
  modelChunk: budget('model chunk', map(1, 1, 1, 1, 1, 1), 1),
  // hub-written
  plan: budget('plan', map(1, 1, 1, 1, array(16, planPart), map(1, 1, 1), array(64, tensorSpec), array(64), array(1024), array(1024), 1, 1, 1, map(1, 1)), 6),
  assignment: budget('assignment', map(1, 1, 1, 1, array(64, assignmentStage), array(100_000, map(1, 1, 1, 1, 1, 1))), 4),
  grant: budget('air grant', map(1, 1, 1, 1), 1),
  restoreAnswer: budget('restore answer', map(1, 1, 1, 1, array(MAX_STAGE_PARAMS, map(1, map(1, 1)))), 4),
  /** The header of a record in the hub's checkpoint file (its own disk: a damaged file gives none). */
  checkpointRecord: budget('checkpoint record header', map(1, array(16), 1, 1, 1, 1), 2, 4096),
} as const satisfies Record<string, CborBudget>

export type CborTopic = keyof typeof CBOR_BUDGETS
