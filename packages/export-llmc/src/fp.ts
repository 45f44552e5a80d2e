// The floating-point tensor layouts (docs/formats/fp-formats.md): what compressed-tensors writes for
// nvfp4-pack-quantized, mxfp4-pack-quantized, mxfp8-quantized and float-quantized, and what the original's
// auto_round format writes for the same schemes (its MX/NV packing is "auto_round:llm_compressor", its FP8 one
// the same weight/weight_scale/input_scale tensors). One home for both formats: packing a layer, reading it
// back to its QDQ weight, and the activation quantization the stored scales imply.

import { type DType, type Checkpoint, Tensor, f8E4M3BitsToF32 } from '@autoround/core-tensor';
import { AutoRoundError, type FpElement, type QuantizedWeight, type QuantScheme } from '@autoround/core';
import type { PackedTensor } from '@autoround/export-gptq';
import { decodeElement, fpDataTypeOf, type StoredActivation, ue5m3Value } from '@autoround/quant-types';

const f = Math.fround;

/** Elements two to a byte (weight_packed): E2M1 and mx_int4 nibbles. */
const NIBBLE_ELEMENTS: readonly FpElement[] = ['e2m1', 'int4'];
/** Elements stored as float8 bytes (weight). */
const BYTE_ELEMENTS: Readonly<Partial<Record<FpElement, DType>>> = { e4m3: 'F8_E4M3', e5m2: 'F8_E5M2' };

/**
 * Why these layouts cannot store a weight scheme (null when they can): the 4-bit elements (MXFP4, MXINT4,
 * NVFP4, NVFP4_E5M3) and the float8 ones (MXFP8, FP8) are written; fp6 and mx_int8 have no layout here.
 */
export function fpLayoutProblem(s: QuantScheme): string | null {
  const t = fpDataTypeOf(s.data_type, s.bits);
  if (!t) return `data_type "${s.data_type}" with ${s.bits} bits is not a floating-point type`;
  const el = t.format.element;
  if (!NIBBLE_ELEMENTS.includes(el) && !BYTE_ELEMENTS[el]) return `${t.format.name} (${el} elements) has no packed layout here (4-bit E2M1/mx_int4 and float8 elements are written); use fake`;
  return null;
}

/** The shape of a layer's weight_scale: per tensor [1], per row [out, 1], groups [out, G], FP8 blocks [⌈out/r⌉, ⌈in/c⌉]. */
export function fpScaleShape(q: Pick<QuantizedWeight, 'shape' | 'groupSize' | 'blockShape' | 'scheme'>): [number] | [number, number] {
  const [out, inF] = q.shape;
  if (q.blockShape) return [Math.ceil(out / q.blockShape[0]), Math.ceil(inF / q.blockShape[1])];
  if (q.scheme.group_size === 0 && q.groupSize === out * inF) return [1];
  return [out, Math.ceil(inF / q.groupSize)];
}

/** The tensors of one floating-point layer (docs/formats/fp-formats.md#tensors). */
export function packFpLayer(layer: string, q: QuantizedWeight): PackedTensor[] {
  const [out, inF] = q.shape;
  const { codes, element, scaleFormat, scales } = q;
  if (!codes || !element || !scaleFormat || !scales) {
    throw new AutoRoundError('E_UNSUPPORTED', `${layer}: a floating-point layer needs its element codes and scales (QuantizedWeight.codes, element, scales)`, { subject: layer });
  }
  const res: PackedTensor[] = [];
  if (NIBBLE_ELEMENTS.includes(element)) {
    if (inF % 2 !== 0) throw new AutoRoundError('E_SHAPE', `${layer}: ${inF} input features cannot be packed two to a byte`, { subject: layer });
    // row-major, two consecutive elements per byte, the first in the low nibble
    const packed = new Uint8Array((out * inF) / 2);
    for (let k = 0; k < packed.length; k++) packed[k] = (codes[2 * k]! & 15) | ((codes[2 * k + 1]! & 15) << 4);
    res.push({ suffix: 'weight_packed', dtype: 'U8', shape: [out, inF / 2], data: packed });
  } else {
    const dtype = BYTE_ELEMENTS[element];
    if (!dtype) throw new AutoRoundError('E_UNSUPPORTED', `${layer}: ${element} elements have no packed layout here`, { subject: layer });
    res.push({ suffix: 'weight', dtype, shape: [out, inF], data: codes });
  }
  const sShape = fpScaleShape(q);
  if (scaleFormat === 'fp32') res.push({ suffix: 'weight_scale', dtype: 'F32', shape: sShape, data: Float32Array.from(scales) });
  else {
    if (!q.scaleCodes) throw new AutoRoundError('E_UNSUPPORTED', `${layer}: ${scaleFormat} scales need their stored bytes (QuantizedWeight.scaleCodes)`, { subject: layer });
    res.push({ suffix: 'weight_scale', dtype: scaleFormat === 'e4m3' ? 'F8_E4M3' : 'U8', shape: sShape, data: q.scaleCodes });
  }
  if (scaleFormat === 'e4m3') {
    if (q.globalScale === undefined) throw new AutoRoundError('E_UNSUPPORTED', `${layer}: an NVFP4 layer needs its weight global scale`, { subject: layer });
    res.push({ suffix: 'weight_global_scale', dtype: 'F32', shape: [1], data: Float32Array.of(q.globalScale) });
  }
  if (q.inputGlobalScale !== undefined) res.push({ suffix: 'input_global_scale', dtype: 'F32', shape: [1], data: Float32Array.of(q.inputGlobalScale) });
  if (q.inputScale !== undefined) res.push({ suffix: 'input_scale', dtype: 'F32', shape: [1], data: Float32Array.of(q.inputScale) });
  return res;
}

/** Whether a folder's checkpoint stores `layer` in one of these layouts. */
export function hasFpLayer(ck: Pick<Checkpoint, 'has'>, layer: string): boolean {
  return ck.has(`${layer}.weight_packed`) || (ck.has(`${layer}.weight`) && ck.has(`${layer}.weight_scale`));
}

/** What a reader knows of a layer from its config: the element type of its weights, and its scheme's act fields. */
export interface FpLayerArgs {
  /** The element: e2m1 (MXFP4/NVFP4), int4 (MXINT4), e4m3/e5m2 (MXFP8, FP8). */
  readonly element: FpElement;
  /** The config field that says so, for messages. */
  readonly field: string;
  /** NVFP4_E5M3 (nvfp4_v2): the U8 scale bytes are UE5M3, not E8M0 (the config says which). */
  readonly ue5m3?: boolean;
}

function bad(dir: string, layer: string, what: string): AutoRoundError {
  return new AutoRoundError('E_FORMAT', `${dir}: ${layer}: ${what}`, { subject: layer });
}

/** A stored scalar (weight_global_scale, input_scale …): float32 [1] (or []). */
function scalar(ck: Checkpoint, name: string): number {
  const t = ck.readFloat32(name);
  if (t.data.length !== 1) throw new AutoRoundError('E_FORMAT', `${ck.dir}: ${name} has shape [${t.shape}], expected one value`, { subject: name });
  return t.data[0]!;
}

/**
 * A layer's QDQ weight [out, in] from its stored tensors, computed exactly as the quantizer computed it
 * (docs/formats/fp-formats.md#decoding): MX element · 2^(e − 127); NVFP4 element · 1/(1/(s · (1/gs))) in float32
 * in that order; FP8 element · scale.
 */
export function readFpLayer(ck: Checkpoint, layer: string, args: FpLayerArgs): Tensor<'F32'> {
  const dir = ck.dir;
  const nibbles = NIBBLE_ELEMENTS.includes(args.element);
  const wName = nibbles ? `${layer}.weight_packed` : `${layer}.weight`;
  if (!ck.has(wName)) throw bad(dir, layer, `${args.field} says ${args.element} elements, stored in ${wName}, which the folder does not have`);
  const w = ck.read(wName);
  const want: DType | undefined = nibbles ? 'U8' : BYTE_ELEMENTS[args.element];
  if (w.dtype !== want || w.shape.length !== 2) throw bad(dir, layer, `${wName} is ${w.dtype}[${w.shape}], ${args.field} (${args.element}) needs a 2-D ${want ?? '(no layout)'} tensor`);
  const out = w.shape[0]!;
  const inF = nibbles ? w.shape[1]! * 2 : w.shape[1]!;
  const bytes = w.data as Uint8Array;
  const codes = nibbles ? new Uint8Array(out * inF) : bytes;
  if (nibbles) for (let k = 0; k < bytes.length; k++) (codes[2 * k] = bytes[k]! & 15), (codes[2 * k + 1] = bytes[k]! >> 4);
  const sName = `${layer}.weight_scale`;
  if (!ck.has(sName)) throw bad(dir, layer, `no ${sName}`);
  const st = ck.read(sName);
  const sRows = st.shape.length === 2 ? st.shape[0]! : 1;
  const sCols = st.shape.length === 2 ? st.shape[1]! : st.shape.length === 1 ? st.shape[0]! : 1;
  // per tensor, per row, groups along the row, or 2-D blocks
  let rowOf: (o: number) => number;
  let colOf: (i: number) => number;
  if (sRows === out && inF % sCols === 0) {
    const gs = inF / sCols;
    rowOf = (o) => o;
    colOf = (i) => Math.floor(i / gs);
  } else if (sRows === 1 && sCols === 1) {
    rowOf = () => 0;
    colOf = () => 0;
  } else if (sRows > 0 && sCols > 0 && Math.ceil(out / Math.ceil(out / sRows)) === sRows && Math.ceil(inF / Math.ceil(inF / sCols)) === sCols) {
    const br = Math.ceil(out / sRows);
    const bc = Math.ceil(inF / sCols);
    rowOf = (o) => Math.floor(o / br);
    colOf = (i) => Math.floor(i / bc);
  } else throw bad(dir, layer, `${sName} has shape [${st.shape}], which is no scale layout of a [${out}, ${inF}] weight`);
  const y = new Float32Array(out * inF);
  const el = args.element;
  const dec = new Float32Array(256).map((_, c) => decodeElement(c, el));
  if (st.dtype === 'U8' && ck.has(`${layer}.weight_global_scale`)) throw bad(dir, layer, `${sName} is U8 (E8M0 or UE5M3) but the layer also has a weight_global_scale`);
  if (st.dtype === 'U8') {
    // E8M0 (MX): 2^(byte − 127); UE5M3 (NVFP4_E5M3, global scale 1): element · 1/(1/s)
    const ue5m3 = args.ue5m3 ?? false;
    const sb = st.data as Uint8Array;
    for (let o = 0; o < out; o++) {
      const r = rowOf(o) * sCols;
      for (let i = 0; i < inF; i++) {
        const b = sb[r + colOf(i)]!;
        const k = o * inF + i;
        if (ue5m3) {
          const s = ue5m3Value(b);
          y[k] = f(dec[codes[k]!]! * recip(recip(s)));
        } else y[k] = f(dec[codes[k]!]! * 2 ** (b - 127));
      }
    }
    return Tensor.f32([out, inF], y);
  }
  if (st.dtype === 'F8_E4M3') {
    const gName = `${layer}.weight_global_scale`;
    if (!ck.has(gName)) throw bad(dir, layer, `${sName} is float8_e4m3fn (NVFP4) but there is no ${gName}`);
    const gs = scalar(ck, gName);
    const sb = st.data as Uint8Array;
    const rg = recip(gs);
    for (let o = 0; o < out; o++) {
      const r = rowOf(o) * sCols;
      for (let i = 0; i < inF; i++) {
        const outScale = recip(f(f8E4M3BitsToF32(sb[r + colOf(i)]!) * rg));
        const k = o * inF + i;
        y[k] = f(dec[codes[k]!]! * recip(outScale));
      }
    }
    return Tensor.f32([out, inF], y);
  }
  const sf = ck.readFloat32(sName).data;
  for (let o = 0; o < out; o++) {
    const r = rowOf(o) * sCols;
    for (let i = 0; i < inF; i++) {
      const k = o * inF + i;
      y[k] = f(dec[codes[k]!]! * sf[r + colOf(i)]!);
    }
  }
  return Tensor.f32([out, inF], y);
}

/** 1/x, 0 for 0, float32 (the original's get_reciprocal). */
function recip(x: number): number {
  return x === 0 ? 0 : f(1 / x);
}

/** A layer's stored activation scales, read from its tensors (input_global_scale, input_scale). */
export function storedActivation(ck: Checkpoint, layer: string, scheme: QuantScheme): StoredActivation {
  const igs = `${layer}.input_global_scale`;
  const is = `${layer}.input_scale`;
  return {
    scheme,
    ...(ck.has(igs) ? { inputGlobalScale: scalar(ck, igs) } : {}),
    ...(ck.has(is) ? { inputScale: scalar(ck, is) } : {}),
  };
}
