/**
 * The running request latency of each job against its prediction and its bound, sampled once a
 * second by the hub for the status page's chart: a bounded series per job (the last
 * `maxPoints` samples; jobs that are gone are dropped).
 */

export interface LatencyPoint {
  /** When the sample was taken, ms since the Unix epoch. */
  readonly atMs: number
  /** Mean latency the sources measured over the last few seconds (null: nothing reported). */
  readonly measuredMs: number | null
  /** Mean latency the current epoch's plans predict (null: no plan yet). */
  readonly predictedMs: number | null
  /** The job's mean latency bound (null: none). */
  readonly boundMs: number | null
}

export class LatencyHistory {
  private readonly series = new Map<string, LatencyPoint[]>()

  constructor(private readonly maxPoints = 300) {}

  /** Adds one point per job; forgets jobs not in `points`. */
  sample(points: ReadonlyMap<string, LatencyPoint>): void {
    for (const id of [...this.series.keys()]) if (!points.has(id)) this.series.delete(id)
    for (const [id, p] of points) {
      const s = this.series.get(id) ?? []
      s.push(p)
      if (s.length > this.maxPoints) s.splice(0, s.length - this.maxPoints)
      this.series.set(id, s)
    }
  }

  of(jobId: string): readonly LatencyPoint[] {
    return this.series.get(jobId) ?? []
  }
}
