/**
 * Fully connected zoo models:
 * - BERT-like encoders (Turc et al. 2019: tiny is 2 layers, hidden 128, 2 heads, FFN 512; small
 *   is 4 layers, hidden 512, 8 heads, FFN 2048; WordPiece vocabulary 30522), sequence length 128,
 *   as a PyTorch export lays them out:
 *   Gather embeddings, LayerNormalization, MatMul/Add projections, Reshape/Transpose into heads,
 *   scaled dot-product attention with Softmax, GELU through Erf.
 * - an MLP for 28x28 images (784-512-256-10).
 */
import { GraphBuilder } from './builder.js'
import { DataType, type ModelProto } from '../onnx.js'

export interface EncoderShape {
  readonly name: string
  readonly layers: number
  readonly hidden: number
  readonly heads: number
  readonly ffn: number
}

/** Turc et al. 2019, "Well-Read Students Learn Better": the BERT miniatures. */
export const BERT_TINY: EncoderShape = { name: 'bert-tiny', layers: 2, hidden: 128, heads: 2, ffn: 512 }
export const BERT_SMALL: EncoderShape = { name: 'bert-small', layers: 4, hidden: 512, heads: 8, ffn: 2048 }
/** Sanh et al. 2019, DistilBERT: 6 layers of BERT-base (hidden 768, 12 heads, FFN 3072), 66 M parameters. */
export const DISTILBERT: EncoderShape = { name: 'distilbert', layers: 6, hidden: 768, heads: 12, ffn: 3072 }

export function bertTiny(seed = 128, seq = 128): ModelProto {
  return bertEncoder(BERT_TINY, seed, seq)
}

export function bertEncoder(shape: EncoderShape, seed = 128, seq = 128): ModelProto {
  const { layers, hidden, heads, ffn } = shape
  const vocab = 30522
  const headDim = hidden / heads
  const b = new GraphBuilder(shape.name, seed)
  const ids = b.input('input_ids', ['batch', seq], DataType.INT64)
  const wordEmb = b.weight([vocab, hidden], 1, 'word_embeddings', 0.5)
  const posEmb = b.weight([seq, hidden], 1, 'position_embeddings', 0.5)
  const layerNorm = (t: string) => b.op1('LayerNormalization', [t, b.filled([hidden], 1, 'ln_g'), b.filled([hidden], 0, 'ln_b')], { axis: -1, epsilon: { float: 1e-12 } })
  const linear = (t: string, inF: number, outF: number) => b.op1('Add', [b.op1('MatMul', [t, b.weight([inF, outF], inF)]), b.filled([outF], 0.01, 'bias')])
  let x = layerNorm(b.op1('Add', [b.op1('Gather', [wordEmb, ids], { axis: 0 }), posEmb]))
  const toHeads = b.ints([0, seq, heads, headDim], 'heads_shape')
  const fromHeads = b.ints([0, seq, hidden], 'hidden_shape')
  const scale = b.scalar(1 / Math.sqrt(headDim), 'attn_scale')
  for (let l = 0; l < layers; l++) {
    const split = (t: string, perm: number[]) => b.op1('Transpose', [b.op1('Reshape', [t, toHeads])], { perm })
    const q = split(linear(x, hidden, hidden), [0, 2, 1, 3])
    const k = split(linear(x, hidden, hidden), [0, 2, 3, 1])
    const v = split(linear(x, hidden, hidden), [0, 2, 1, 3])
    const scores = b.op1('Mul', [b.op1('MatMul', [q, k]), scale])
    const ctx = b.op1('MatMul', [b.op1('Softmax', [scores], { axis: -1 }), v])
    const merged = b.op1('Reshape', [b.op1('Transpose', [ctx], { perm: [0, 2, 1, 3] }), fromHeads])
    x = layerNorm(b.op1('Add', [x, linear(merged, hidden, hidden)]))
    const h = linear(x, hidden, ffn)
    // GELU(h) = 0.5 h (1 + erf(h / sqrt 2)), as torch.onnx exports it.
    const gelu = b.op1('Mul', [b.op1('Mul', [h, b.scalar(0.5)]), b.op1('Add', [b.op1('Erf', [b.op1('Div', [h, b.scalar(Math.SQRT2)])]), b.scalar(1)])])
    x = layerNorm(b.op1('Add', [x, linear(gelu, ffn, hidden)]))
  }
  b.output(x)
  return b.build()
}

export function mlp(seed = 784): ModelProto {
  const b = new GraphBuilder('mlp', seed)
  let x = b.input('input', ['batch', 784])
  x = b.op1('Relu', [b.gemm(x, 784, 512)])
  x = b.op1('Relu', [b.gemm(x, 512, 256)])
  const out = b.gemm(x, 256, 10)
  b.output(out)
  return b.build()
}

/** A long chain for scale tests: `blocks` x (Gemm, Relu, Mul, Add residual), 4 nodes each. */
export function deepChain(blocks = 1700, width = 64, seed = 5000): ModelProto {
  const b = new GraphBuilder('deep-chain', seed)
  let x = b.input('input', ['batch', width])
  for (let i = 0; i < blocks; i++) {
    const y = b.op1('Relu', [b.gemm(x, width, width)])
    x = b.op1('Add', [x, b.op1('Mul', [y, b.scalar(0.1)])])
  }
  b.output(x)
  return b.build()
}
