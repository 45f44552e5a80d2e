// Activation quantization (docs/algorithms/fp-qdq.md#activations): the input x [rows, in] of a quantized linear,
// quantize–dequantized under the scheme's act_* fields, as the original's act_quant_func does on the fly.
import { AutoRoundError, needsActivationCalibration, type QuantScheme } from '@autoround/core';
import { quantizeInt } from '../int/int-qdq.js';
import { fpDataTypeOf, fpQdqValues, nvGlobalScale } from './fp-qdq.js';

/** Does the scheme quantize activations (act_bits < 16)? */
export function quantizesActivations(s: QuantScheme): boolean {
  return s.act_bits < 16;
}

/**
 * Whether the activation quantization needs a calibrated maximum of each layer's input: static activations
 * (FP8_STATIC: input_scale), and NVFP4's nv_fp4_with_static_gs (input_global_scale).
 */
export function needsActivationMax(s: QuantScheme): boolean {
  return needsActivationCalibration(s);
}

/** The weight-shaped scheme the activations are quantized with (x is [rows, in], groups along `in`). */
export function activationScheme(s: QuantScheme): QuantScheme {
  return {
    bits: s.act_bits,
    group_size: s.act_group_size,
    sym: s.act_sym,
    data_type: s.act_data_type,
    act_bits: 16,
    act_group_size: s.act_group_size,
    act_sym: s.act_sym,
    act_data_type: 'float',
    act_dynamic: true,
  };
}

/**
 * Checks a scheme's activation fields before any work: a type this toolkit implements, and the calibrated maximum
 * only where the type takes one. `subject` names the layer or flag.
 */
export function checkActivationScheme(s: QuantScheme, subject: string): void {
  if (!quantizesActivations(s)) return;
  const a = activationScheme(s);
  const fp = fpDataTypeOf(a.data_type, a.bits);
  if (!fp && a.data_type !== 'int') {
    throw new AutoRoundError('E_UNSUPPORTED', `${subject}: act_data_type "${s.act_data_type}" with act_bits ${s.act_bits} is not implemented (int, mx_fp, mx_int, nv_fp4_with_static_gs, nvfp4_v2, fp 8)`, { subject });
  }
  if (a.data_type === 'int' && !s.act_dynamic) {
    throw new AutoRoundError('E_UNSUPPORTED', `${subject}: static int activations (act_data_type int with --disable_act_dynamic) are not implemented; static activations are FP8 (FP8_STATIC)`, { subject });
  }
  if (fp?.format.groupSizes && !fp.format.groupSizes.includes(a.group_size)) {
    throw new AutoRoundError('E_GROUP_SIZE', `${subject}: act_data_type ${fp.format.name} takes act_group_size ${fp.format.groupSizes.join(' or ')}, got ${a.group_size} (--act_group_size)`, { subject });
  }
}

/**
 * QDQ of activations x [rows, cols] under `scheme`'s act_* fields: dynamic scales from x itself, or from the
 * calibrated `actMax` where the type is static (FP8 per tensor; NVFP4's global scale). A new array.
 */
export function quantizeActivation(x: Float32Array, rows: number, cols: number, scheme: QuantScheme, actMax?: number): Float32Array {
  if (!quantizesActivations(scheme)) return x;
  const a = activationScheme(scheme);
  if (a.data_type === 'int') return quantizeInt(x, rows, cols, a).qdq;
  const fp = fpDataTypeOf(a.data_type, a.bits);
  if (!fp) throw new AutoRoundError('E_UNSUPPORTED', `act_data_type "${scheme.act_data_type}" with act_bits ${scheme.act_bits} is not implemented`, { subject: '--act_data_type' });
  if (fp.format.family === 'nv' && fp.staticGlobalScale && actMax !== undefined) {
    return fpQdqValues(x, rows, cols, a, { globalScale: nvGlobalScale(actMax) });
  }
  if (fp.format.family === 'fp8' && !scheme.act_dynamic) {
    if (actMax === undefined) throw new AutoRoundError('E_UNSUPPORTED', 'static FP8 activations need a calibrated maximum (act_max)', { subject: '--act_dynamic' });
    return fpQdqValues(x, rows, cols, { ...a, group_size: 0 }, { tensorMax: actMax });
  }
  return fpQdqValues(x, rows, cols, a);
}


/** FP8_STATIC's input_scale of a calibrated maximum: actMax/448 in float32 (at least 1/(448·512), as the weight's). */
export function fp8InputScale(actMax: number): number {
  const s = Math.fround(Math.fround(actMax) / 448);
  const min = Math.fround(1 / (448 * 512));
  return s >= min ? s : min;
}
