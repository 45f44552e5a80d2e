import { Checkpoint, Tensor, f16BitsToF32 } from '@autoround/core-tensor';
import { AutoRoundError, type WeightSource } from '@autoround/core';
import { AWQ_ORDER } from './pack.js';

/**
 * An AWQ-layout folder seen as float32 weights: `<layer>.weight` is dequantized on demand as
 * scales[g, o] · (q[i, o] − zero[g, o]) from qweight / qzeros / scales.
 */
export class AwqLayoutWeights implements WeightSource {
  constructor(
    private readonly ck: Checkpoint,
    /** The layer's group size as the config records it (−1 = one group per row). */
    private readonly groupSizeOf: (layer: string) => number,
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
    const qw = this.ck.read(`${layer}.qweight`);
    const qz = this.ck.read(`${layer}.qzeros`);
    const sc = this.ck.read(`${layer}.scales`);
    if (qw.dtype !== 'I32' || qz.dtype !== 'I32' || sc.dtype !== 'F16') {
      throw new AutoRoundError('E_FORMAT', `${this.ck.dir}: ${layer} has qweight ${qw.dtype}, qzeros ${qz.dtype}, scales ${sc.dtype}; AWQ stores I32, I32, F16`, { subject: layer });
    }
    const inF = qw.shape[0]!;
    const cols = qw.shape[1]!;
    const out = cols * 8;
    const G = sc.shape[0]!;
    const cfg = this.groupSizeOf(layer);
    const gs = cfg <= 0 || cfg > inF ? inF : cfg;
    if (Math.ceil(inF / gs) !== G || sc.shape[1] !== out || qz.shape[0] !== G || qz.shape[1] !== cols) {
      throw new AutoRoundError('E_FORMAT', `${this.ck.dir}: ${layer} has qweight [${qw.shape}], qzeros [${qz.shape}], scales [${sc.shape}], which do not fit group_size ${cfg}`, { subject: layer });
    }
    const qwords = qw.data as Int32Array;
    const zwords = qz.data as Int32Array;
    const scales = sc.data as Uint16Array;
    const w = new Float32Array(out * inF);
    for (let o = 0; o < out; o++) {
      const c = o >> 3;
      const sh = AWQ_ORDER[o & 7]! * 4;
      for (let g = 0; g < G; g++) {
        const s = f16BitsToF32(scales[g * out + o]!);
        const z = (zwords[g * cols + c]! >>> sh) & 15;
        const end = Math.min(inF, (g + 1) * gs);
        for (let i = g * gs; i < end; i++) w[o * inF + i] = Math.fround(s * (((qwords[i * cols + c]! >>> sh) & 15) - z));
      }
    }
    return Tensor.f32([out, inF], w);
  }
}
