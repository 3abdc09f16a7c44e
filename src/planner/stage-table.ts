/**
 * Constant-time stage figures for the partitioner: prefix sums over the layers (FLOPs per op
 * class, parameters, stashed activations) and a range-maximum table of the largest activation,
 * so that a stage [i, j) costs O(1) instead of O(j - i). The figures equal stageComputeMs,
 * trainingStageMs, stageMemoryBytes and stageParamBytes (cost.ts, training.ts) up to rounding.
 * Pure.
 */
import type { DeviceProfile, Job } from './types.js'

export class StageTable {
  private readonly conv: Float64Array
  private readonly matmul: Float64Array
  private readonly elementwise: Float64Array
  private readonly params: Float64Array
  private readonly acts: Float64Array
  /** peak[i * (L + 1) + j]: the largest activation of layers [i, j). */
  private readonly peak: Float64Array
  private readonly L: number

  constructor(private readonly job: Job) {
    const layers = job.model.layers
    const L = (this.L = layers.length)
    const prefix = (f: (k: number) => number) => {
      const a = new Float64Array(L + 1)
      for (let k = 0; k < L; k++) a[k + 1] = a[k]! + f(k)
      return a
    }
    this.conv = prefix((k) => layers[k]!.flops.conv)
    this.matmul = prefix((k) => layers[k]!.flops.matmul)
    this.elementwise = prefix((k) => layers[k]!.flops.elementwise)
    this.params = prefix((k) => layers[k]!.paramBytes)
    this.acts = prefix((k) => layers[k]!.activationBytes ?? layers[k]!.peakActivationBytes)
    this.peak = new Float64Array((L + 1) * (L + 1))
    for (let i = 0; i < L; i++) {
      let m = 0
      for (let j = i + 1; j <= L; j++) {
        m = Math.max(m, layers[j - 1]!.peakActivationBytes)
        this.peak[i * (L + 1) + j] = m
      }
    }
  }

  /** Forward time of a micro-batch of b, ms (stageComputeMs); forward + backward for training. */
  computeMs(d: DeviceProfile, i: number, j: number, b: number): number {
    const f = d.flopsPerSec
    const s = (this.conv[j]! - this.conv[i]!) / f.conv + (this.matmul[j]! - this.matmul[i]!) / f.matmul + (this.elementwise[j]! - this.elementwise[i]!) / f.elementwise
    const forward = d.stageOverheadMs + b * s * 1000
    return this.job.training ? 3 * forward - d.stageOverheadMs : forward
  }

  paramBytes(i: number, j: number): number {
    return this.params[j]! - this.params[i]!
  }

  /** stageMemoryBytes: inference double-buffers the peak; training keeps state and a stash. */
  memoryBytes(i: number, j: number, b: number, stash: number): number {
    const w = this.paramBytes(i, j)
    if (!this.job.training) return w + 2 * b * this.peak[i * (this.L + 1) + j]!
    return w * (2 + this.job.training.optimizerStateFactor) + stash * b * (this.acts[j]! - this.acts[i]!)
  }
}
