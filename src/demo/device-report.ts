/**
 * The channel from a `dora device` process to the `dora demo` that started it: one JSON object
 * per stdout line, `{"dora":"report","v":1,"kind":...,"data":...}`, validated with the schemas
 * here on both ends (device-firmware-bridge/README.md § Reports to dora demo). Every other
 * stdout line is text for people. Kinds:
 * - `trace`: a request's stage has its inputs, has run, or has sent its outputs (`--trace`);
 * - `step`: a training source finished an optimizer step;
 * - `training-stats`: all of a training source's steps, when it stops;
 * - `source-stats`: a request source's statistics, when it stops.
 */
import { z } from 'zod'
import type { StepRecord } from '../../device-firmware-bridge/training-source.js'
import type { RequesterStats } from '../runtime/requester.js'

const num = z.number()
const traceSchema = z.object({
  jobId: z.string().max(256).optional(),
  req: z.string().max(256),
  stage: z.number().int().nonnegative(),
  phase: z.enum(['inputs', 'ran', 'sent']),
  atMs: num,
  t0: num,
  lateMs: num.optional(),
})
const stepSchema = z.object({
  step: z.number().int(), epoch: z.number().int(), planId: z.string().max(256), ok: z.boolean(), ms: num, samples: num,
  loss: num.nullable(), replicasAgree: z.boolean(), predictedMs: num,
})
const sourceStatsSchema = z.object({
  sent: num, skipped: num, completed: num, failed: num, resent: num, duplicates: num, outstanding: num,
  latenciesMs: z.array(num).max(10_000_000),
  failures: z.array(z.object({ id: z.string(), reason: z.string() })).max(1_000_000),
})

export const deviceReportSchema = z.discriminatedUnion('kind', [
  z.object({ dora: z.literal('report'), v: z.literal(1), kind: z.literal('trace'), data: traceSchema }),
  z.object({ dora: z.literal('report'), v: z.literal(1), kind: z.literal('step'), data: stepSchema }),
  z.object({ dora: z.literal('report'), v: z.literal(1), kind: z.literal('training-stats'), data: z.array(stepSchema).max(1_000_000) }),
  z.object({ dora: z.literal('report'), v: z.literal(1), kind: z.literal('source-stats'), data: sourceStatsSchema }),
])

export type DeviceReport = z.infer<typeof deviceReportSchema>
export type TraceReport = z.infer<typeof traceSchema>

// the schemas describe exactly what the device side produces
const _step: StepRecord = {} as z.infer<typeof stepSchema>
const _stats: RequesterStats = {} as z.infer<typeof sourceStatsSchema>
void _step
void _stats

/** One report as its stdout line (with the newline). */
export function reportLine(kind: DeviceReport['kind'], data: unknown): string {
  return `${JSON.stringify({ dora: 'report', v: 1, kind, data })}\n`
}

/**
 * A stdout line of a device: a report, text for people (null), or a line that claims to be a
 * report but does not hold one (the reason).
 */
export function parseReportLine(line: string): { ok: true; report: DeviceReport } | { ok: false; error: string } | null {
  if (!line.startsWith('{"dora":"report"')) return null
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` }
  }
  const r = deviceReportSchema.safeParse(v)
  return r.success ? { ok: true, report: r.data } : { ok: false, error: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') }
}
