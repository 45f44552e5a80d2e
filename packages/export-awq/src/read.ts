import { Checkpoint, Tensor } from '@autoround/core-tensor';
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
    /** The layer's bits and the config field they come from, when the config records them per layer (AWQ packs 4 bits only). */
    private readonly bitsOf?: (layer: string) => { bits: unknown; field: string },
    /** The config field the group size comes from, for error messages. */
    private readonly groupSizeFieldOf: (layer: string) => string = () => 'quantization_config.group_size',
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
    const bad = (msg: string) => new AutoRoundError('E_FORMAT', `${this.ck.dir}: ${msg}`, { subject: layer });
    const b = this.bitsOf?.(layer);
    if (b && b.bits !== 4) throw bad(`${b.field} ${JSON.stringify(b.bits ?? null)} disagrees with ${layer}.qweight: the AWQ GEMM layout packs 4-bit weights only`);
    for (const t of ['qzeros', 'scales']) if (!this.ck.has(`${layer}.${t}`)) throw bad(`${layer}.qweight has no ${layer}.${t} beside it`);
    const qwi = this.ck.info(`${layer}.qweight`);
    const qzi = this.ck.info(`${layer}.qzeros`);
    const sci = this.ck.info(`${layer}.scales`);
    // float16 as AutoAWQ writes them; bfloat16 / float32 decoded by their label
    if (qwi.dtype !== 'I32' || qzi.dtype !== 'I32' || !['F16', 'BF16', 'F32'].includes(sci.dtype)) {
      throw bad(`${layer} has qweight ${qwi.dtype}, qzeros ${qzi.dtype}, scales ${sci.dtype}; AWQ stores I32, I32 and F16 (or BF16 / F32) scales`);
    }
    const shp = (i: { name: string; shape: readonly number[] }) => `${i.name} [${i.shape.join(', ')}]`;
    if (qwi.shape.length !== 2 || qzi.shape.length !== 2 || sci.shape.length !== 2) throw bad(`${shp(qwi)}, ${shp(qzi)} and ${shp(sci)} must all be 2-D`);
    const inF = qwi.shape[0]!;
    const cols = qwi.shape[1]!;
    const out = cols * 8;
    const G = sci.shape[0]!;
    const cfg = this.groupSizeOf(layer);
    const gsField = this.groupSizeFieldOf(layer);
    if (typeof cfg !== 'number' || !Number.isInteger(cfg) || (cfg <= 0 && cfg !== -1)) throw bad(`${gsField} ${JSON.stringify(cfg ?? null)} is not a group size (a positive integer, or -1); ${layer} cannot be read`);
    const gs = cfg <= 0 || cfg > inF ? inF : cfg;
    if (sci.shape[1] !== out || qzi.shape[1] !== cols) {
      throw bad(`${shp(sci)} and ${shp(qzi)} do not fit ${shp(qwi)}: 4-bit packing of ${out} output features gives ${out} scale and ${cols} zero-point columns`);
    }
    if (Math.ceil(inF / gs) !== G || qzi.shape[0] !== G) {
      throw bad(`${gsField} ${cfg} disagrees with ${shp(sci)} and ${shp(qzi)}: ${inF} input features (${shp(qwi)}) in groups of ${gs} give ${Math.ceil(inF / gs)} rows`);
    }
    const qw = this.ck.read(`${layer}.qweight`);
    const qz = this.ck.read(`${layer}.qzeros`);
    const scales = this.ck.readFloat32(`${layer}.scales`).data;
    const qwords = qw.data as Int32Array;
    const zwords = qz.data as Int32Array;
    const w = new Float32Array(out * inF);
    for (let o = 0; o < out; o++) {
      const c = o >> 3;
      const sh = AWQ_ORDER[o & 7]! * 4;
      for (let g = 0; g < G; g++) {
        const s = scales[g * out + o]!;
        const z = (zwords[g * cols + c]! >>> sh) & 15;
        const end = Math.min(inF, (g + 1) * gs);
        for (let i = g * gs; i < end; i++) w[o * inF + i] = Math.fround(s * (((qwords[i * cols + c]! >>> sh) & 15) - z));
      }
    }
    return Tensor.f32([out, inF], w);
  }
}
