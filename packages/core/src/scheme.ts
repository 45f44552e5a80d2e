import { AutoRoundError, type ScaleDType } from '@autoround/core-tensor';

// one home for the scale dtype (core-tensor's rounding.ts); part of the scheme's vocabulary here
export type { ScaleDType };

/** A quantization scheme, with the original's field names so configs round-trip unchanged. */
export interface QuantScheme {
  bits: number;
  /** >0 groups along the input dim; -1 one group per output row; 0 one group per tensor. */
  group_size: number;
  sym: boolean;
  data_type: string;
  act_bits: number;
  act_group_size: number;
  act_sym: boolean;
  act_data_type: string;
  act_dynamic: boolean;
  super_bits?: number;
  super_group_size?: number;
  scale_dtype?: ScaleDType;
  /**
   * 2-D weight blocks [rows, cols] (FP8_BLOCK: [128, 128]; the original's tuple group_size, `--group_size 128,128`).
   * When set, `group_size` is group_shape[1] and a config writes group_size as the pair.
   */
  group_shape?: readonly [number, number];
}

type Preset = Partial<QuantScheme> & Pick<QuantScheme, 'bits' | 'group_size' | 'data_type'>;

function wo(bits: number, group_size: number, data_type = 'int'): Preset {
  return { bits, group_size, sym: true, data_type, act_bits: 16 };
}

/** The preset table of auto_round/schemes.py (docs/algorithms/schemes.md#preset-schemes). */
export const PRESET_SCHEMES: Readonly<Record<string, Preset>> = {
  W4A16: wo(4, 128),
  W4A16_MIXED: wo(4, 128),
  W2A16: wo(2, 128),
  W3A16: wo(3, 128),
  W5A16: wo(5, 128),
  W6A16: wo(6, 128),
  W8A16: wo(8, 128),
  W2A16G64: wo(2, 64),
  W2A16G32: wo(2, 32),
  MXFP4: { bits: 4, group_size: 32, sym: true, data_type: 'mx_fp', act_bits: 4, act_data_type: 'mx_fp', act_group_size: 32, act_dynamic: true },
  MXFP4_RCEIL: { bits: 4, group_size: 32, sym: true, data_type: 'mx_fp', act_bits: 4, act_data_type: 'mx_fp_rceil', act_group_size: 32, act_dynamic: true },
  MXFP6: { bits: 6, group_size: 32, sym: true, data_type: 'mx_fp', act_bits: 6, act_data_type: 'mx_fp', act_group_size: 32, act_dynamic: true },
  MXFP8: { bits: 8, group_size: 32, sym: true, data_type: 'mx_fp', act_bits: 8, act_data_type: 'mx_fp', act_group_size: 32, act_dynamic: true },
  MXFP8_RCEIL: { bits: 8, group_size: 32, sym: true, data_type: 'mx_fp', act_bits: 8, act_data_type: 'mx_fp_rceil', act_group_size: 32, act_dynamic: true },
  MXINT4: { bits: 4, group_size: 32, sym: true, data_type: 'mx_int', act_bits: 4, act_data_type: 'mx_int', act_group_size: 32, act_dynamic: true },
  NVFP4: { bits: 4, group_size: 16, sym: true, data_type: 'nv_fp', act_bits: 4, act_data_type: 'nv_fp4_with_static_gs', act_group_size: 16, act_dynamic: true },
  NVFP4_E5M3: { bits: 4, group_size: 16, sym: true, data_type: 'nvfp4_v2', act_bits: 4, act_data_type: 'nvfp4_v2', act_group_size: 16, act_dynamic: true },
  FPW8A16: { bits: 8, group_size: 0, sym: true, data_type: 'fp', act_bits: 16, act_data_type: 'fp' },
  FP8_BLOCK: { bits: 8, group_size: 128, group_shape: [128, 128], sym: true, data_type: 'fp', act_bits: 8, act_data_type: 'fp', act_group_size: 128, act_dynamic: true },
  FP8_STATIC: { bits: 8, group_size: -1, sym: true, data_type: 'fp', act_bits: 8, act_data_type: 'fp', act_group_size: 0, act_dynamic: false },
  INT8: { bits: 8, group_size: -1, sym: true, data_type: 'int', act_bits: 8, act_data_type: 'int', act_group_size: -1, act_dynamic: true },
  INT8_W8A8: { bits: 8, group_size: -1, sym: true, data_type: 'int', act_bits: 8, act_data_type: 'int', act_group_size: -1, act_dynamic: true },
  INT4: { bits: 4, group_size: -1, sym: true, data_type: 'int', act_bits: 4, act_data_type: 'int', act_group_size: -1, act_dynamic: true },
  BF16: { bits: 16, group_size: 128, sym: true, data_type: 'fp', act_bits: 16, act_data_type: 'fp' },
  'GGUF:Q4_0': { bits: 4, group_size: 32, sym: true, data_type: 'int', act_bits: 16 },
  'GGUF:Q4_1': { bits: 4, group_size: 32, sym: false, data_type: 'int_asym_float_zp', act_bits: 16 },
  'GGUF:Q5_0': { bits: 5, group_size: 32, sym: true, data_type: 'int', act_bits: 16 },
  'GGUF:Q5_1': { bits: 5, group_size: 32, sym: false, data_type: 'int_asym_float_zp', act_bits: 16 },
  'GGUF:Q8_0': { bits: 8, group_size: 32, sym: true, data_type: 'int', act_bits: 16 },
  'GGUF:Q2_K_S': { bits: 2, group_size: 16, sym: false, data_type: 'int_asym_dq', super_bits: 4, super_group_size: 16, act_bits: 16 },
  'GGUF:Q3_K_S': { bits: 3, group_size: 16, sym: true, data_type: 'int_sym_dq', super_bits: 6, super_group_size: 16, act_bits: 16 },
  'GGUF:Q3_K_M': { bits: 3, group_size: 16, sym: true, data_type: 'int_sym_dq', super_bits: 6, super_group_size: 16, act_bits: 16 },
  'GGUF:Q3_K_L': { bits: 3, group_size: 16, sym: true, data_type: 'int_sym_dq', super_bits: 6, super_group_size: 16, act_bits: 16 },
  'GGUF:Q4_K_S': { bits: 4, group_size: 32, sym: false, data_type: 'int_asym_dq', super_bits: 6, super_group_size: 8, act_bits: 16 },
  'GGUF:Q4_K_M': { bits: 4, group_size: 32, sym: false, data_type: 'int_asym_dq', super_bits: 6, super_group_size: 8, act_bits: 16 },
  'GGUF:Q5_K_S': { bits: 5, group_size: 32, sym: false, data_type: 'int_asym_dq', super_bits: 6, super_group_size: 8, act_bits: 16 },
  'GGUF:Q5_K_M': { bits: 5, group_size: 32, sym: false, data_type: 'int_asym_dq', super_bits: 6, super_group_size: 8, act_bits: 16 },
  // llama.cpp's MXFP4 blocks: the MXFP4 weights without activation quantization (docs/formats/gguf.md#mxfp4-files)
  'GGUF:MXFP4': { bits: 4, group_size: 32, sym: true, data_type: 'mx_fp', act_bits: 16 },
  'GGUF:Q6_K': { bits: 6, group_size: 16, sym: true, data_type: 'int_sym_dq', super_bits: 8, super_group_size: 16, act_bits: 16 },
};

export const SCHEME_DEFAULTS = { sym: true, act_bits: 16, act_data_type: 'float', act_dynamic: true } as const;

/** Fills the act_* defaults the original derives from the weight fields. */
export function completeScheme(p: Preset): QuantScheme {
  const sym = p.sym ?? SCHEME_DEFAULTS.sym;
  const s: QuantScheme = {
    bits: p.bits,
    group_size: p.group_size,
    sym,
    data_type: p.data_type,
    act_bits: p.act_bits ?? SCHEME_DEFAULTS.act_bits,
    act_group_size: p.act_group_size ?? p.group_size,
    act_sym: p.act_sym ?? sym,
    act_data_type: p.act_data_type ?? SCHEME_DEFAULTS.act_data_type,
    act_dynamic: p.act_dynamic ?? SCHEME_DEFAULTS.act_dynamic,
  };
  if (p.super_bits !== undefined) s.super_bits = p.super_bits;
  if (p.super_group_size !== undefined) s.super_group_size = p.super_group_size;
  if (p.scale_dtype !== undefined) s.scale_dtype = p.scale_dtype;
  if (p.group_shape !== undefined) s.group_shape = p.group_shape;
  return s;
}

export function presetNames(): string[] {
  return Object.keys(PRESET_SCHEMES);
}

/** Looks a preset up case-insensitively ("w4a16", "gguf:q4_k_m"). */
export function presetScheme(name: string): QuantScheme {
  const key = Object.keys(PRESET_SCHEMES).find((k) => k.toUpperCase() === name.trim().toUpperCase());
  if (!key) {
    throw new AutoRoundError('E_UNKNOWN_SCHEME', `unknown scheme "${name}" (--scheme); known: ${presetNames().join(', ')}`, { subject: '--scheme' });
  }
  return completeScheme(PRESET_SCHEMES[key]!);
}

export type SchemeOverrides = Partial<QuantScheme>;

/** Applies user overrides (--bits, --group_size, --asym …) to a preset, as the original does; GGUF presets ignore them. */
export function resolveScheme(name: string, overrides: SchemeOverrides = {}): QuantScheme {
  const base = presetScheme(name);
  if (name.toUpperCase().startsWith('GGUF:')) return base;
  const s: QuantScheme = { ...base };
  for (const [k, v] of Object.entries(overrides) as [keyof QuantScheme, unknown][]) {
    if (v !== undefined) (s as unknown as Record<string, unknown>)[k] = v;
  }
  // a pair (FP8 blocks) sets group_size to its columns; a plain --group_size replaces the preset's blocks
  if (overrides.group_shape !== undefined) s.group_size = overrides.group_shape[1];
  else if (overrides.group_size !== undefined) delete s.group_shape;
  if (overrides.group_size !== undefined && overrides.act_group_size === undefined) s.act_group_size = s.group_size;
  if (overrides.sym !== undefined && overrides.act_sym === undefined) s.act_sym = s.sym;
  validateScheme(s, '--scheme');
  return s;
}

/**
 * Whether a scheme's activation quantization needs ranges calibrated on data (docs/algorithms/fp-qdq.md#activations):
 * static activations (FP8_STATIC's input_scale) and NVFP4's nv_fp4_with_static_gs (input_global_scale).
 */
export function needsActivationCalibration(s: QuantScheme): boolean {
  return s.act_bits < 16 && (!s.act_dynamic || s.act_data_type.trim().toLowerCase() === 'nv_fp4_with_static_gs');
}

/** Is this a plain integer weight-only scheme (the W*A16 family)? */
export function isIntWeightOnly(s: QuantScheme): boolean {
  return s.data_type === 'int' && s.act_bits >= 16 && s.bits < 16;
}

/**
 * Why `s` is not an integer weight-only scheme, naming the one field at fault (bits, then data_type,
 * then act_bits), for the packed exporters' messages; null when isIntWeightOnly(s).
 */
export function intWeightOnlyMismatch(s: QuantScheme, dataTypes: readonly string[] = ['int']): string | null {
  if (s.bits >= 16) return `bits ${s.bits} quantizes nothing (every layer stays in full precision), so there is nothing to pack; use bits 2 to 8`;
  if (s.data_type !== 'int') return `data_type "${s.data_type}" is not supported (${dataTypes.length === 1 ? 'only' : 'supported:'} ${dataTypes.map((d) => JSON.stringify(d)).join(', ')})`;
  if (s.act_bits < 16) return `act_bits ${s.act_bits} (activation quantization) is not supported yet`;
  return null;
}

export function validateScheme(s: QuantScheme, subject: string): void {
  const ok = Number.isInteger(s.bits) && s.bits >= 1 && s.bits <= 16;
  if (!ok) throw new AutoRoundError('E_BAD_FLAG', `${subject}: bits must be an integer in 1..16, got ${s.bits}`, { subject });
  if (s.group_shape && !s.group_shape.every((n) => Number.isInteger(n) && n > 0)) {
    throw new AutoRoundError('E_BAD_FLAG', `--group_size: a 2-D group size must be two positive integers (128,128), got ${s.group_shape.join(',')}`, { subject: '--group_size' });
  }
  if (!Number.isInteger(s.group_size) || s.group_size < -1) {
    throw new AutoRoundError('E_BAD_FLAG', `${subject}: group_size must be -1, 0 or a positive integer, got ${s.group_size}`, { subject });
  }
}

/** The scale dtype in force for a scheme: fp16 by default, fp32 for GGUF types. */
export function scaleDtypeOf(s: QuantScheme): ScaleDType {
  if (s.scale_dtype) return s.scale_dtype;
  if (s.data_type.endsWith('_dq') || s.data_type === 'int_asym_float_zp') return 'fp32';
  return 'fp16';
}

export function schemeEquals(a: QuantScheme, b: QuantScheme): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof QuantScheme>;
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}

/** The fields of `s` that differ from `base` (for extra_config). */
export function schemeDiff(s: QuantScheme, base: QuantScheme): Partial<QuantScheme> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(s) as (keyof QuantScheme)[]) if (s[k] !== base[k]) out[k] = s[k];
  return out as Partial<QuantScheme>;
}

/** Effective group size for a layer: -1 or in < gs means per row, 0 per tensor. */
export function effectiveGroupSize(groupSize: number, inFeatures: number, outFeatures: number): number {
  if (groupSize === 0) return inFeatures * outFeatures;
  if (groupSize === -1 || inFeatures < groupSize) return inFeatures;
  return groupSize;
}

/**
 * A layer's scheme as an auto_round (or fake) quantization_config records it (docs/formats/auto_round.md): the
 * config's scheme fields with the layer's extra_config entry over them; group_size may be the FP8 block pair.
 * Fields a config leaves out take the preset defaults (16-bit activations).
 */
export function configLayerScheme(qc: Readonly<Record<string, unknown>>, layer: string): QuantScheme {
  const extra = (qc.extra_config as Record<string, Record<string, unknown>> | undefined)?.[layer];
  const m: Record<string, unknown> = { ...qc, ...(extra ?? {}) };
  const num = (k: string) => (typeof m[k] === 'number' ? (m[k] as number) : undefined);
  const bool = (k: string) => (typeof m[k] === 'boolean' ? (m[k] as boolean) : undefined);
  const str = (k: string) => (typeof m[k] === 'string' ? (m[k] as string) : undefined);
  const gs = m.group_size;
  const shape = Array.isArray(gs) && gs.length === 2 && gs.every((v) => typeof v === 'number') ? ([gs[0], gs[1]] as [number, number]) : undefined;
  const p: Preset = { bits: num('bits') ?? 16, group_size: shape ? shape[1] : (num('group_size') ?? -1), data_type: str('data_type') ?? 'int', act_bits: num('act_bits') ?? 16 };
  for (const k of ['act_group_size'] as const) if (num(k) !== undefined) p[k] = num(k)!;
  for (const k of ['sym', 'act_sym', 'act_dynamic'] as const) if (bool(k) !== undefined) p[k] = bool(k)!;
  if (str('act_data_type') !== undefined) p.act_data_type = str('act_data_type')!;
  if (shape) p.group_shape = shape;
  return completeScheme(p);
}

