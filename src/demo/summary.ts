/**
 * The demo's summary (pure): a run's request statistics or training steps turned into the
 * figures it reports, in profile time (wall-clock divided by the emulation clock; EMULATION).
 */
import { meanAndP95, mixtureP95 } from '../shared/stats.js'
import type { RequesterStats } from '../runtime/requester.js'
import type { StepRecord } from '../../device-firmware-bridge/training-source.js'
import type { DemoSummary, TrainingSummary } from './types.js'

/** The fields every summary has. */
export type CommonSummary = Pick<DemoSummary, 'emulated' | 'scenario' | 'jobId' | 'model' | 'coordination' | 'planner' | 'load' | 'durationS' | 'energyJ' | 'epochs' | 'killed' | 'breakdownMs' | 'timeScale' | 'clock' | 'wifiStalledS' | 'wifi'>

export function trainingResult(common: CommonSummary, steps: readonly StepRecord[], t: TrainingSummary): DemoSummary {
  return {
    ...common,
    requests: steps.length, skipped: 0, completed: t.steps, lost: t.failedSteps, unfinished: 0, resent: 0, duplicates: 0,
    latencyMs: t.stepMs, predictedLatencyMs: { mean: round(t.predictedStepMs), p95: round(t.predictedStepMs) },
    throughputRps: t.samplesPerS, offeredRps: t.predictedSamplesPerS,
    failures: steps.filter((r) => !r.ok).map((r) => ({ id: `step ${r.step}`, reason: 'a device did not finish the step in time' })),
    predictedSlotLatencyMs: null,
    training: t,
  }
}

export interface RequestRun {
  readonly predictedSamples: ReadonlyArray<{ mean: number; p95: number; slots: number | null }>
  readonly modesSeen: ReadonlySet<string>
}

/** A request job's summary: the sources' statistics (wall-clock) over `elapsedS` wall seconds. */
export function requestResult(common: CommonSummary, stats: readonly RequesterStats[], run: RequestRun, coordination: 'slots' | 'none', timeScale: number, elapsedS: number, atConsumer: readonly number[] | null = null): DemoSummary {
  // latency where the results arrive: at the hub when it is the consumer of device sources' requests
  const latencies = (atConsumer ?? stats.flatMap((s) => s.latenciesMs)).map((x) => x / timeScale)
  const lat = latencies.length ? meanAndP95(latencies) : null
  const p = run.predictedSamples
  // one sample a second of the running epoch's prediction: pooled over the run as the measured requests are
  const pred = p.length ? { mean: avg(p.map((x) => x.mean)), p95: mixtureP95(p.map((x) => ({ weight: 1, mean: x.mean, p95: x.p95 }))) } : null
  const sum = (k: 'sent' | 'skipped' | 'completed' | 'failed' | 'resent' | 'duplicates') => stats.reduce((a, s) => a + s[k], 0)
  return {
    ...common,
    requests: sum('sent'),
    skipped: sum('skipped'),
    completed: sum('completed'),
    lost: sum('failed'),
    unfinished: sum('sent') - sum('completed') - sum('failed'),
    resent: sum('resent'),
    duplicates: sum('duplicates'),
    latencyMs: { mean: lat ? round(lat.mean) : null, p95: lat ? round(lat.p95) : null },
    latencyMeasuredAt: atConsumer ? 'consumer (hub)' : 'sources',
    predictedLatencyMs: { mean: pred ? round(pred.mean) : null, p95: pred && Number.isFinite(pred.p95) ? round(pred.p95) : null },
    throughputRps: round((sum('completed') / elapsedS) * timeScale),
    offeredRps: round(((sum('sent') + sum('skipped')) / common.durationS) * timeScale),
    failures: stats.flatMap((s) => s.failures),
    transferMode: [...run.modesSeen].join(', '),
    predictedSlotLatencyMs: coordination === 'slots' && p.length && p.every((x) => x.slots !== null) ? round(avg(p.map((x) => x.slots!))) : null,
    training: null,
  }
}

const avg = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length
const round = (x: number) => Math.round(x * 10) / 10
