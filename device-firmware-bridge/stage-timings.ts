/** Stage run times per (job, stage) since they were last taken: the heartbeat's `stageTimings`. */
export class StageTimings {
  private sums = new Map<string, { jobId: string; stage: number; sumMs: number; count: number }>()

  add(jobId: string, stage: number, ms: number): void {
    const key = `${jobId}\u0000${stage}`
    const t = this.sums.get(key) ?? { jobId, stage, sumMs: 0, count: 0 }
    t.sumMs += ms
    t.count++
    this.sums.set(key, t)
  }

  /** Mean time per (job, stage) since the last call; starts afresh. */
  take(): Array<{ jobId: string; stage: number; meanMs: number; count: number }> {
    const out = [...this.sums.values()].map((t) => ({ jobId: t.jobId, stage: t.stage, meanMs: t.sumMs / t.count, count: t.count }))
    this.sums = new Map()
    return out
  }
}
