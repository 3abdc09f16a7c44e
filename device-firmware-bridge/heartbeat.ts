/**
 * A device's heartbeat: its load, memory, queue, newest ready epoch, stage timings and energy,
 * and, for a source, the latencies of its requests (or of its optimizer steps) since the last
 * heartbeat, and the round trips of its air grants, all in profile time (host times divided by the emulation clock's timeScale).
 */
import os from 'node:os'
import { PROTOCOL_VERSION } from '../src/protocol/topics.js'
import type { Heartbeat } from '../src/protocol/payloads.js'
import type { Requester } from '../src/runtime/requester.js'
import type { AirGrants } from '../src/runtime/air-grants.js'
import { meanAndP95 } from '../src/shared/stats.js'
import type { DeviceRuntime } from './runtime.js'
import type { TrainingSource } from './training-source.js'

export class Heartbeats {
  private seq = 0
  /** Busy time at the last heartbeat (an emulated device's load is its busy share since then). */
  private lastLoad: { atMs: number; busyMs: number } | null = null
  private latencyMark = 0
  private stepMark = 0

  constructor(private readonly rt: DeviceRuntime) {}

  /** The next heartbeat; takes the stage timings and latencies gathered since the last one. */
  next(x: { queueDepth: number; epoch: number | null; requester: Requester | null; trainingSource: TrainingSource | null; air?: AirGrants | null }): Heartbeat {
    const now = this.rt.clock()
    const k = this.rt.timeScale
    const r = x.requester
    const latencies = r ? r.stats.latenciesMs.slice(this.latencyMark).map((ms) => ms / k) : []
    this.latencyMark += latencies.length
    // a training source reports its optimizer steps' times (the training job's latency), in profile time
    const ts = x.trainingSource
    const steps = ts ? ts.records.slice(this.stepMark).filter((s) => s.ok).map((s) => s.ms / k) : []
    if (ts) this.stepMark = ts.records.length
    // the grants' round trips since the last heartbeat, in profile time (the hub plans with their plausible mean)
    const rtts = (x.air?.takeRoundTrips() ?? []).map((ms) => ms / k)
    return {
      v: PROTOCOL_VERSION,
      seq: this.seq++,
      timeMs: Date.now(),
      load: this.load(now),
      freeMemoryBytes: os.freemem(),
      batteryPct: this.rt.profile.battery?.levelPct ?? null,
      linkThroughputBps: null,
      queueDepth: x.queueDepth,
      epoch: x.epoch,
      stageTimings: this.rt.timings.take(),
      energyJ: this.rt.energy.joules(now),
      ...(r && latencies.length ? { requestLatencies: [{ jobId: r.jobId, ...latencyStats(latencies) }] } : {}),
      ...(ts && steps.length ? { requestLatencies: [{ jobId: ts.jobId, ...latencyStats(steps) }] } : {}),
      ...(rtts.length ? { grants: { meanMs: Math.min(10_000, rtts.reduce((a, r) => a + r, 0) / rtts.length), count: rtts.length } } : {}),
    }
  }

  /**
   * An emulated device reports the emulated hardware's load: the share of the time since its last
   * heartbeat its stages kept it busy, in profile time (this host's CPU says nothing about the
   * device it emulates). A real device reports this machine's CPU load.
   */
  private load(nowMs: number): number {
    if (!this.rt.profile.emulated) return Math.min(1, os.loadavg()[0]! / os.availableParallelism())
    const busyMs = this.rt.energy.busyTotalMs
    const last = this.lastLoad
    this.lastLoad = { atMs: nowMs, busyMs }
    if (!last) return 0
    const spanMs = (nowMs - last.atMs) / this.rt.timeScale
    return spanMs > 0 ? Math.min(1, Math.max(0, (busyMs - last.busyMs) / spanMs)) : 0
  }
}

function latencyStats(ms: number[]): { meanMs: number; p95Ms: number; count: number } {
  const s = meanAndP95(ms)
  return { meanMs: s.mean, p95Ms: s.p95, count: ms.length }
}
