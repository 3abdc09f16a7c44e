/** FLOP formulas, cut points on residual and branching graphs, and bad files (issue 3 § Tests). */
import { describe, expect, it } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onnx } from '../../src/model/onnx.js'
import { GraphBuilder } from '../../src/model/zoo/builder.js'
import { profileModel, loadModelBytes } from '../../src/model/load.js'
import { ZOO } from '../../src/model/zoo/index.js'

const encode = (b: GraphBuilder) => onnx.ModelProto.encode(b.build()).finish()
const zoo = (name: string) => onnx.ModelProto.encode(ZOO.find((z) => z.name === name)!.build()).finish()
const macs = (costs: ReadonlyArray<{ opClass: string; flops: number | null; opType: string }>) =>
  costs.filter((c) => c.opType === 'Conv' || c.opType === 'Gemm' || c.opType === 'MatMul').reduce((s, c) => s + (c.flops ?? 0), 0) / 2

describe('FLOP counts against hand-computed figures', () => {
  it('a 3x3 convolution, 64->128 channels, stride 2, 56x56 input: 2 x 128 x 28 x 28 x 64 x 9 plus bias', async () => {
    const b = new GraphBuilder('conv', 1)
    const x = b.input('x', [1, 64, 56, 56])
    b.output(b.conv(x, 64, 128, 3, { stride: 2 }))
    const p = await profileModel(encode(b), 'conv', { batch: 1 })
    expect(p.costs[0]!.flops).toBe(2 * 128 * 28 * 28 * 64 * 9 + 128 * 28 * 28)
    expect(p.costs[0]!.paramBytes).toBe((128 * 64 * 9 + 128) * 4)
    expect(p.costs[0]!.outputBytes).toBe(128 * 28 * 28 * 4)
    expect(p.costs[0]!.opClass).toBe('conv')
  })

  it('a depthwise convolution counts Cin/group = 1 channel per output', async () => {
    const b = new GraphBuilder('dw', 1)
    const x = b.input('x', [1, 32, 112, 112])
    b.output(b.conv(x, 32, 32, 3, { group: 32, bias: false }))
    const p = await profileModel(encode(b), 'dw', { batch: 1 })
    expect(p.costs[0]!.flops).toBe(2 * 32 * 112 * 112 * 9)
  })

  it('batched MatMul [2,4,8,16] x [2,4,16,32] = 2 x 2 x 4 x 8 x 32 x 16; Gemm 2 x M x N x K + bias', async () => {
    const b = new GraphBuilder('mm', 1)
    const a = b.input('a', [2, 4, 8, 16])
    const c = b.input('c', [2, 4, 16, 32])
    b.output(b.op1('MatMul', [a, c]))
    const g = b.input('g', [5, 100])
    b.output(b.gemm(g, 100, 30))
    const p = await profileModel(encode(b), 'mm', { batch: 1 })
    expect(p.costs[0]!.flops).toBe(2 * 2 * 4 * 8 * 32 * 16)
    expect(p.costs[1]!.flops).toBe(2 * 5 * 30 * 100 + 5 * 30)
    expect(p.costs.every((x) => x.opClass === 'matmul')).toBe(true)
  })

  it('ResNet-18 at 224x224 is about 1.8 G multiply-adds (1.81 G in its paper)', async () => {
    const p = await profileModel(zoo('resnet18'), 'resnet18', { batch: 1 })
    expect(macs(p.costs) / 1e9).toBeCloseTo(1.814, 2)
    // 11.7 M parameters
    expect(p.costs.reduce((s, c) => s + c.paramBytes, 0) / 4 / 1e6).toBeCloseTo(11.7, 1)
  })

  it('MobileNetV2 at 224x224 is about 300 M multiply-adds, 3.5 M parameters', async () => {
    const p = await profileModel(zoo('mobilenetv2'), 'mobilenetv2', { batch: 1 })
    expect(macs(p.costs) / 1e6).toBeGreaterThan(295)
    expect(macs(p.costs) / 1e6).toBeLessThan(315)
    expect(p.costs.reduce((s, c) => s + c.paramBytes, 0) / 4 / 1e6).toBeCloseTo(3.5, 1)
  })

  it('scales with the batch size', async () => {
    const one = await profileModel(zoo('mlp'), 'mlp', { batch: 1 })
    const eight = await profileModel(zoo('mlp'), 'mlp', { batch: 8 })
    expect(eight.costs[0]!.flops).toBe(8 * one.costs[0]!.flops!)
  })

  it('an op without a formula is profiled as unknown cost, not an error', async () => {
    const b = new GraphBuilder('unknown', 1)
    const x = b.input('x', [1, 8])
    b.output(b.op1('Hardmax', [x], { axis: 1 }))
    const p = await profileModel(encode(b), 'unknown', { batch: 1 })
    expect(p.costs[0]).toMatchObject({ opType: 'Hardmax', flops: null })
  })
})

describe('cut points', () => {
  it('on a residual block, the skip tensor crosses every cut inside the block', async () => {
    const b = new GraphBuilder('res', 1)
    const x = b.input('x', [1, 16])
    const h = b.op1('Relu', [x]) // 0
    const a = b.op1('Neg', [h]) // 1
    const c = b.op1('Abs', [a]) // 2
    const s = b.op1('Add', [c, h]) // 3: reads the skip h
    b.output(b.op1('Relu', [s])) // 4
    const p = await profileModel(encode(b), 'res', { batch: 1 })
    const bytes = 16 * 4
    expect(p.cuts.map((c) => [c.index, c.crossingTensors, c.crossingBytes])).toEqual([
      [1, 1, bytes], // h
      [2, 2, 2 * bytes], // a, h
      [3, 2, 2 * bytes], // c, h
      [4, 1, bytes], // s
    ])
  })

  it('a model input read late crosses every cut before its reader', async () => {
    const b = new GraphBuilder('late', 1)
    const x = b.input('x', [1, 4])
    const m = b.input('mask', [1, 4])
    const y = b.op1('Relu', [b.op1('Neg', [x])])
    b.output(b.op1('Mul', [y, m]))
    const p = await profileModel(encode(b), 'late', { batch: 1 })
    expect(p.cuts.map((c) => c.crossingTensors)).toEqual([2, 2])
  })

  it('on the YOLO-style graph, the neck cuts carry the saved backbone features (larger than a plain chain cut)', async () => {
    const p = await profileModel(zoo('yolo-style'), 'yolo-style', { batch: 1 })
    const maxTensors = Math.max(...p.cuts.map((c) => c.crossingTensors))
    expect(maxTensors).toBeGreaterThanOrEqual(3)
    for (const c of p.cuts) expect(c.crossingBytes).toBeGreaterThan(0)
  })
})

describe('bad model files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dora-model-'))
  const file = (name: string, data: Uint8Array | string) => {
    const p = join(dir, name)
    writeFileSync(p, data)
    return p
  }

  it('a file that is not ONNX', async () => {
    const { bytes, source } = await loadModelBytes(file('notes.onnx', 'hello, this is text'))
    await expect(profileModel(bytes, source, { batch: 1 })).rejects.toThrow(/notes\.onnx: not an ONNX model/)
  })

  it('a truncated file', async () => {
    const whole = zoo('mlp')
    const { bytes, source } = await loadModelBytes(file('cut.onnx', whole.subarray(0, Math.floor(whole.length / 2))))
    await expect(profileModel(bytes, source, { batch: 1 })).rejects.toThrow(/cut\.onnx: not an ONNX model or truncated/)
  })

  it('an empty file and a missing file', async () => {
    const { bytes, source } = await loadModelBytes(file('empty.onnx', new Uint8Array()))
    await expect(profileModel(bytes, source, { batch: 1 })).rejects.toThrow(/empty file/)
    await expect(loadModelBytes(join(dir, 'missing.onnx'))).rejects.toThrow(/no such file \(and not a zoo model name\)/)
  })

  it('a node reading a value nobody produces is named', async () => {
    const b = new GraphBuilder('broken', 1)
    b.input('x', [1, 4])
    b.output(b.op1('Relu', ['ghost']))
    await expect(profileModel(encode(b), 'broken.onnx', { batch: 1 })).rejects.toThrow(/node relu_0 \(Relu\) reads ghost/)
  })

  it('an op onnxruntime does not know is reported with the runtime message', async () => {
    const b = new GraphBuilder('alien', 1)
    const x = b.input('x', [1, 4])
    b.output(b.op1('NoSuchOp', [x]))
    await expect(profileModel(encode(b), 'alien.onnx', { batch: 1 })).rejects.toThrow(/onnxruntime cannot load the model: .*NoSuchOp/)
  })

  it('a model in a non-topological node order is reordered, not refused', async () => {
    const m = onnx.ModelProto.decode(zoo('mlp'))
    m.graph!.node!.reverse()
    const p = await profileModel(onnx.ModelProto.encode(m).finish(), 'reversed', { batch: 1 })
    expect(p.graph.nodes.map((n) => n.opType)).toEqual(['Gemm', 'Relu', 'Gemm', 'Relu', 'Gemm'])
  })

  it('an old-opset model still profiles (opset 6 Relu chain)', async () => {
    const b = new GraphBuilder('old', 1)
    const x = b.input('x', [1, 4])
    b.output(b.op1('Relu', [b.op1('Relu', [x])]))
    const p = await profileModel(onnx.ModelProto.encode(b.build(6)).finish(), 'old', { batch: 1 })
    expect(p.cuts).toHaveLength(1)
  })
})
