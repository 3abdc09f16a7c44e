/**
 * Stage models for the devices: cut from a job's ONNX graph by node range (for a training job,
 * a forward and a backward model per stage, model/grad.ts), encoded, addressed by sha256, and split into chunks that the hub publishes retained on
 * `dora/v1/models/{sha256}/{index}` (once per model).
 */
import { createHash } from 'node:crypto'
import type { Profile } from '../model/load.js'
import { DataType, onnx, ortTypeName } from '../model/onnx.js'
import type { Dtype } from '../protocol/dtypes.js'
import { buildStageModel, planStages, type StagePlan } from '../model/split.js'
import { buildTrainingStage } from '../model/grad.js'
import { encodeCbor } from '../protocol/codec.js'
import { PROTOCOL_VERSION, topics } from '../protocol/topics.js'
import type { ModelChunk, TensorSpec } from '../protocol/payloads.js'

export interface StageModelRef {
  readonly sha256: string
  readonly bytes: number
  readonly chunks: number
}

export class ModelStore {
  private readonly byRange = new Map<string, { ref: StageModelRef; bytes: Uint8Array; inputs: readonly string[]; outputs: readonly string[] }>()
  private readonly bySha = new Map<string, { ref: StageModelRef; bytes: Uint8Array; inputs: readonly string[]; outputs: readonly string[] }>()
  private readonly training = new Map<string, { forward: StageModelRef; backward: StageModelRef; params: readonly string[] }>()
  private readonly published = new Set<string>()

  constructor(private readonly profile: Profile, private readonly chunkBytes: number) {}

  /** The stage model holding ONNX nodes [a, b) (built once). */
  stage(nodes: readonly [number, number]): { ref: StageModelRef; bytes: Uint8Array; inputs: readonly string[]; outputs: readonly string[] } {
    const key = `${nodes[0]}-${nodes[1]}`
    let m = this.byRange.get(key)
    if (!m) {
      const plan = this.plan(nodes)
      const ref = this.add(onnx.ModelProto.encode(buildStageModel(this.profile.graph, this.profile.shapes.values, plan)).finish(), plan)
      m = this.bySha.get(ref.sha256)!
      this.byRange.set(key, m)
    }
    return m
  }

  private plan(nodes: readonly [number, number]): StagePlan {
    const n = this.profile.graph.nodes.length
    const cuts = [nodes[0], nodes[1]].filter((x) => x > 0 && x < n)
    const plan = planStages(this.profile.graph, cuts).find((s) => s.nodes[0] === nodes[0] && s.nodes[1] === nodes[1])
    if (!plan) throw new RangeError(`no stage with nodes [${nodes[0]}, ${nodes[1]}) in ${this.profile.graph.name}`)
    return plan
  }

  private add(bytes: Uint8Array, plan: StagePlan): StageModelRef {
    const sha256 = createHash('sha256').update(bytes).digest('hex')
    const ref = { sha256, bytes: bytes.length, chunks: Math.ceil(bytes.length / this.chunkBytes) }
    this.bySha.set(sha256, { ref, bytes, inputs: plan.inputs, outputs: plan.outputs })
    return ref
  }

  /** The forward and backward models of a training stage holding ONNX nodes [a, b) (built once). */
  trainingStage(nodes: readonly [number, number]): { forward: StageModelRef; backward: StageModelRef; params: readonly string[] } {
    const key = `train:${nodes[0]}-${nodes[1]}`
    let t = this.training.get(key)
    if (!t) {
      const plan = this.plan(nodes)
      const built = buildTrainingStage(this.profile.graph, this.profile.shapes.values, plan)
      const forward = this.add(onnx.ModelProto.encode(built.forward).finish(), plan)
      const backward = this.add(onnx.ModelProto.encode(built.backward).finish(), plan)
      t = { forward, backward, params: built.params }
      this.training.set(key, t)
    }
    return t
  }

  /** The shape of a trainable parameter of the model (a float initializer of more than one element), else undefined. */
  paramDims(name: string): readonly number[] | undefined {
    const i = this.profile.graph.initializers.get(name)
    return i && i.dataType === DataType.FLOAT && i.dims.reduce((a, b) => a * b, 1) > 1 ? i.dims : undefined
  }

  /** The model's inputs (what a source sends, shapes bound as profiled) and output names. */
  io(): { inputs: TensorSpec[]; outputs: string[] } {
    const { graph, shapes } = this.profile
    const inputs = graph.inputs.map((v) => {
      const name = v.name ?? ''
      const info = shapes.values.get(name)
      const dtype = ortTypeName(info?.dataType ?? v.type?.tensorType?.elemType ?? 0)
      if (!info || dtype === null) throw new RangeError(`model input ${name}: no shape or an unsupported element type`)
      return { name, dtype: dtype satisfies Dtype, shape: [...info.shape] }
    })
    return { inputs, outputs: graph.outputs.map((o) => o.name ?? '') }
  }

  /** The bytes of a model built here. */
  bytesOf(sha256: string): Uint8Array {
    const m = this.bySha.get(sha256)
    if (!m) throw new RangeError(`no model ${sha256} was built here`)
    return m.bytes
  }

  /** Publishes a stage model's chunks unless it was published already. */
  async publish(nodes: readonly [number, number], send: (topic: string, payload: Buffer) => Promise<void>): Promise<StageModelRef> {
    return this.publishRef(this.stage(nodes).ref, send)
  }

  /** Publishes a model built here (stage, forward or backward) unless it was published already. */
  async publishRef(ref: StageModelRef, send: (topic: string, payload: Buffer) => Promise<void>): Promise<StageModelRef> {
    const bytes = this.bySha.get(ref.sha256)?.bytes
    if (!bytes) throw new RangeError(`no model ${ref.sha256} was built here`)
    if (this.published.has(ref.sha256)) return ref
    for (let i = 0; i < ref.chunks; i++) {
      const chunk: ModelChunk = { v: PROTOCOL_VERSION, sha256: ref.sha256, index: i, count: ref.chunks, totalBytes: ref.bytes, data: bytes.subarray(i * this.chunkBytes, (i + 1) * this.chunkBytes) }
      await send(topics.modelChunk(ref.sha256, i), encodeCbor(chunk))
    }
    this.published.add(ref.sha256)
    return ref
  }
}
