import { Checkpoint, Tensor } from '@autoround/core-tensor';
import { AutoRoundError, type WeightSource } from '@autoround/core';
import { packFactor } from './pack.js';

/** What a reader needs to know of one layer's compressed-tensors weights args. */
export interface LlmcLayerArgs {
  bits: number;
  /** >0 group size; −1 (or null) one group per row. */
  groupSize: number;
  /** The config fields bits and the group size come from, for error messages. */
  bitsField?: string;
  groupSizeField?: string;
}

/**
 * A compressed-tensors pack-quantized folder seen as float32 weights: `<layer>.weight` is
 * dequantized on demand as scale · (q − zero), q unpacked from weight_packed, zero from
 * weight_zero_point (asym) or 2^(bits−1) (sym, no zero point stored).
 */
export class LlmcLayoutWeights implements WeightSource {
  constructor(
    private readonly ck: Checkpoint,
    private readonly argsOf: (layer: string) => LlmcLayerArgs,
  ) {}

  has(name: string): boolean {
    return this.ck.has(name) || (name.endsWith('.weight') && this.ck.has(name.slice(0, -7) + '.weight_packed'));
  }

  readFloat32(name: string): Tensor<'F32'> {
    if (this.ck.has(name)) return this.ck.readFloat32(name);
    const layer = name.slice(0, -7);
    if (!name.endsWith('.weight') || !this.ck.has(`${layer}.weight_packed`)) {
      throw new AutoRoundError('E_NO_TENSOR', `${this.ck.dir}: no tensor "${name}" and no packed layer "${layer}"`, { subject: name });
    }
    const args = this.argsOf(layer);
    const { bits, groupSize } = args;
    const bitsField = args.bitsField ?? 'quantization_config.bits';
    const gsField = args.groupSizeField ?? 'quantization_config.group_size';
    // pack_to_int32 packs 1…8-bit values; anything else would unpack garbage (or nothing)
    if (typeof bits !== 'number' || !Number.isInteger(bits) || bits < 1 || bits > 8) {
      throw new AutoRoundError('E_FORMAT', `${this.ck.dir}: ${bitsField} ${JSON.stringify(bits ?? null)} is not a bit width compressed-tensors packs (1 to 8); ${layer} cannot be read`, { subject: layer });
    }
    if (typeof groupSize !== 'number' || !Number.isInteger(groupSize) || (groupSize <= 0 && groupSize !== -1)) {
      throw new AutoRoundError('E_FORMAT', `${this.ck.dir}: ${gsField} ${JSON.stringify(groupSize ?? null)} is not a group size (a positive integer, or -1); ${layer} cannot be read`, { subject: layer });
    }
    const packed = this.ck.read(`${layer}.weight_packed`);
    const shapeT = this.ck.read(`${layer}.weight_shape`);
    const scale = this.ck.readFloat32(`${layer}.weight_scale`);
    const shape = Array.from(shapeT.data as ArrayLike<number | bigint>, Number);
    const [out, inF] = shape as [number, number];
    const pf = packFactor(bits);
    const wcols = Math.ceil(inF / pf);
    if (packed.dtype !== 'I32' || packed.shape[0] !== out || packed.shape[1] !== wcols) {
      throw new AutoRoundError('E_FORMAT', `${this.ck.dir}: ${bitsField} ${bits} disagrees with ${layer}.weight_packed ${packed.dtype}[${packed.shape}]: ${bits}-bit packing of a [${out}, ${inF}] weight (${layer}.weight_shape) gives I32[${out}, ${wcols}]`, { subject: layer });
    }
    const gs = groupSize <= 0 || groupSize > inF ? inF : groupSize;
    const G = Math.ceil(inF / gs);
    if (scale.shape[0] !== out || (scale.shape[1] ?? 1) !== G) {
      throw new AutoRoundError('E_FORMAT', `${this.ck.dir}: ${gsField} ${groupSize} disagrees with ${layer}.weight_scale [${scale.shape}]: ${inF} input features in groups of ${gs} give [${out}, ${G}]`, { subject: layer });
    }
    const mask = (1 << bits) - 1;
    const half = 1 << (bits - 1);
    const zeros = new Int32Array(out * G).fill(half);
    if (this.ck.has(`${layer}.weight_zero_point`)) {
      const zp = this.ck.read(`${layer}.weight_zero_point`);
      const zrows = Math.ceil(out / pf);
      if (zp.dtype !== 'I32' || zp.shape[0] !== zrows || zp.shape[1] !== G) {
        throw new AutoRoundError('E_FORMAT', `${this.ck.dir}: ${layer}.weight_zero_point is ${zp.dtype}[${zp.shape}], expected I32[${zrows}, ${G}]`, { subject: layer });
      }
      const zw = zp.data as Int32Array;
      for (let o = 0; o < out; o++) {
        for (let g = 0; g < G; g++) zeros[o * G + g] = (zw[Math.floor(o / pf) * G + g]! >>> ((o % pf) * bits)) & mask;
      }
    }
    const words = packed.data as Int32Array;
    const s = scale.data;
    const w = new Float32Array(out * inF);
    for (let o = 0; o < out; o++) {
      for (let i = 0; i < inF; i++) {
        const g = Math.floor(i / gs);
        const q = (words[o * wcols + Math.floor(i / pf)]! >>> ((i % pf) * bits)) & mask;
        w[o * inF + i] = Math.fround(s[o * G + g]! * (q - zeros[o * G + g]!));
      }
    }
    return Tensor.f32([out, inF], w);
  }
}
