// Independent readers of the exported formats, written from the format notes and not from our exporters, and the
// comparison of a packed export with the fake export of the same run. Shared by the exporters' tests.
export { readSafetensors, dequantizeLayer, f32Of } from './independent-reader.js';
export { comparePackedWithFake, expectSameValues } from './pair.js';
export type { Tensors, Decoder } from './pair.js';
export { unpackAwqWord, dequantizeAwq } from './independent-awq.js';
export { dequantizeLlmc } from './independent-llmc.js';
export { decodeFpLayer } from './independent-fp.js';
