import { Checkpoint, Tensor } from '@autoround/core-tensor';
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

/** Bit widths the GPTQ layout packs (GPTQ_BITS of the exporter; 3 bits spill across int32 words). */
const LAYOUT_BITS = [2, 3, 4, 8];
/** Scale dtypes a GPTQ-layout folder may store (float16 as written here and by AutoGPTQ; bf16/f32 by other tools). */
const SCALE_DTYPES = ['F16', 'BF16', 'F32'];

/** One layer's packing parameters, and which config field each comes from (for error messages). */
export interface GptqLayerParams {
  bits: number;
  groupSize: number;
  /** The config field that gave bits, e.g. `quantization_config.bits` (default) or a per-layer entry. */
  bitsField?: string;
  /** The config field that gave group_size. */
  groupSizeField?: string;
}

const shapeOf = (t: { shape: readonly number[] }) => `[${t.shape.join(', ')}]`;

/**
 * A GPTQ-layout folder seen as float32 weights: `<layer>.weight` is dequantized on demand
 * from qweight/qzeros/scales as scales·(q − zero), zero = stored (+1 for GPTQ v1). The config's
 * bits and group_size are checked against the tensors' shapes first, and any disagreement names
 * the config field and the tensor (a wrong field would otherwise unpack garbage or index past the
 * data).
 */
export class GptqLayoutWeights implements WeightSource {
  constructor(
    private readonly ck: Checkpoint,
    private readonly paramsOf: (layer: string) => GptqLayerParams,
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
    const p = this.paramsOf(layer);
    const { bits, groupSize } = p;
    const bitsField = p.bitsField ?? 'quantization_config.bits';
    const gsField = p.groupSizeField ?? 'quantization_config.group_size';
    const bad = (msg: string) => new AutoRoundError('E_FORMAT', `${this.ck.dir}: ${msg}`, { subject: layer });
    if (typeof bits !== 'number' || !LAYOUT_BITS.includes(bits)) {
      throw bad(`${bitsField} ${JSON.stringify(bits ?? null)} is not a bit width the GPTQ layout packs (${LAYOUT_BITS.join(', ')}); ${layer} cannot be read`);
    }
    if (typeof groupSize !== 'number' || !Number.isInteger(groupSize) || (groupSize <= 0 && groupSize !== -1)) {
      throw bad(`${gsField} ${JSON.stringify(groupSize ?? null)} is not a group size (a positive integer, or -1 for one group per row); ${layer} cannot be read`);
    }
    const for_ = (t: string) => `${layer}.${t}`;
    for (const t of ['qweight', 'qzeros', 'scales']) if (!this.ck.has(for_(t))) throw bad(`${layer}.qweight has no ${for_(t)} beside it`);
    const infos = { qweight: this.ck.info(for_('qweight')), qzeros: this.ck.info(for_('qzeros')), scales: this.ck.info(for_('scales')) };
    for (const [t, info] of Object.entries(infos)) {
      const want = t === 'scales' ? SCALE_DTYPES : ['I32'];
      if (!want.includes(info.dtype)) throw bad(`${for_(t)} is stored as ${info.dtype}; the GPTQ layout stores ${t} as ${want.join(' or ')}`);
      if (info.shape.length !== 2) throw bad(`${for_(t)} has shape ${shapeOf(info)}; the GPTQ layout stores ${t} as a 2-D tensor`);
    }
    const [rows, out] = infos.qweight.shape as [number, number];
    if (infos.scales.shape[1] !== out) throw bad(`${for_('scales')} ${shapeOf(infos.scales)} has ${infos.scales.shape[1]} columns, ${for_('qweight')} ${shapeOf(infos.qweight)} ${out} output features`);
    const zcols = Math.ceil((out * bits) / 32);
    if (infos.qzeros.shape[1] !== zcols) {
      throw bad(`${bitsField} ${bits} disagrees with ${for_('qzeros')} ${shapeOf(infos.qzeros)}: ${bits}-bit packing of ${out} zero points per group gives ${zcols} int32 columns`);
    }
    if ((rows * 32) % bits !== 0) {
      throw bad(`${bitsField} ${bits} disagrees with ${for_('qweight')} ${shapeOf(infos.qweight)}: ${rows} int32 rows do not hold a whole number of ${bits}-bit values`);
    }
    const inF = (rows * 32) / bits;
    if (this.ck.has(for_('g_idx'))) {
      const gi = this.ck.info(for_('g_idx'));
      if (gi.shape.length !== 1 || gi.shape[0] !== inF) {
        throw bad(`${bitsField} ${bits} disagrees with ${for_('qweight')} ${shapeOf(infos.qweight)} and ${for_('g_idx')} ${shapeOf(gi)}: ${bits}-bit packing gives ${inF} input features`);
      }
    }
    const gs = groupSize <= 0 || groupSize > inF ? inF : groupSize;
    const G = Math.ceil(inF / gs);
    if (infos.scales.shape[0] !== G || infos.qzeros.shape[0] !== G) {
      throw bad(
        `${gsField} ${groupSize} disagrees with ${for_('scales')} ${shapeOf(infos.scales)} and ${for_('qzeros')} ${shapeOf(infos.qzeros)}: ${inF} input features (${rows} rows of ${bits}-bit values, ${bitsField} ${bits}) in groups of ${gs} give ${G} rows`,
      );
    }
    const qw = this.ck.read(`${layer}.qweight`);
    const qz = this.ck.read(`${layer}.qzeros`);
    // float16 as written here; bfloat16 or float32 as other tools write them: each decoded by its label
    const scales = this.ck.readFloat32(`${layer}.scales`).data;
    const qwords = new Uint32Array(qw.data.buffer as ArrayBuffer, (qw.data as Int32Array).byteOffset, qw.numel);
    const zwords = new Uint32Array(qz.data.buffer as ArrayBuffer, (qz.data as Int32Array).byteOffset, qz.numel);
    const w = new Float32Array(out * inF);
    for (let o = 0; o < out; o++) {
      for (let g = 0; g < G; g++) {
        const s = scales[g * out + o]!;
        const z = unpackAt(zwords, g * zcols, 1, o, bits) + (this.zeroPlusOne ? 1 : 0);
        const end = Math.min(inF, (g + 1) * gs);
        for (let i = g * gs; i < end; i++) w[o * inF + i] = Math.fround(s * (unpackAt(qwords, o, out, i, bits) - z));
      }
    }
    return Tensor.f32([out, inF], w);
  }
}
