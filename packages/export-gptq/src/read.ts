import { Checkpoint, Tensor, f16BitsToF32 } from '@autoround/core-tensor';
import { AutoRoundError, type WeightSource } from '@autoround/core';

/** Reads value i of an LSB-first b-bit stream held in int32 words at `off + w*stride`. */
function unpackAt(words: Uint32Array, off: number, stride: number, i: number, bits: number): number {
  const bit = i * bits;
  const w = bit >>> 5;
  const sh = bit & 31;
  let v = words[off + w * stride]! >>> sh;
  if (sh + bits > 32) v |= words[off + (w + 1) * stride]! << (32 - sh);
  return v & ((1 << bits) - 1);
}

/**
 * A GPTQ-layout folder seen as float32 weights: `<layer>.weight` is dequantized on demand
 * from qweight/qzeros/scales as scales·(q − zero), zero = stored (+1 for GPTQ v1).
 */
export class GptqLayoutWeights implements WeightSource {
  constructor(
    private readonly ck: Checkpoint,
    private readonly paramsOf: (layer: string) => { bits: number; groupSize: number },
    private readonly zeroPlusOne: boolean,
  ) {}

  has(name: string): boolean {
    return this.ck.has(name) || (name.endsWith('.weight') && this.ck.has(name.slice(0, -7) + '.qweight'));
  }

  readFloat32(name: string): Tensor<'F32'> {
    if (this.ck.has(name)) return this.ck.readFloat32(name);
    const layer = name.slice(0, -7);
    if (!name.endsWith('.weight') || !this.ck.has(`${layer}.qweight`)) {
      throw new AutoRoundError('E_NO_TENSOR', `${this.ck.dir}: no tensor "${name}" and no packed layer "${layer}"`, { subject: name });
    }
    const { bits, groupSize } = this.paramsOf(layer);
    const qw = this.ck.read(`${layer}.qweight`);
    const qz = this.ck.read(`${layer}.qzeros`);
    const sc = this.ck.read(`${layer}.scales`);
    const out = qw.shape[1]!;
    const inF = (qw.shape[0]! * 32) / bits;
    const G = sc.shape[0]!;
    const gs = groupSize <= 0 || groupSize > inF ? inF : groupSize;
    if (Math.ceil(inF / gs) !== G) throw new AutoRoundError('E_FORMAT', `${this.ck.dir}: ${layer} has ${G} scale groups, which does not fit group_size ${groupSize}`, { subject: layer });
    const qwords = new Uint32Array(qw.data.buffer as ArrayBuffer, (qw.data as Int32Array).byteOffset, qw.numel);
    const zwords = new Uint32Array(qz.data.buffer as ArrayBuffer, (qz.data as Int32Array).byteOffset, qz.numel);
    const zcols = qz.shape[1]!;
    const scales = sc.data as Uint16Array;
    const w = new Float32Array(out * inF);
    for (let o = 0; o < out; o++) {
      for (let g = 0; g < G; g++) {
        const s = f16BitsToF32(scales[g * out + o]!);
        const z = unpackAt(zwords, g * zcols, 1, o, bits) + (this.zeroPlusOne ? 1 : 0);
        const end = Math.min(inF, (g + 1) * gs);
        for (let i = g * gs; i < end; i++) w[o * inF + i] = Math.fround(s * (unpackAt(qwords, o, out, i, bits) - z));
      }
    }
    return Tensor.f32([out, inF], w);
  }
}
