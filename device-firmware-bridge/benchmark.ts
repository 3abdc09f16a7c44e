/**
 * The device's onnxruntime micro-benchmark: effective FLOP/s per op class on this machine, for
 * its caps. Three small models built in code, each dominated by one class:
 * - conv: a 3x3 convolution, 64 -> 64 channels on 56x56 (ResNet's first stage);
 * - matmul: a 512 x 1024 by 1024 x 1024 matrix product;
 * - elementwise: Add + Mul + Relu over 4 M floats.
 * Each is run once to warm up, then `runs` times; FLOPs (multiply-add = 2) over the best time.
 */
import * as ort from 'onnxruntime-node'
import { onnx } from '../src/model/onnx.js'
import { GraphBuilder } from '../src/model/zoo/builder.js'
import type { OpClassFlops } from '../src/planner/types.js'

interface Probe {
  name: keyof OpClassFlops
  flops: number
  input: { name: string; dims: number[] }
  build: () => Uint8Array
}

const PROBES: Probe[] = [
  {
    name: 'conv', flops: 2 * 64 * 64 * 9 * 56 * 56, input: { name: 'x', dims: [1, 64, 56, 56] },
    build: () => {
      const b = new GraphBuilder('probe-conv', 1)
      const x = b.input('x', [1, 64, 56, 56])
      b.output(b.conv(x, 64, 64, 3))
      return onnx.ModelProto.encode(b.build()).finish()
    },
  },
  {
    name: 'matmul', flops: 2 * 512 * 1024 * 1024, input: { name: 'x', dims: [512, 1024] },
    build: () => {
      const b = new GraphBuilder('probe-matmul', 2)
      const x = b.input('x', [512, 1024])
      b.output(b.op1('MatMul', [x, b.weight([1024, 1024], 1024)]))
      return onnx.ModelProto.encode(b.build()).finish()
    },
  },
  {
    name: 'elementwise', flops: 3 * 4 * 1024 * 1024, input: { name: 'x', dims: [4 * 1024 * 1024] },
    build: () => {
      const b = new GraphBuilder('probe-elementwise', 3)
      const x = b.input('x', [4 * 1024 * 1024])
      b.output(b.op1('Relu', [b.op1('Mul', [b.op1('Add', [x, b.scalar(1)]), b.scalar(0.5)])]))
      return onnx.ModelProto.encode(b.build()).finish()
    },
  },
]

export async function measureFlops(runs = 3): Promise<OpClassFlops> {
  const out: Partial<Record<keyof OpClassFlops, number>> = {}
  for (const p of PROBES) {
    const session = await ort.InferenceSession.create(p.build(), { graphOptimizationLevel: 'all' })
    try {
      const size = p.input.dims.reduce((a, x) => a * x, 1)
      const feeds = { [p.input.name]: new ort.Tensor('float32', new Float32Array(size).fill(0.5), p.input.dims) }
      await session.run(feeds)
      let best = Infinity
      for (let k = 0; k < runs; k++) {
        const t = performance.now()
        await session.run(feeds)
        best = Math.min(best, performance.now() - t)
      }
      out[p.name] = p.flops / (Math.max(best, 1e-3) / 1000)
    } finally {
      await session.release()
    }
  }
  return out as OpClassFlops
}
