/**
 * What a job's devices measured against what the job was planned with: each device's slowdown
 * (measured stage time over the profile's, EWMA alpha 0.5), its link rate, and the latencies the
 * sources report. From them: the fleet the planner sees (profiles from caps, slowed down as
 * measured) and drift, the reasons to plan again (a slowdown, latency or link rate more than
 * `driftThreshold` away from what the running epoch was planned with).
 */
import type { DeviceRecord } from '../registry/registry.js'
import type { PlanEpoch } from '../planner/adapt/adapter.js'
import { runtimeMicroBatch, stageComputeMs } from '../planner/cost.js'
import type { Fleet, Job } from '../planner/types.js'
import type { WifiStandard } from '../planner/network/wifi.js'
import type { DeviceProfile } from '../shared/device-profile.js'
import { measuredLinkRate, profileFromRecord } from './profiles.js'
import { boundSlowdown, isSourceOf, stageTimeRatio } from './plausibility.js'
import { modelledGrantRoundTripS } from '../planner/network/grants.js'
import type { GrantRoundTrips } from './grant-round-trips.js'

export interface MeasurementOptions {
  readonly jobId: string
  readonly batteryMinPct: number
  readonly driftThreshold: number
  readonly standard: WifiStandard | undefined
  /** Told of a report refused or weighed down as implausible (hub/plausibility.ts). */
  readonly onImplausible?: ((deviceId: string, what: string) => void) | undefined
  /** Share of the air the job's network leaves (for the model's grant round trip; default 1). */
  readonly availableAirtime?: number
  /** The grant round trips the devices measured (absent: reports of them are not read). */
  readonly grants?: GrantRoundTrips
}

export class FleetMeasurements {
  /** A source's latest measured mean latency of the job, until the adapter has used it. */
  private measuredLatencyMs: number | undefined = undefined
  /** Requests the sources reported in their heartbeats (for dashboards): when, how many, mean latency. */
  private readonly reported: Array<{ atMs: number; count: number; meanMs: number; p95Ms: number }> = []
  /** Per device: the link rate the running epoch was planned with, bit/s. */
  private readonly plannedLink = new Map<string, number>()
  /** Per device: measured stage time over the profile's prediction (EWMA), and its value when last planned. */
  private readonly slowdown = new Map<string, { now: number; planned: number }>()

  constructor(private readonly o: MeasurementOptions) {}

  /** The fleet to plan with now (online devices as measured); marks what it is planned with. */
  fleetToPlan(online: readonly DeviceRecord[]): Fleet {
    const devices = new Map<string, DeviceProfile>()
    for (const d of online) {
      const s = this.slowdown.get(d.id)
      if (s) s.planned = s.now
      const p = profileFromRecord(d, this.o.batteryMinPct, s?.now ?? 1, this.o.standard)
      if (p?.linkRateBps) this.plannedLink.set(d.id, p.linkRateBps)
      if (p) devices.set(d.id, p)
    }
    return { devices }
  }

  /** The measured grant round trip to plan with, ms (undefined: the model's); marked as planned with. */
  grantRoundTripToPlan(): number | undefined {
    return this.o.grants?.toPlan()
  }

  /** The fleet's measured grant round trip now, ms (undefined: the model's); unlike grantRoundTripToPlan, marks nothing. */
  grantRoundTripMs(): number | undefined {
    return this.o.grants?.figureMs()
  }

  /** A source's measured latency for the adapter (once), if one drifted since the last planning. */
  takeMeasuredLatency(): number | undefined {
    const m = this.measuredLatencyMs
    this.measuredLatencyMs = undefined
    return m
  }

  /**
   * What the sources measured over the last `windowMs` (request-weighted mean latency, the
   * highest p95 reported, requests per second), or null when no source reported.
   */
  figures(nowMs: number, windowMs = 30_000): { latencyMs: number; p95Ms: number; throughputRps: number } | null {
    // keep a minute (the longest window asked for); count only this window's reports
    while (this.reported.length && this.reported[0]!.atMs < nowMs - Math.max(windowMs, 60_000)) this.reported.shift()
    const recent = this.reported.filter((r) => r.atMs >= nowMs - windowMs)
    const n = recent.reduce((a, r) => a + r.count, 0)
    if (!n) return null
    return {
      latencyMs: recent.reduce((a, r) => a + r.count * r.meanMs, 0) / n,
      p95Ms: Math.max(...recent.map((r) => r.p95Ms)),
      throughputRps: n / (windowMs / 1000),
    }
  }

  /** Latencies a source measured (a device's heartbeat, or a request source on the hub itself). */
  sourceReported(r: { count: number; meanMs: number; p95Ms: number }, nowMs: number): void {
    if (!(r.count > 0) || !Number.isFinite(r.meanMs) || !Number.isFinite(r.p95Ms)) return
    this.reported.push({ atMs: nowMs, count: r.count, meanMs: r.meanMs, p95Ms: r.p95Ms })
    if (this.reported.length > 10_000) this.reported.shift()
  }

  /**
   * A device's heartbeat against the running epoch: its stage timings fold into its slowdown,
   * a source's latencies are recorded; returns the reasons to plan again (none: no drift).
   */
  heartbeat(d: DeviceRecord, epoch: PlanEpoch, job: Job, nowMs: number): string[] {
    const hb = d.lastHeartbeat
    if (!hb) return []
    const reasons: string[] = []
    const s = this.slowdown.get(d.id) ?? { now: 1, planned: 1 }
    const profile = profileFromRecord(d, this.o.batteryMinPct, s.now)
    if (!profile) return []
    for (const t of hb.stageTimings) {
      if (t.jobId !== this.o.jobId || t.count <= 0) continue
      const part = epoch.parts.find((p) => p.plan.stages[t.stage]?.devices.includes(d.id))
      if (!part) continue
      // like with like: the samples the device ran per stage run (inference: one, whatever the plan's micro-batch)
      const predicted = stageComputeMs(job, profile, part.plan.stages[t.stage]!.layers, runtimeMicroBatch(job, part.plan))
      const r = stageTimeRatio(t.meanMs, predicted)
      if (!r || r.clamped) this.o.onImplausible?.(d.id, `stage ${t.stage} of ${this.o.jobId}: ${t.meanMs} ms against ${predicted.toFixed(1)} ms predicted${r ? ` (counted as ${r.ratio}x)` : ' (ignored)'}`)
      if (r) s.now = boundSlowdown(s.now * Math.pow(r.ratio, 0.5))
    }
    this.slowdown.set(d.id, s)
    const drift = s.now / s.planned
    if (Math.abs(drift - 1) > this.o.driftThreshold) {
      s.planned = s.now
      reasons.push(`${d.id} measured ${drift.toFixed(2)}x the stage time it was planned with`)
    }
    // end-to-end latency measured by a source: beyond the bound, or far from the prediction
    for (const r of hb.requestLatencies ?? []) {
      if (r.jobId !== this.o.jobId || r.count <= 0) continue
      if (!isSourceOf(job, d.id)) {
        this.o.onImplausible?.(d.id, `request latencies of ${this.o.jobId} from a device that is not one of its sources (ignored)`)
        continue
      }
      this.reported.push({ atMs: nowMs, count: r.count, meanMs: r.meanMs, p95Ms: r.p95Ms })
      if (this.reported.length > 10_000) this.reported.shift()
      const bound = job.qoe.latencyMs
      const off = Math.abs(r.meanMs / epoch.predicted.latencyMs - 1) > this.o.driftThreshold
      if ((bound !== undefined && r.meanMs > bound) || off) {
        this.measuredLatencyMs = r.meanMs
        reasons.push(`${d.id} measured ${r.meanMs.toFixed(0)} ms per request (predicted ${epoch.predicted.latencyMs.toFixed(0)} ms${bound !== undefined ? `, bound ${bound} ms` : ''})`)
      }
    }
    // the grants' round trips, against the model's for the device's link (grant-round-trips.ts)
    if (hb.grants && this.o.grants && this.o.standard) {
      const network = { standard: this.o.standard, coordination: 'scheduled' as const, availableAirtime: this.o.availableAirtime ?? 1 }
      const why = this.o.grants.report(d.id, hb.grants, modelledGrantRoundTripS(profile.linkRateBps ?? Infinity, network) * 1000, hb.seq)
      if (why) reasons.push(why)
    }
    // the link: measured throughput against the rate the epoch was planned with
    const rate = measuredLinkRate(d, this.o.standard)
    const planned = this.plannedLink.get(d.id)
    if (rate !== null && planned && Math.abs(rate / planned - 1) > this.o.driftThreshold) {
      this.plannedLink.set(d.id, rate)
      reasons.push(`${d.id} link measured at ${(rate / planned).toFixed(2)}x the rate it was planned with`)
    }
    return reasons
  }
}
