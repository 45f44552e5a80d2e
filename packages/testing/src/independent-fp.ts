// An independent decoder of the floating-point layouts (MXFP4/MXFP8/MXINT4, NVFP4/NVFP4_E5M3, FP8), written from
// docs/formats/fp-formats.md and ../shared/spec/formats.md §1b/§1c without using the toolkit's codecs: element
// and scale bit patterns are decoded here by their definitions.
import type { Tensors } from './pair.js';

const f = Math.fround;

/** E2M1: bit 3 sign, bits 1–2 exponent (bias 1), bit 0 mantissa; exponent 0 is subnormal (0 or 0.5). */
function e2m1(c: number): number {
  const e = (c >> 1) & 3;
  const m = c & 1;
  const mag = e === 0 ? m * 0.5 : (1 + m / 2) * 2 ** (e - 1);
  return c & 8 ? -mag : mag;
}

/** mx_int4: bit 3 sign, bits 0–2 the magnitude in quarters. */
function int4(c: number): number {
  return (c & 8 ? -1 : 1) * (c & 7) / 4;
}

/** float8_e4m3fn: bias 7, no infinities, S.1111.111 is NaN. */
function e4m3(b: number): number {
  const e = (b >> 3) & 15;
  const m = b & 7;
  if (e === 15 && m === 7) return NaN;
  const mag = e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7);
  return b & 0x80 ? -mag : mag;
}

/** float8_e5m2: bias 15, IEEE-style infinities and NaNs. */
function e5m2(b: number): number {
  const e = (b >> 2) & 31;
  const m = b & 3;
  if (e === 31) return m ? NaN : b & 0x80 ? -Infinity : Infinity;
  const mag = e === 0 ? (m / 4) * 2 ** -14 : (1 + m / 4) * 2 ** (e - 15);
  return b & 0x80 ? -mag : mag;
}

/** Unsigned E5M3 (NVFP4_E5M3 scales): bias 15, exponent 0 subnormal with 2^-14 · m/8. */
function ue5m3(b: number): number {
  const e = (b >> 3) & 31;
  const m = b & 7;
  return e === 0 ? (m / 8) * 2 ** -14 : (1 + m / 8) * 2 ** (e - 15);
}

/** IEEE binary16. */
function half(h: number): number {
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const mag = e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -mag : mag;
}

function recip(x: number): number {
  return x === 0 ? 0 : f(1 / x);
}

function f32s(t: { bytes: Buffer }): Float32Array {
  const c = Buffer.from(t.bytes);
  return new Float32Array(c.buffer, c.byteOffset, c.byteLength / 4);
}

/**
 * The QDQ weight [out, in] of `layer` from its tensors: `weight_packed` (two 4-bit codes per byte, the first
 * element in the low nibble) or `weight` (float8 bytes), `weight_scale` (E8M0 bytes 2^(b − 127), UE5M3 bytes,
 * E4M3 bytes with `weight_global_scale`, float32, or float16 for int8 `weight`s of W8A8), in groups along the row, per row, per tensor or in 2-D blocks.
 * `qc` is the folder's quantization_config: its data_type (auto_round) or compressed-tensors format
 * (nvfp4-e5m3-pack-quantized) tells mx_int4 and NVFP4_E5M3 apart.
 */
export function decodeFpLayer(t: Tensors, layer: string, qc: { data_type?: string; format?: string; extra_config?: Record<string, { data_type?: string }> }): Float32Array {
  const dataType = qc.extra_config?.[layer]?.data_type ?? qc.data_type ?? (qc.format === 'nvfp4-e5m3-pack-quantized' ? 'nvfp4_v2' : '');
  const packed = t.get(`${layer}.weight_packed`);
  const wt = packed ?? t.get(`${layer}.weight`);
  const st = t.get(`${layer}.weight_scale`);
  if (!wt || !st) throw new Error(`${layer}: no weight_packed/weight and weight_scale`);
  const out = wt.shape[0]!;
  const inF = packed ? wt.shape[1]! * 2 : wt.shape[1]!;
  const value = (k: number): number => {
    if (packed) {
      const byte = packed.bytes[k >> 1]!;
      const c = k % 2 === 0 ? byte & 15 : byte >> 4;
      return dataType === 'mx_int' ? int4(c) : e2m1(c);
    }
    if (wt.dtype === 'I8') return (wt.bytes[k]! << 24) >> 24; // int-quantized (W8A8): the signed level
    return wt.dtype === 'F8_E5M2' ? e5m2(wt.bytes[k]!) : e4m3(wt.bytes[k]!);
  };
  const rows = st.shape.length === 2 ? st.shape[0]! : 1;
  const cols = st.shape.length === 2 ? st.shape[1]! : (st.shape[0] ?? 1);
  const rowH = rows === out ? 1 : Math.ceil(out / rows);
  const colW = Math.ceil(inF / cols);
  const scaleIndex = (o: number, i: number) => Math.floor(o / rowH) * cols + Math.floor(i / colW);
  const gsT = t.get(`${layer}.weight_global_scale`);
  const y = new Float32Array(out * inF);
  const sf = st.dtype === 'F32' ? f32s(st) : st.dtype === 'F16' ? Float32Array.from({ length: st.bytes.length / 2 }, (_, j) => half(st.bytes.readUInt16LE(2 * j))) : null;
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inF; i++) {
      const k = o * inF + i;
      const si = scaleIndex(o, i);
      let w: number;
      if (st.dtype === 'U8' && dataType === 'nvfp4_v2') w = f(value(k) * recip(recip(ue5m3(st.bytes[si]!))));
      else if (st.dtype === 'U8') w = f(value(k) * 2 ** (st.bytes[si]! - 127));
      else if (st.dtype === 'F8_E4M3') {
        // NVFP4: element / (1/(s · (1/global))) computed as element · 1/(that), float32 in that order
        const gs = f32s(gsT!)[0]!;
        w = f(value(k) * recip(recip(f(e4m3(st.bytes[si]!) * recip(gs)))));
      } else w = f(value(k) * sf![si]!);
      y[k] = w;
    }
  }
  return y;
}
