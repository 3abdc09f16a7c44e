/**
 * The device's onnxruntime micro-benchmark: effective FLOP/s per op class on this machine, for
 * its caps. Three small models built in code, each dominated by one class and shaped like the
 * layers of real models (an effective rate on one ideal layer overstates what a model gets):
 * - conv: a YOLOv8n-like chain of convolutions (3x3 with stride 2 and 1, a 1x1), 320x320 -> 20x20;
 * - matmul: a transformer block's products, [128, 768] through 768x768, 768x3072, 3072x768;
 * - elementwise: three rounds of SiLU (Sigmoid, Mul) and a residual Add over a 64x80x80 map.
 * FLOPs are counted as the cost model counts them (src/model/cost.ts: multiply-add = 2, a
 * bias add 1 per output, Sigmoid 4 per element). Each is run once to warm up, then `runs`
 * times; FLOPs over the best time.
 */
import * as ort from 'onnxruntime-node'
import { onnx } from '../src/model/onnx.js'
import { GraphBuilder } from '../src/model/zoo/builder.js'
import type { OpClassFlops } from '../src/shared/device-profile.js'

interface Probe {
  name: keyof OpClassFlops
  input: { name: string; dims: number[] }
  /** The model and its FLOPs. */
  build: () => { bytes: Uint8Array; flops: number }
}

const encode = (b: GraphBuilder) => onnx.ModelProto.encode(b.build()).finish()

const PROBES: Probe[] = [
  {
    name: 'conv', input: { name: 'x', dims: [1, 16, 320, 320] },
    build: () => {
      const b = new GraphBuilder('probe-conv', 1)
      let x = b.input('x', [1, 16, 320, 320])
      let size = 320
      let flops = 0
      // [cin, cout, kernel, stride]
      const layers: Array<[number, number, number, number]> = [[16, 32, 3, 2], [32, 32, 1, 1], [32, 32, 3, 1], [32, 64, 3, 2], [64, 64, 3, 1], [64, 128, 3, 2], [128, 128, 3, 1], [128, 256, 3, 2], [256, 256, 3, 1]]
      for (const [cin, cout, k, stride] of layers) {
        x = b.conv(x, cin, cout, k, { stride })
        size /= stride
        flops += 2 * cout * cin * k * k * size * size + cout * size * size
      }
      b.output(x)
      return { bytes: encode(b), flops }
    },
  },
  {
    name: 'matmul', input: { name: 'x', dims: [128, 768] },
    build: () => {
      const b = new GraphBuilder('probe-matmul', 2)
      let x = b.input('x', [128, 768])
      let flops = 0
      for (const [k, n] of [[768, 768], [768, 3072], [3072, 768]] as const) {
        x = b.op1('MatMul', [x, b.weight([k, n], k)])
        flops += 2 * 128 * k * n
      }
      b.output(x)
      return { bytes: encode(b), flops }
    },
  },
  {
    name: 'elementwise', input: { name: 'x', dims: [1, 64, 80, 80] },
    build: () => {
      const b = new GraphBuilder('probe-elementwise', 3)
      let x = b.input('x', [1, 64, 80, 80])
      for (let r = 0; r < 3; r++) x = b.op1('Add', [b.op1('Mul', [x, b.op1('Sigmoid', [x])]), x])
      b.output(x)
      return { bytes: encode(b), flops: 3 * (4 + 1 + 1) * 64 * 80 * 80 }
    },
  },
]

export async function measureFlops(runs = 3, threads?: number): Promise<OpClassFlops> {
  const out: Partial<Record<keyof OpClassFlops, number>> = {}
  for (const p of PROBES) {
    const model = p.build()
    const session = await ort.InferenceSession.create(model.bytes, { graphOptimizationLevel: 'all', ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}) })
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
      out[p.name] = model.flops / (Math.max(best, 1e-3) / 1000)
    } finally {
      await session.release()
    }
  }
  return out as OpClassFlops
}
