/**
 * What comes back from the adapter's worker thread (adapt-worker.ts), checked before the hub
 * uses it: the reply envelope and the shape of the decision (what the job service reads of it:
 * the action, the adapter state, the epoch's plans, weights, assignments and predictions).
 * Numbers may be infinite (an overloaded plan's latency), as the in-thread call returns them.
 */
import { z } from 'zod'
import type { AdaptAction, AdaptDecision } from '../planner/adapt/adapter.js'

/** Every action a decision may name (a new one fails the type check here until it is added). */
const ACTIONS: Record<AdaptAction, true> = { keep: true, recompose: true, replan: true, quick: true, infeasible: true }

const num = z.custom<number>((x) => typeof x === 'number', 'a number')
const layers = z.tuple([num, num])
const plan = z.looseObject({
  id: z.string(),
  stages: z.array(z.looseObject({ layers, devices: z.array(z.string()) })),
  microBatch: num,
  planner: z.string(),
})
const epoch = z.looseObject({
  epoch: z.number().int().positive(),
  activateAtMs: num,
  parts: z.array(z.looseObject({ plan, weight: num, schedule: z.looseObject({}).nullable() })).min(1),
  assignments: z.record(z.string(), z.array(z.looseObject({ planId: z.string(), stage: num, layers }))),
  predicted: z.looseObject({ latencyMs: num, p95LatencyMs: num, energyJPerRequest: num }),
  reason: z.string(),
})
const state = z.looseObject({
  candidates: z.array(plan),
  current: epoch.nullable(),
  objective: num.nullable(),
  cycleMs: num,
  known: z.array(z.string()),
})
const decision = z.looseObject({
  action: z.enum(Object.keys(ACTIONS) as [AdaptAction, ...AdaptAction[]]),
  state,
  epoch: epoch.nullable(),
  reason: z.string(),
})

/** A worker's reply to request `id`: its decision, or the error the search threw. */
export type ThreadReply = { readonly id: number; readonly decision: AdaptDecision } | { readonly id: number; readonly error: string }

/** The reply as sent (not a copy), or what is wrong with it. */
export function checkReply(x: unknown): { ok: true; reply: ThreadReply } | { ok: false; problem: string } {
  if (typeof x !== 'object' || x === null || typeof (x as { id?: unknown }).id !== 'number') return { ok: false, problem: 'not a reply (no request id)' }
  if (typeof (x as { error?: unknown }).error === 'string') return { ok: true, reply: x as ThreadReply }
  if (!('decision' in x)) return { ok: false, problem: 'not a reply (neither a decision nor an error)' }
  const d = decision.safeParse(x.decision)
  if (!d.success) return { ok: false, problem: `not a decision: ${z.prettifyError(d.error).slice(0, 500)}` }
  return { ok: true, reply: x as ThreadReply }
}
