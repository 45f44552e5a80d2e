// Activation quantization from what a quantized folder stores (docs/formats/fp-formats.md#activations): the
// readers of the exported formats hand evaluation this, so that a W4A4 folder is measured as W4A4. Dynamic types
// quantize x itself (quantizeActivation); NVFP4's static-global-scale activations use the stored
// input_global_scale, FP8_STATIC the stored input_scale.
import { type ActivationQdq, AutoRoundError, type QuantScheme } from '@autoround/core';
import { f32ToF8E4M3Bits, f32ToF8E5M2Bits, f8E4M3BitsToF32, f8E5M2BitsToF32 } from '@autoround/core-tensor';
import { activationScheme, quantizeActivation, quantizesActivations } from './activation.js';
import { fpDataTypeOf, quantizeFp } from './fp-qdq.js';

const f = Math.fround;

/** A layer's scheme (its act_* fields) and the activation scales its folder stores. */
export interface StoredActivation {
  readonly scheme: QuantScheme;
  /** NVFP4 (nv_fp4_with_static_gs): input_global_scale, 448·6/act_max. */
  readonly inputGlobalScale?: number;
  /** FP8 static: input_scale, act_max/448. */
  readonly inputScale?: number;
}

/**
 * The activation QDQ of one layer from its stored scales, null when its activations stay in full precision:
 * NVFP4 with the stored global scale and dynamic E4M3 group scales; static FP8 as x / input_scale cast to float8,
 * times input_scale (what quantizeActivation computes from act_max, and a static FP8 kernel from input_scale);
 * the dynamic types from x itself.
 */
export function storedActivationQdq(a: StoredActivation, layer: string): ((x: Float32Array, rows: number, cols: number) => Float32Array) | null {
  const s = a.scheme;
  if (!quantizesActivations(s)) return null;
  const t = fpDataTypeOf(s.act_data_type, s.act_bits);
  if (t?.format.family === 'nv' && t.staticGlobalScale) {
    if (a.inputGlobalScale === undefined) throw new AutoRoundError('E_FORMAT', `${layer}: act_data_type ${s.act_data_type} needs the layer's input_global_scale, which the folder does not have`, { subject: layer });
    const gs = a.inputGlobalScale;
    return (x, rows, cols) => quantizeFp(x, rows, cols, activationScheme(s), { globalScale: gs }).qdq;
  }
  if (t?.format.family === 'fp8' && !s.act_dynamic) {
    if (a.inputScale === undefined) throw new AutoRoundError('E_FORMAT', `${layer}: static FP8 activations (act_dynamic false) need the layer's input_scale, which the folder does not have`, { subject: layer });
    const scale = a.inputScale;
    const e4 = t.format.element === 'e4m3';
    const max = t.format.maxNorm;
    return (x) => {
      const y = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) {
        let v = f(x[i]! / scale);
        if (v > max) v = max;
        else if (v < -max) v = -max;
        y[i] = f((e4 ? f8E4M3BitsToF32(f32ToF8E4M3Bits(v)) : f8E5M2BitsToF32(f32ToF8E5M2Bits(v))) * scale);
      }
      return y;
    };
  }
  return (x, rows, cols) => quantizeActivation(x, rows, cols, s);
}

/** One ActivationQdq over every layer's stored settings (keyed by full layer name); undefined when none quantizes. */
export function activationsOf(layers: ReadonlyMap<string, StoredActivation>): ActivationQdq | undefined {
  const fns = new Map<string, (x: Float32Array, rows: number, cols: number) => Float32Array>();
  for (const [layer, a] of layers) {
    const fn = storedActivationQdq(a, layer);
    if (fn) fns.set(layer, fn);
  }
  if (fns.size === 0) return undefined;
  return (linear, x, rows, cols) => fns.get(linear)?.(x, rows, cols) ?? x;
}
