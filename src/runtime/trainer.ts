/**
 * One training stage on a device: the forward and backward models of model/grad.ts in
 * onnxruntime, the stage's parameters in memory (starting from the forward model's
 * initializers), gradients summed over a step's micro-batches, and the Adam update
 * (Kingma and Ba 2015) once the step's gradients are whole (after replicas' all-reduce).
 */
import { createHash } from 'node:crypto'
import * as ort from 'onnxruntime-node'
import { decodeModel } from '../model/graph.js'
import { DataType, onnx, toNumber, type TensorProto } from '../model/onnx.js'
import { gradName, LOSS } from '../model/grad.js'
import { DoraError, ErrorCodes } from '../errors.js'

export interface AdamOptions {
  readonly lr: number
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
}

export const DEFAULT_ADAM: AdamOptions = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8 }

interface Param {
  readonly name: string
  readonly dims: readonly number[]
  readonly value: Float32Array
  readonly grad: Float32Array
  readonly m: Float32Array
  readonly v: Float32Array
  /** Adam updates applied to this parameter (its bias correction's step count). */
  t: number
}

/** One parameter's whole optimizer state: the values, Adam's moments and update count (a checkpoint's unit). */
export interface ParamState {
  readonly name: string
  readonly dims: readonly number[]
  /** Adam updates applied. */
  readonly t: number
  /** value, then the first moment, then the second: 3 x the parameter's element count. */
  readonly data: Float32Array
}

export interface ForwardResult {
  /** Stage outputs, by name. */
  readonly outputs: Map<string, ort.Tensor>
  /** What the backward run needs again (stash and kept inputs), by name. */
  readonly saved: Map<string, ort.Tensor>
  readonly loss: number | null
}

export class StageTrainer {
  private readonly params: Param[]
  /** Micro-batches whose gradients are summed since the last update. */
  accumulated = 0

  private constructor(
    private readonly fwd: ort.InferenceSession,
    private readonly bwd: ort.InferenceSession,
    paramNames: readonly string[],
    inits: ReadonlyMap<string, TensorProto>,
    private readonly adam: AdamOptions,
  ) {
    this.params = paramNames.map((name) => {
      const t = inits.get(name)
      if (!t || t.dataType !== DataType.FLOAT) throw new DoraError(ErrorCodes.STAGE_MODEL_LOAD, `forward stage model has no float initializer ${name}`, { name })
      const dims = (t.dims ?? []).map(toNumber)
      const n = dims.reduce((a, b) => a * b, 1)
      const value = new Float32Array(n)
      if (t.rawData && t.rawData.byteLength === n * 4) value.set(new Float32Array(Uint8Array.from(t.rawData).buffer))
      else if (t.floatData && t.floatData.length === n) value.set(t.floatData)
      else throw new DoraError(ErrorCodes.STAGE_MODEL_LOAD, `initializer ${name} holds no data for its ${n} elements`, { name })
      return { name, dims, value, grad: new Float32Array(n), m: new Float32Array(n), v: new Float32Array(n), t: 0 }
    })
  }

  static async create(forwardBytes: Uint8Array, backwardBytes: Uint8Array, paramNames: readonly string[], options: ort.InferenceSession.SessionOptions = {}, adam: AdamOptions = DEFAULT_ADAM): Promise<StageTrainer> {
    // The forward file carries the parameters' starting values as initializers; onnxruntime feeds
    // only declared inputs, so the session is made from the graph without them.
    const model = decodeModel(forwardBytes, 'forward stage model')
    const graph = model.graph!
    const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]))
    graph.initializer = (graph.initializer ?? []).filter((t) => !paramNames.includes(t.name ?? ''))
    const fwd = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), options)
    const bwd = await ort.InferenceSession.create(backwardBytes, options)
    return new StageTrainer(fwd, bwd, paramNames, inits, adam)
  }

  /** Parameter count of the stage. */
  get size(): number {
    return this.params.reduce((s, p) => s + p.value.length, 0)
  }

  private paramFeeds(names: readonly string[]): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {}
    for (const p of this.params) if (names.includes(p.name)) feeds[p.name] = new ort.Tensor('float32', p.value, p.dims as number[])
    return feeds
  }

  async forward(inputs: ReadonlyMap<string, ort.Tensor>): Promise<ForwardResult> {
    const feeds = this.paramFeeds(this.fwd.inputNames)
    for (const n of this.fwd.inputNames) {
      if (feeds[n]) continue
      const t = inputs.get(n)
      if (!t) throw new DoraError(ErrorCodes.STAGE_INPUT_MISSING, `training stage wants input ${n}`, { name: n })
      feeds[n] = t
    }
    const out = await this.fwd.run(feeds)
    const saved = new Map<string, ort.Tensor>()
    for (const n of this.bwd.inputNames) {
      if (n.startsWith('grad:') || this.params.some((p) => p.name === n)) continue
      const t = out[n] ?? inputs.get(n)
      if (!t) throw new DoraError(ErrorCodes.STAGE_INPUT_MISSING, `backward stage model reads ${n}, which the forward run did not give`, { name: n })
      saved.set(n, t)
    }
    const outputs = new Map<string, ort.Tensor>()
    for (const n of this.fwd.outputNames) if (n !== LOSS) outputs.set(n, out[n]!)
    const loss = out[LOSS] ? Number((out[LOSS].data as Float32Array)[0]) : null
    return { outputs, saved, loss }
  }

  /** Runs the backward pass of one micro-batch; adds its parameter gradients to the step's sum. */
  async backward(saved: ReadonlyMap<string, ort.Tensor>, gradIn: ReadonlyMap<string, ort.Tensor>): Promise<Map<string, ort.Tensor>> {
    const feeds = this.paramFeeds(this.bwd.inputNames)
    for (const n of this.bwd.inputNames) {
      if (feeds[n]) continue
      const t = saved.get(n) ?? gradIn.get(n)
      if (!t) throw new DoraError(ErrorCodes.STAGE_INPUT_MISSING, `backward stage wants ${n}`, { name: n })
      feeds[n] = t
    }
    const out = await this.bwd.run(feeds)
    for (const p of this.params) {
      const g = out[gradName(p.name)]!.data as Float32Array
      for (let i = 0; i < g.length; i++) p.grad[i]! += g[i]!
    }
    this.accumulated++
    const back = new Map<string, ort.Tensor>()
    for (const n of this.bwd.outputNames) if (!this.params.some((p) => gradName(p.name) === n)) back.set(n, out[n]!)
    return back
  }

  /** Drops the summed gradients (a step given up half-way must not leak into the next). */
  clearGradients(): void {
    for (const p of this.params) p.grad.fill(0)
    this.accumulated = 0
  }

  /** The summed gradients as one flat vector (the all-reduce's unit), parameters in order. */
  flatGradients(): Float32Array {
    const flat = new Float32Array(this.size)
    let at = 0
    for (const p of this.params) {
      flat.set(p.grad, at)
      at += p.grad.length
    }
    return flat
  }

  /**
   * Adam step with the mean gradient over `samples` micro-batches (all replicas' when the
   * flat sum comes from an all-reduce); clears the sums.
   */
  apply(samples: number, flat: Float32Array = this.flatGradients()): void {
    if (flat.length !== this.size) throw new DoraError(ErrorCodes.ALLREDUCE, `gradient of ${flat.length} values for ${this.size} parameters`, { values: flat.length, parameters: this.size })
    const { lr, beta1, beta2, eps } = this.adam
    let at = 0
    for (const p of this.params) {
      const { value, m, v } = p
      p.t++
      const c1 = 1 - beta1 ** p.t
      const c2 = 1 - beta2 ** p.t
      for (let i = 0; i < value.length; i++) {
        const g = flat[at + i]! / samples
        m[i] = beta1 * m[i]! + (1 - beta1) * g
        v[i] = beta2 * v[i]! + (1 - beta2) * g * g
        value[i]! -= (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + eps)
      }
      p.grad.fill(0)
      at += value.length
    }
    this.accumulated = 0
  }

  /** sha256 of the parameters' bytes in order (equal on every replica of a stage after a step). */
  digest(): string {
    const h = createHash('sha256')
    for (const p of this.params) h.update(new Uint8Array(p.value.buffer, p.value.byteOffset, p.value.byteLength))
    return h.digest('hex')
  }

  /** A copy of one parameter's values (tests, checks). */
  param(name: string): Float32Array {
    const p = this.params.find((x) => x.name === name)
    if (!p) throw new DoraError(ErrorCodes.PARAM_UNKNOWN, `no parameter ${name}`, { name })
    return p.value.slice()
  }

  /** Sets one parameter (tests: finite differences). */
  setParam(name: string, values: Float32Array): void {
    const p = this.params.find((x) => x.name === name)
    if (!p || p.value.length !== values.length) throw new DoraError(ErrorCodes.PARAM_UNKNOWN, `no parameter ${name} of ${values.length} values`, { name })
    p.value.set(values)
  }

  /** One parameter's optimizer state (a copy), for a checkpoint. */
  state(name: string): ParamState {
    const p = this.params.find((x) => x.name === name)
    if (!p) throw new DoraError(ErrorCodes.PARAM_UNKNOWN, `no parameter ${name}`, { name })
    const n = p.value.length
    const data = new Float32Array(3 * n)
    data.set(p.value, 0)
    data.set(p.m, n)
    data.set(p.v, 2 * n)
    return { name, dims: [...p.dims], t: p.t, data }
  }

  /** The element shape of a parameter, or undefined when the stage has no such parameter. */
  dimsOf(name: string): readonly number[] | undefined {
    return this.params.find((x) => x.name === name)?.dims
  }

  /**
   * Sets one parameter's optimizer state from a checkpoint. Refused (throws) unless the stage has
   * that parameter with the same shape, the data holds exactly 3 x its elements, all finite, and
   * t is a whole number: nothing is changed then.
   */
  restore(s: ParamState): void {
    const p = this.params.find((x) => x.name === s.name)
    if (!p) throw new DoraError(ErrorCodes.CHECKPOINT_INVALID, `checkpoint of ${s.name}: no such parameter in this stage`, { name: s.name })
    if (s.dims.length !== p.dims.length || s.dims.some((d, i) => d !== p.dims[i])) throw new DoraError(ErrorCodes.CHECKPOINT_INVALID, `checkpoint of ${s.name}: shape [${s.dims.join(', ')}], the stage's is [${p.dims.join(', ')}]`, { name: s.name })
    const n = p.value.length
    if (s.data.length !== 3 * n) throw new DoraError(ErrorCodes.CHECKPOINT_INVALID, `checkpoint of ${s.name}: ${s.data.length} values, want ${3 * n}`, { name: s.name })
    if (!Number.isSafeInteger(s.t) || s.t < 0) throw new DoraError(ErrorCodes.CHECKPOINT_INVALID, `checkpoint of ${s.name}: Adam step count ${s.t} is not a whole number`, { name: s.name })
    for (let i = 0; i < s.data.length; i++) if (!Number.isFinite(s.data[i]!) || (i >= 2 * n && s.data[i]! < 0)) throw new DoraError(ErrorCodes.CHECKPOINT_INVALID, `checkpoint of ${s.name}: value ${i} is not finite (or a negative second moment)`, { name: s.name })
    p.value.set(s.data.subarray(0, n))
    p.m.set(s.data.subarray(n, 2 * n))
    p.v.set(s.data.subarray(2 * n))
    p.t = s.t
  }

  get paramNames(): string[] {
    return this.params.map((p) => p.name)
  }

  async release(): Promise<void> {
    await this.fwd.release()
    await this.bwd.release()
  }
}
