import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { onnx as OnnxNs } from 'onnx-proto';

// onnx-proto is protobufjs code generated from the official onnx.proto (a CommonJS module whose only export is the
// `onnx` namespace), loaded through require. Its protobufjs finds long.js by an eval'd require, which some module
// loaders (vitest's) answer with an ES module it cannot call; int64 fields are plain numbers here (every size and
// offset is below 2^53), so long.js is switched off before the generated code runs, in whatever loader.
const require = createRequire(import.meta.url);
const protoMain = require.resolve('onnx-proto');
const minimal = require(require.resolve('protobufjs/minimal', { paths: [dirname(protoMain)] })) as { util: { Long: unknown }; configure(): void };
minimal.util.Long = undefined;
minimal.configure();
export const onnx = (require(protoMain) as { onnx: typeof OnnxNs }).onnx;
export type ModelProto = OnnxNs.ModelProto;
export type NodeProto = OnnxNs.INodeProto;
export type TensorProto = OnnxNs.ITensorProto;
export type ValueInfoProto = OnnxNs.IValueInfoProto;

export const DT = onnx.TensorProto.DataType;
export type ElemType = OnnxNs.TensorProto.DataType;

/** A dimension: a fixed size or a symbolic name ("batch_size"). */
export type Dim = number | string;

export function valueInfo(name: string, elemType: ElemType, dims: readonly Dim[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** An attribute value: integers and floats are told apart by the caller (`{ f: x }` for a float). */
export type AttrValue = number | { readonly f: number } | string | readonly number[];

export function node(opType: string, inputs: readonly string[], outputs: readonly string[], attrs: Readonly<Record<string, AttrValue>> = {}, domain = ''): NodeProto {
  const A = onnx.AttributeProto.AttributeType;
  const attribute = Object.entries(attrs).map(([name, v]) => {
    if (typeof v === 'number') return { name, type: A.INT, i: v };
    if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
    if (Array.isArray(v)) return { name, type: A.INTS, ints: [...(v as number[])] };
    return { name, type: A.FLOAT, f: (v as { f: number }).f };
  });
  return { opType, input: [...inputs], output: [...outputs], name: `${opType}_${outputs[0]}`, domain, attribute };
}

/** Little-endian raw bytes of a typed array (the host is little-endian, as onnx's raw_data is). */
export function rawBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function tensor(name: string, elemType: ElemType, dims: readonly number[], data: ArrayBufferView): TensorProto {
  return { name, dataType: elemType, dims: [...dims], rawData: rawBytes(data) };
}

export function encodeModel(m: OnnxNs.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(m).finish();
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}
