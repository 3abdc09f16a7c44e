/**
 * Convolutional zoo models with the real architectures' layer shapes (batch-norm folded into
 * convolution biases, as inference exports do):
 * - ResNet-18 (He et al. 2016), 224x224: about 1.8 G multiply-adds.
 * - MobileNetV2 (Sandler et al. 2018), width 1.0, 224x224: about 0.3 G multiply-adds.
 */
import { GraphBuilder } from './builder.js'
import { DataType, type ModelProto } from '../onnx.js'

/** Detections a YOLO-style frame returns (the highest-scoring cells). */
export const TOP_K = 100

export function resnet18(seed = 18, size = 224): ModelProto {
  const b = new GraphBuilder('resnet18', seed)
  let x = b.input('input', ['batch', 3, size, size])
  x = b.op1('Relu', [b.conv(x, 3, 64, 7, { stride: 2 })])
  x = b.op1('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] })
  let cin = 64
  for (const [cout, stride] of [[64, 1], [64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2], [512, 1]] as const) {
    let y = b.op1('Relu', [b.conv(x, cin, cout, 3, { stride })])
    y = b.conv(y, cout, cout, 3)
    const shortcut = stride !== 1 || cin !== cout ? b.conv(x, cin, cout, 1, { stride, pad: 0 }) : x
    x = b.op1('Relu', [b.op1('Add', [y, shortcut])])
    cin = cout
  }
  x = b.op1('GlobalAveragePool', [x])
  x = b.op1('Flatten', [x], { axis: 1 })
  const out = b.gemm(x, 512, 1000)
  b.output(out)
  return b.build()
}

export function mobilenetV2(seed = 2, size = 224): ModelProto {
  const b = new GraphBuilder('mobilenetv2', seed)
  const relu6 = (t: string) => b.op1('Clip', [t, b.scalar(0), b.scalar(6)])
  let x = b.input('input', ['batch', 3, size, size])
  x = relu6(b.conv(x, 3, 32, 3, { stride: 2 }))
  let cin = 32
  // (expansion t, channels c, repeats n, stride s), Table 2 of the paper.
  for (const [t, c, n, s] of [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]] as const) {
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1
      const hidden = cin * t
      let y = x
      if (t !== 1) y = relu6(b.conv(y, cin, hidden, 1, { pad: 0 }))
      y = relu6(b.conv(y, hidden, hidden, 3, { stride, group: hidden }))
      y = b.conv(y, hidden, c, 1, { pad: 0 })
      x = stride === 1 && cin === c ? b.op1('Add', [x, y]) : y
      cin = c
    }
  }
  x = relu6(b.conv(x, 320, 1280, 1, { pad: 0 }))
  x = b.op1('GlobalAveragePool', [x])
  x = b.op1('Flatten', [x], { axis: 1 })
  const out = b.gemm(x, 1280, 1000)
  b.output(out)
  return b.build()
}

/**
 * A YOLO-style detector (the YOLOv8n layout, simplified), taking frames as cameras produce them
 * and returning what consumers want:
 * - input `images`: uint8 pixels, [batch, size, size, 3] (height, width, RGB: 1.23 MB at 640x640);
 *   the graph casts, moves channels first and scales to [0, 1];
 * - a strided CSP backbone with SiLU, an SPPF block, a PAN neck (upsample + concat) and three
 *   detection heads at strides 8, 16, 32, each predicting 4 box + 80 class channels per cell;
 * - decoding in the graph: boxes from the grid (centre (2 sigmoid - 0.5 + cell) x stride, size
 *   (2 sigmoid)^2 x 4 strides), each cell's best class and its score, the top 100 cells by score;
 * - output `detections`: float32 [batch, 100, 6] = centre x, centre y, width, height (pixels),
 *   score, class (2.4 KB a frame, where the raw heads are 2.8 MB).
 */
export function yoloStyle(seed = 8, size = 640): ModelProto {
  const b = new GraphBuilder('yolo-style', seed)
  const silu = (t: string) => b.op1('Mul', [t, b.op1('Sigmoid', [t])])
  const cbs = (t: string, cin: number, cout: number, k = 3, stride = 1) => silu(b.conv(t, cin, cout, k, { stride }))
  /** C2f-like block: split channels, n bottlenecks on one half, concat. */
  const c2f = (t: string, cin: number, cout: number, n: number, shortcut: boolean) => {
    const half = cout / 2
    const y = cbs(t, cin, cout, 1)
    const [a, c] = b.op(`Split`, [y, b.ints([half, half])], { axis: 1 }, 2) as [string, string]
    const parts = [a, c]
    let z = c
    for (let i = 0; i < n; i++) {
      const w = cbs(cbs(z, half, half), half, half)
      z = shortcut ? b.op1('Add', [z, w]) : w
      parts.push(z)
    }
    return cbs(b.op1('Concat', parts, { axis: 1 }), half * (2 + n), cout, 1)
  }
  const pixels = b.input('images', ['batch', size, size, 3], DataType.UINT8)
  let x = b.op1('Mul', [b.op1('Transpose', [b.op1('Cast', [pixels], { to: DataType.FLOAT })], { perm: [0, 3, 1, 2] }), b.scalar(1 / 255)])
  x = cbs(x, 3, 16, 3, 2)
  x = cbs(x, 16, 32, 3, 2)
  x = c2f(x, 32, 32, 1, true)
  x = cbs(x, 32, 64, 3, 2)
  const p3 = c2f(x, 64, 64, 2, true)
  x = cbs(p3, 64, 128, 3, 2)
  const p4 = c2f(x, 128, 128, 2, true)
  x = cbs(p4, 128, 256, 3, 2)
  x = c2f(x, 256, 256, 1, true)
  // SPPF
  const s0 = cbs(x, 256, 128, 1)
  const pool = (t: string) => b.op1('MaxPool', [t], { kernel_shape: [5, 5], strides: [1, 1], pads: [2, 2, 2, 2] })
  const s1 = pool(s0)
  const s2 = pool(s1)
  const s3 = pool(s2)
  const p5 = cbs(b.op1('Concat', [s0, s1, s2, s3], { axis: 1 }), 512, 256, 1)
  const scales = b.floats([1, 1, 2, 2], 'scales')
  const up = (t: string) => b.op1('Resize', [t, '', scales], { mode: 'nearest' })
  // PAN neck
  const n4 = c2f(b.op1('Concat', [up(p5), p4], { axis: 1 }), 384, 128, 1, false)
  const n3 = c2f(b.op1('Concat', [up(n4), p3], { axis: 1 }), 192, 64, 1, false)
  const d4 = c2f(b.op1('Concat', [cbs(n3, 64, 64, 3, 2), n4], { axis: 1 }), 192, 128, 1, false)
  const d5 = c2f(b.op1('Concat', [cbs(d4, 128, 128, 3, 2), p5], { axis: 1 }), 384, 256, 1, false)
  // Heads: box branch and class branch per scale, decoded per cell.
  const head = (t: string, cin: number, stride: number) => {
    const cells = (size / stride) ** 2
    const flat = (u: string, ch: number) => b.op1('Reshape', [u, b.ints([0, ch, -1])])
    const box = flat(b.conv(cbs(cbs(t, cin, 64), 64, 64), 64, 4, 1, { pad: 0 }), 4)
    const cls = flat(b.op1('Sigmoid', [b.conv(cbs(cbs(t, cin, 80), 80, 80), 80, 80, 1, { pad: 0 })]), 80)
    const [xy, wh] = b.op('Split', [box, b.ints([2, 2])], { axis: 1 }, 2) as [string, string]
    const grid: number[] = []
    for (let c = 0; c < cells; c++) grid.push(c % (size / stride))
    for (let c = 0; c < cells; c++) grid.push(Math.floor(c / (size / stride)))
    const twice = (u: string) => b.op1('Mul', [b.op1('Sigmoid', [u]), b.scalar(2)])
    const centre = b.op1('Mul', [b.op1('Add', [b.op1('Sub', [twice(xy), b.scalar(0.5)]), b.op1('Reshape', [b.floats(grid, 'grid'), b.ints([1, 2, cells])])]), b.scalar(stride)])
    const w2 = twice(wh)
    const extent = b.op1('Mul', [b.op1('Mul', [w2, w2]), b.scalar(4 * stride)])
    return { box: b.op1('Concat', [centre, extent], { axis: 1 }), cls }
  }
  const heads = [head(n3, 64, 8), head(d4, 128, 16), head(d5, 256, 32)]
  const boxes = b.op1('Concat', heads.map((h) => h.box), { axis: 2 }) // [batch, 4, cells]
  const classes = b.op1('Concat', heads.map((h) => h.cls), { axis: 2 }) // [batch, 80, cells]
  const score = b.op1('ReduceMax', [classes], { axes: [1], keepdims: 0 })
  const label = b.op1('Cast', [b.op1('ArgMax', [classes], { axis: 1, keepdims: 0 })], { to: DataType.FLOAT })
  const [top, index] = b.op('TopK', [score, b.ints([TOP_K])], { axis: 1 }, 2) as [string, string]
  const last = b.ints([2])
  const boxIndex = b.op1('Tile', [b.op1('Unsqueeze', [index, last]), b.ints([1, 1, 4])])
  const picked = b.op1('GatherElements', [b.op1('Transpose', [boxes], { perm: [0, 2, 1] }), boxIndex], { axis: 1 })
  const pickedLabel = b.op1('GatherElements', [label, index], { axis: 1 })
  const detections = b.op1('Concat', [picked, b.op1('Unsqueeze', [top, last]), b.op1('Unsqueeze', [pickedLabel, last])], { axis: 2 })
  b.output(b.named('detections', 'Identity', [detections]))
  return b.build()
}
