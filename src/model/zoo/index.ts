/** The model zoo: real architectures built in code with deterministic weights. */
import type { ModelProto } from '../onnx.js'
import { mobilenetV2, resnet18, yoloStyle } from './cnn.js'
import { BERT_SMALL, DISTILBERT, bertEncoder, bertTiny, deepChain, mlp } from './transformer.js'

export interface ZooEntry {
  name: string
  description: string
  build: () => ModelProto
}

export const ZOO: readonly ZooEntry[] = [
  { name: 'mlp', description: 'MLP 784-512-256-10', build: () => mlp() },
  { name: 'mobilenetv2', description: 'MobileNetV2 1.0, 224x224', build: () => mobilenetV2() },
  { name: 'resnet18', description: 'ResNet-18, 224x224', build: () => resnet18() },
  { name: 'yolo-style', description: 'YOLO-style detector (YOLOv8n layout), 640x640', build: () => yoloStyle() },
  { name: 'bert-tiny', description: 'BERT-tiny-like encoder, 2 layers, hidden 128, seq 128', build: () => bertTiny() },
  { name: 'bert-small', description: 'BERT-small-like encoder, 4 layers, hidden 512, seq 128', build: () => bertEncoder(BERT_SMALL) },
]

/** Larger models and models for scale tests, not part of `dora zoo`'s default set. */
export const SCALE_MODELS: readonly ZooEntry[] = [
  { name: 'distilbert', description: 'DistilBERT-like encoder, 6 layers, hidden 768, seq 128 (66 M parameters)', build: () => bertEncoder(DISTILBERT) },
  { name: 'deep-chain', description: 'Residual Gemm chain, 6,800 nodes', build: () => deepChain() },
]

export function zooModel(name: string): ZooEntry | undefined {
  return [...ZOO, ...SCALE_MODELS].find((e) => e.name === name)
}
