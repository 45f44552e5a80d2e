import { definePlugin } from '@autoround/core';
import { onnxExporter } from './exporter.js';

export { onnxExporter, ONNX_DTYPES, type OnnxDtype, type OnnxFormat, onnxDtype, parseOnnxFormat, writeOnnxFolder } from './exporter.js';
export { buildDecoderGraph, type DecoderGraph, type DecoderGraphOptions, type DecoderWeights, ONNX_ARCHITECTURES, toF16 } from './graph.js';
export { type ExternalDataMode, type ModelFileOptions, PROTOBUF_LIMIT, writeModelFile } from './model-file.js';
export { MATMULNBITS_BITS, MATMULNBITS_BLOCK_SIZES, type MatMulNBitsTensors, packMatMulNBits, unpackMatMulNBits } from './pack.js';
export { decodeModel } from './proto.js';

/** The onnx exporter as a plugin (`--format onnx`, `onnx:q4` …). */
export const exportOnnxPlugin = definePlugin({ name: '@autoround/export-onnx', exporters: [onnxExporter] });
export default exportOnnxPlugin;
