/**
 * The ONNX protobuf types (onnx-proto, a CommonJS package) and small helpers around them:
 * reading 64-bit integers, element types, attributes.
 */
import onnxProto from 'onnx-proto'

export const onnx = onnxProto.onnx
export type ModelProto = onnxProto.onnx.ModelProto
export type GraphProto = onnxProto.onnx.GraphProto
export type IGraphProto = onnxProto.onnx.IGraphProto
export type NodeProto = onnxProto.onnx.INodeProto
export type TensorProto = onnxProto.onnx.ITensorProto
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto
export type AttributeProto = onnxProto.onnx.IAttributeProto

export const DataType = onnxProto.onnx.TensorProto.DataType
export const AttributeType = onnxProto.onnx.AttributeProto.AttributeType

/** protobufjs gives int64 as number or Long; Dora works in numbers (safe up to 2^53). */
export function toNumber(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0
  return typeof v === 'number' ? v : v.toNumber()
}

/** Bytes per element of an ONNX element type (0 for strings and unknown types). */
export function elementBytes(dataType: number): number {
  switch (dataType) {
    case DataType.FLOAT: case DataType.INT32: case DataType.UINT32: return 4
    case DataType.DOUBLE: case DataType.INT64: case DataType.UINT64: case DataType.COMPLEX64: return 8
    case DataType.COMPLEX128: return 16
    case DataType.FLOAT16: case DataType.BFLOAT16: case DataType.INT16: case DataType.UINT16: return 2
    case DataType.INT8: case DataType.UINT8: case DataType.BOOL: return 1
    default: return 0
  }
}

/** onnxruntime's name for an ONNX element type, for building input tensors. */
export function ortTypeName(dataType: number): 'float32' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool' | 'float16' | null {
  switch (dataType) {
    case DataType.FLOAT: return 'float32'
    case DataType.DOUBLE: return 'float64'
    case DataType.INT64: return 'int64'
    case DataType.INT32: return 'int32'
    case DataType.INT8: return 'int8'
    case DataType.UINT8: return 'uint8'
    case DataType.BOOL: return 'bool'
    case DataType.FLOAT16: return 'float16'
    default: return null
  }
}

export function ortTypeToDataType(type: string): number {
  const map: Record<string, number> = {
    float32: DataType.FLOAT, float64: DataType.DOUBLE, int64: DataType.INT64, int32: DataType.INT32, int8: DataType.INT8,
    uint8: DataType.UINT8, bool: DataType.BOOL, float16: DataType.FLOAT16, int16: DataType.INT16, uint16: DataType.UINT16,
    uint32: DataType.UINT32, uint64: DataType.UINT64,
  }
  return map[type] ?? DataType.UNDEFINED
}

export function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name)
}

export function attrInt(node: NodeProto, name: string, dflt: number): number {
  const a = attr(node, name)
  return a && a.i !== undefined && a.i !== null ? toNumber(a.i) : dflt
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attr(node, name)
  return a?.ints && a.ints.length ? a.ints.map(toNumber) : undefined
}
