// Quantize–dequantize of the floating-point schemes (MX, NVFP4, FP8), bit for bit as the original's float32
// torch code computes them (docs/algorithms/fp-qdq.md): every intermediate is rounded to float32 in the
// original's order, elements round half to even on their grid, FP8 casts are core-tensor's exact codecs.
import { AutoRoundError, type FpElement, type FpScaleFormat, type QuantScheme, type QuantizedWeight } from '@autoround/core';
import { f32ToF8E4M3Bits, f32ToF8E5M2Bits, f8E4M3BitsToF32, f8E5M2BitsToF32, fpQdqKernel, roundHalfEven } from '@autoround/core-tensor';
import type { IntQdqTuning } from '../int/int-qdq.js';

const f = Math.fround;

/** One floating-point quantization type (a row of the table; docs/algorithms/fp-qdq.md#types). */
export interface FpFormat {
  /** The table row's name ("mx_fp4", "nv_fp4", "fp8_e4m3" …). */
  readonly name: string;
  /** mx: E8M0 power-of-two scale per group; nv: FP8/UE5M3 group scale under a float32 global scale; fp8: float32 scale. */
  readonly family: 'mx' | 'nv' | 'fp8';
  readonly element: FpElement;
  readonly scaleFormat: FpScaleFormat;
  /** The element grid as the original's MX table: exponent bits, mantissa bits with sign and implicit bit, emax, largest value. */
  readonly ebits: number;
  readonly mbits: number;
  readonly emax: number;
  readonly maxNorm: number;
  /** Element bits (4, 6, 8). */
  readonly bits: number;
  /** Group sizes the type takes (undefined: any, FP8). */
  readonly groupSizes?: readonly number[];
}

function fmt(name: string, family: FpFormat['family'], element: FpElement, scaleFormat: FpScaleFormat, ebits: number, mbits: number, emax: number, maxNorm: number, bits: number, groupSizes?: readonly number[]): FpFormat {
  return { name, family, element, scaleFormat, ebits, mbits, emax, maxNorm, bits, ...(groupSizes ? { groupSizes } : {}) };
}

/** Every floating-point type, by row name. */
export const FP_FORMATS: readonly FpFormat[] = [
  fmt('mx_fp4', 'mx', 'e2m1', 'e8m0', 2, 3, 2, 6, 4, [32]),
  fmt('mx_fp6_e2m3', 'mx', 'e2m3', 'e8m0', 2, 5, 2, 7.5, 6, [32]),
  fmt('mx_fp6_e3m2', 'mx', 'e3m2', 'e8m0', 3, 4, 4, 28, 6, [32]),
  fmt('mx_fp8_e4m3', 'mx', 'e4m3', 'e8m0', 4, 5, 8, 448, 8, [32]),
  fmt('mx_fp8_e5m2', 'mx', 'e5m2', 'e8m0', 5, 4, 15, 57344, 8, [32]),
  fmt('mx_int4', 'mx', 'int4', 'e8m0', 0, 4, 0, 1.75, 4, [32]),
  fmt('mx_int8', 'mx', 'int8', 'e8m0', 0, 8, 0, 1.984375, 8, [32]),
  fmt('nv_fp4', 'nv', 'e2m1', 'e4m3', 2, 3, 2, 6, 4, [16]),
  fmt('nv_fp4_e5m3', 'nv', 'e2m1', 'ue5m3', 2, 3, 2, 6, 4, [16, 32]),
  fmt('fp8_e4m3', 'fp8', 'e4m3', 'fp32', 4, 5, 8, 448, 8),
  fmt('fp8_e5m2', 'fp8', 'e5m2', 'fp32', 5, 4, 15, 57344, 8),
];

const BY_NAME = new Map(FP_FORMATS.map((t) => [t.name, t]));

export function fpFormatByName(name: string): FpFormat | undefined {
  return BY_NAME.get(name);
}

/** A floating-point data type as the original spells it: the format and whether MX scales round up (`_rceil`). */
export interface FpDataType {
  readonly format: FpFormat;
  readonly rceil: boolean;
  /** nv_fp4_with_static_gs: the global scale comes from a calibrated maximum (activations). */
  readonly staticGlobalScale: boolean;
}

/**
 * The floating-point type of a data_type and bit width, as the original resolves them ("mx_fp" + 4 → mx_fp4;
 * "mx_fp8e5m2"; "mx_fp_rceil"; "nv_fp"; "nvfp4_v2"; "fp" + 8 → fp8_e4m3; "fp8_e5m2"); null for the non-fp types
 * (int, the GGUF ones, "fp"/"float" at 16 bits).
 */
export function fpDataTypeOf(dataType: string, bits: number): FpDataType | null {
  let dt = dataType.trim().toLowerCase();
  const rceil = dt.endsWith('_rceil');
  if (rceil) dt = dt.slice(0, -'_rceil'.length);
  const r = (name: string, staticGs = false): FpDataType | null => {
    const format = BY_NAME.get(name);
    return format ? { format, rceil, staticGlobalScale: staticGs } : null;
  };
  if (dt.startsWith('mx_')) {
    const m = /^mx_(fp|int)(\d*)(e\dm\d)?$/.exec(dt);
    if (!m) return null;
    const b = m[2] ? Number(m[2]) : bits;
    if (m[1] === 'int') return b === 4 || b === 8 ? r(`mx_int${b}`) : null;
    const elem = m[3] ?? (b === 4 ? 'e2m1' : b === 6 ? 'e2m3' : b === 8 ? 'e4m3' : '');
    if (b === 4) return elem === 'e2m1' ? r('mx_fp4') : null;
    return r(`mx_fp${b}_${elem}`);
  }
  if (rceil) return null;
  if (dt === 'nv_fp' || dt === 'nv_fp4') return bits === 4 ? r('nv_fp4') : null;
  if (dt === 'nv_fp4_with_static_gs') return bits === 4 ? r('nv_fp4', true) : null;
  if (dt === 'nvfp4_v2' || dt === 'fp4_v2') return bits === 4 ? r('nv_fp4_e5m3') : null;
  if (dt === 'fp8_e5m2' || dt === 'fp8e5m2') return r('fp8_e5m2');
  if (dt === 'fp8' || dt === 'fp8_e4m3' || dt === 'fp8_sym' || ((dt === 'fp' || dt === 'float') && bits === 8)) return r('fp8_e4m3');
  return null;
}

/** Is this weight data type one of the floating-point schemes (at the scheme's bits)? */
export function isFpScheme(s: Pick<QuantScheme, 'data_type' | 'bits'>): boolean {
  return s.bits < 16 && fpDataTypeOf(s.data_type, s.bits) !== null;
}

/** The floating-point type of a weight scheme; E_UNSUPPORTED naming `subject` for a data type/bits pair without one. */
export function fpDataTypeOfScheme(s: Pick<QuantScheme, 'data_type' | 'bits'>, subject = '--data_type'): FpDataType {
  const t = fpDataTypeOf(s.data_type, s.bits);
  if (!t) throw new AutoRoundError('E_UNSUPPORTED', `${subject}: data_type "${s.data_type}" with ${s.bits} bits is not a floating-point type this toolkit implements (mx_fp 4/6/8, mx_int 4/8, nv_fp 4, nvfp4_v2, fp 8)`, { subject });
  return t;
}

/**
 * Checks a weight [out, in] of layer `layer` against a floating-point scheme before any work: the group sizes the
 * type takes (NVFP4 16; NVFP4_E5M3 16 or 32; MX 32), a width the group divides (MX/NV: the layer selection keeps
 * such layers in full precision), FP8 blocks that tile the weight.
 */
export function checkFpLayout(s: QuantScheme, out: number, inF: number, layer: string): void {
  const { format } = fpDataTypeOfScheme(s, layer);
  if (format.groupSizes && !format.groupSizes.includes(s.group_size)) {
    throw new AutoRoundError('E_GROUP_SIZE', `${layer}: ${format.name} takes group_size ${format.groupSizes.join(' or ')}, got ${s.group_size} (--group_size)`, { subject: layer });
  }
  if (format.groupSizes && inF % s.group_size !== 0) {
    throw new AutoRoundError('E_GROUP_SIZE', `${layer}: in_features ${inF} is not a multiple of group_size ${s.group_size} (${format.name})`, { subject: layer });
  }
  if (s.group_shape) {
    const [br, bc] = s.group_shape;
    if (format.family !== 'fp8') throw new AutoRoundError('E_GROUP_SIZE', `${layer}: 2-D group_size ${br},${bc} is only for FP8 (${format.name} has 1-D groups)`, { subject: layer });
    if (out % br !== 0 || inF % bc !== 0) {
      throw new AutoRoundError('E_GROUP_SIZE', `${layer}: weight [${out}, ${inF}] is not a whole number of ${br}x${bc} blocks (FP8_BLOCK, --group_size ${br},${bc})`, { subject: layer });
    }
  }
}

/** SignRound's values for a floating-point QDQ; plain RTN uses none. */
export interface FpQdqTuning extends IntQdqTuning {
  /** NVFP4: the weight global scale to use (the fused q/k/v or gate/up minimum); default 448·6/amax(W). */
  globalScale?: number;
  /** Per-group multiplier of the group maximum from a search (optimized RTN, SignRoundV2's init scale). */
  initScale?: Float32Array;
  /** A calibrated maximum used instead of every group's own (static activations: FP8_STATIC's act_max). */
  tensorMax?: number;
  /** Filled with what the straight-through backward needs (SignRound's autograd op; docs/algorithms/fp-qdq.md#gradients). */
  trace?: FpTrace;
}

/**
 * The straight-through derivatives of one QDQ (sizes: elements [out·in], groups): with g the gradient of W_qdq,
 * dL/dV = g · vScale[group] · dx, and dL/dmaxScale[group] = Σ g · (q · p[group] + dx · W · u[group]).
 */
export interface FpTrace {
  /** Per element: the element value (before the scale) and d element / d x through the clamps and the rounding. */
  readonly q: Float32Array;
  readonly dx: Float32Array;
  /** Per group: d W_qdq / d x (the scale the element is multiplied back by), and the scale path's two factors. */
  readonly vScale: Float32Array;
  readonly p: Float32Array;
  readonly u: Float32Array;
}

export function newFpTrace(elements: number, groups: number): FpTrace {
  return { q: new Float32Array(elements), dx: new Float32Array(elements), vScale: new Float32Array(groups), p: new Float32Array(groups), u: new Float32Array(groups) };
}

// ---- element grids -------------------------------------------------------------------------------------------

/**
 * The original's quant_element: the element x (already divided by the scale and clamped to ±maxNorm) rounded
 * half to even on the grid of `ebits`/`mbits`, then clamped. ebits 0: fixed point with mbits − 2 fraction bits.
 */
export function quantElement(x: number, ebits: number, mbits: number, maxNorm: number): number {
  const up = 2 ** (mbits - 2);
  let y: number;
  if (ebits !== 0) {
    // float32 log2 as torch computes it (a value just below a power of two may round up to it)
    let pe = x === 0 ? 0 : floorLog2F32(Math.abs(x));
    const minExp = 2 - 2 ** (ebits - 1);
    if (pe < minExp) pe = minExp;
    const p = 2 ** pe;
    y = f(f(x / p) * up);
    y = roundEvenAbs(y);
    y = f(f(y / up) * p);
  } else {
    y = f(x * up);
    y = roundEvenAbs(y);
    y = f(y / up);
  }
  return y > maxNorm ? maxNorm : y < -maxNorm ? -maxNorm : y;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/**
 * floor(log2 a) of a positive float32 as torch's float32 log2 gives it: the exponent from the bits, except where the
 * mantissa is within 64 ulps of the next power of two, whose float32 log2 may round up to it (then Math.log2 rounded
 * to float32 decides). Subnormals through Math.log2.
 */
export function floorLog2F32(a: number): number {
  F32[0] = a;
  const u = U32[0]!;
  const e = (u >>> 23) & 0xff;
  if (e === 0 || e === 0xff || (u & 0x7fffff) >= 0x7fffc0) return Math.floor(f(Math.log2(a)));
  return e - 127;
}

/** sign(t)·(floor(|t| + 0.5) − [(|t| − 0.5) mod 2 == 0]): round half to even, as the original writes it (−0 → 0). */
function roundEvenAbs(t: number): number {
  const r = roundHalfEven(Math.abs(t));
  return t < 0 ? -r : t > 0 ? r : 0;
}

const E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6];

/** cast_to_fp4 of NVFP4 (|x| ≤ 6 after the clamp): round half to even on the E2M1 grid. */
export function castToFp4(x: number): number {
  const a = Math.abs(x);
  let r: number;
  if (a < 2) r = roundHalfEven(f(2 * a)) / 2;
  else if (a < 4) r = roundHalfEven(a);
  else r = 2 * roundHalfEven(f(a / 2));
  if (r > 6) r = 6;
  return x < 0 ? -r : x > 0 ? r : 0;
}

/** The bit pattern of an element value on its grid (QuantizedWeight.codes; docs/formats/fp-weights.md). */
export function encodeElement(x: number, element: FpElement): number {
  const neg = x < 0;
  const a = Math.abs(x);
  switch (element) {
    case 'e2m1': {
      const k = E2M1.indexOf(a);
      if (k < 0) throw new RangeError(`${x} is not an E2M1 value`);
      return (neg ? 8 : 0) | k;
    }
    case 'int4':
      return (neg ? 8 : 0) | (a * 4);
    case 'int8':
      return Math.round(x * 64) & 0xff;
    case 'e4m3':
      return f32ToF8E4M3Bits(x);
    case 'e5m2':
      return f32ToF8E5M2Bits(x);
    case 'e2m3':
      return (neg ? 0x20 : 0) | miniFloatBits(a, 2, 3);
    case 'e3m2':
      return (neg ? 0x20 : 0) | miniFloatBits(a, 3, 2);
  }
}

/** The value of an element bit pattern (the inverse of encodeElement). */
export function decodeElement(code: number, element: FpElement): number {
  switch (element) {
    case 'e2m1':
      return (code & 8 ? -1 : 1) * E2M1[code & 7]!;
    case 'int4':
      return (code & 8 ? -1 : 1) * (code & 7) * 0.25;
    case 'int8':
      return ((code << 24) >> 24) / 64;
    case 'e4m3':
      return f8E4M3BitsToF32(code);
    case 'e5m2':
      return f8E5M2BitsToF32(code);
    case 'e2m3':
      return (code & 0x20 ? -1 : 1) * miniFloatValue(code & 0x1f, 2, 3);
    case 'e3m2':
      return (code & 0x20 ? -1 : 1) * miniFloatValue(code & 0x1f, 3, 2);
  }
}

/** Unsigned bits of a value on an e{E}m{M} grid without infinities (bias 2^(E−1) − 1, subnormals kept). */
function miniFloatBits(a: number, e: number, m: number): number {
  const bias = 2 ** (e - 1) - 1;
  const minNorm = 2 ** (1 - bias);
  if (a < minNorm) return a / 2 ** (1 - bias - m);
  const ex = Math.floor(Math.log2(a));
  return ((ex + bias) << m) | ((a / 2 ** ex - 1) * 2 ** m);
}

function miniFloatValue(bits: number, e: number, m: number): number {
  const bias = 2 ** (e - 1) - 1;
  const ex = bits >> m;
  const man = bits & ((1 << m) - 1);
  return ex === 0 ? man * 2 ** (1 - bias - m) : (1 + man / 2 ** m) * 2 ** (ex - bias);
}

// ---- scales --------------------------------------------------------------------------------------------------

/** 1/x, or 0 for 0 (the original's get_reciprocal), in float32. */
function recip(x: number): number {
  return x === 0 ? 0 : f(1 / x);
}

/** MX shared exponent of a group maximum: floor(log2 max) − emax, or ceil(log2(max/maxNorm)) for `_rceil`; 1 for 0; within ±127. */
export function mxSharedExp(maxVal: number, format: FpFormat, rceil: boolean): number {
  let e: number;
  if (maxVal === 0) e = rceil ? 1 : 1 - format.emax;
  else if (rceil) e = Math.ceil(f(Math.log2(f(maxVal / format.maxNorm))));
  else e = Math.floor(f(Math.log2(maxVal))) - format.emax;
  return e < -127 ? -127 : e > 127 ? 127 : e;
}

/** NVFP4's global scale of a maximum: 448·6·(1/amax) in float32 (0 for 0). */
export function nvGlobalScale(amax: number): number {
  return f(2688 * recip(f(amax)));
}

/** NVFP4_E5M3's unsigned e5m3 cast (the original's float_to_e5m3_frexp then back): byte and value. */
export function ue5m3Bits(x: number): number {
  if (!(x > 0)) return 0;
  if (x >= 2 ** -14) {
    let ex = Math.floor(Math.log2(x)) + 1; // frexp: x = m·2^ex, m in [0.5, 1)
    let m = x / 2 ** ex;
    if (m >= 1) {
      m /= 2;
      ex += 1;
    } else if (m < 0.5) {
      m *= 2;
      ex -= 1;
    }
    let m3 = roundHalfEven(f((m - 0.5) * 16));
    m3 = Math.min(7, Math.max(0, m3));
    const e5 = Math.min(31, Math.max(0, ex + 14));
    return ((e5 << 3) | m3) & 0xff;
  }
  return Math.min(7, Math.max(1, roundHalfEven(f(f(x / 2 ** -14) * 8))));
}

export function ue5m3Value(b: number): number {
  if (b === 0) return 0;
  const e = (b >> 3) & 0x1f;
  const m = b & 7;
  if (e === 31 && m === 7) return NaN;
  return e === 0 ? (m / 8) * 2 ** -14 : (1 + m / 8) * 2 ** (e - 15);
}

const FP8_MIN_SCALE_E4M3 = f(1 / (448 * 512));
const FP8_MIN_SCALE_E5M2 = f(1 / (57344 * 512));

// ---- the native kernel (core-tensor's FpQdqKernel; kernels-cpu's fp_qdq.cc) ------------------------------------

const FAMILY_CODE = { mx: 0, nv: 1, fp8: 2 } as const;
const ELEMENT_CODE: Record<FpElement, number> = { e2m1: 0, e2m3: 1, e3m2: 2, e4m3: 3, e5m2: 4, int4: 5, int8: 6 };

/**
 * [rows, cols, groupSize] of a weight's groups as the native kernel tiles them (contiguous groups along rows; per
 * tensor: one row of out·in), or null where the TypeScript loop runs (2-D FP8 blocks, empty weights).
 */
export function fpKernelDims(s: QuantScheme, format: FpFormat, out: number, inF: number): [number, number, number] | null {
  if (s.group_shape || out * inF === 0) return null;
  if (s.group_size === 0 && format.family === 'fp8') return [1, out * inF, out * inF];
  return [out, inF, s.group_size <= 0 || inF < s.group_size ? inF : s.group_size];
}

function kernelParams(format: FpFormat, rceil: boolean, globalScale: number | undefined, tensorMax: number | undefined): number[] {
  return [FAMILY_CODE[format.family], ELEMENT_CODE[format.element], format.ebits, format.mbits, format.emax, format.maxNorm, rceil ? 1 : 0, format.scaleFormat === 'ue5m3' ? 1 : 0, globalScale ?? 1, tensorMax !== undefined ? 1 : 0, tensorMax ?? 0];
}

// ---- the QDQ -------------------------------------------------------------------------------------------------

export interface GroupGeometry {
  /** Number of scale groups, and for each group its elements (indices into [out, in]). */
  readonly nGroups: number;
  /** Elements of group g, in order: calls visit(i, slot) with the element index and its slot in the padded group. */
  each(g: number, visit: (i: number, slot: number) => void): void;
  /** Writes group g's element indices in slot order into idx; returns how many. */
  fill(g: number, idx: Int32Array): number;
  /** Slots per group in V's padded layout. */
  readonly slots: number;
  readonly groupSize: number;
}

/** How a weight [out, in] of a floating-point scheme is cut into scale groups (V's padded slots per group). */
export function fpGeometry(s: QuantScheme, out: number, inF: number): GroupGeometry {
  return geometry(s, fpDataTypeOfScheme(s, '--scheme').format, out, inF);
}

function geometry(s: QuantScheme, format: FpFormat, out: number, inF: number): GroupGeometry {
  if (s.group_shape) {
    const [br, bc] = s.group_shape;
    const gr = Math.ceil(out / br);
    const gc = Math.ceil(inF / bc);
    return {
      nGroups: gr * gc,
      slots: br * bc,
      groupSize: bc,
      // slot k: the block's k-th element in row-major order (a partial edge block uses its first slots)
      each(g, visit) {
        const r0 = Math.floor(g / gc) * br;
        const c0 = (g % gc) * bc;
        let k = 0;
        for (let r = r0; r < Math.min(out, r0 + br); r++) for (let c = c0; c < Math.min(inF, c0 + bc); c++) visit(r * inF + c, k++);
      },
      fill(g, idx) {
        const r0 = Math.floor(g / gc) * br;
        const c0 = (g % gc) * bc;
        let k = 0;
        for (let r = r0; r < Math.min(out, r0 + br); r++) for (let c = c0; c < Math.min(inF, c0 + bc); c++) idx[k++] = r * inF + c;
        return k;
      },
    };
  }
  if (s.group_size === 0 && format.family === 'fp8') {
    return {
      nGroups: 1,
      slots: out * inF,
      groupSize: out * inF,
      each(_g, visit) {
        for (let i = 0; i < out * inF; i++) visit(i, i);
      },
      fill(_g, idx) {
        for (let i = 0; i < out * inF; i++) idx[i] = i;
        return out * inF;
      },
    };
  }
  const gs = s.group_size <= 0 || inF < s.group_size ? inF : s.group_size;
  const per = Math.ceil(inF / gs);
  return {
    nGroups: out * per,
    slots: gs,
    groupSize: gs,
    each(g, visit) {
      const row = Math.floor(g / per);
      const c0 = (g % per) * gs;
      const base = row * inF + c0;
      const len = Math.min(gs, inF - c0);
      for (let k = 0; k < len; k++) visit(base + k, k);
    },
    fill(g, idx) {
      const row = Math.floor(g / per);
      const c0 = (g % per) * gs;
      const base = row * inF + c0;
      const len = Math.min(gs, inF - c0);
      for (let k = 0; k < len; k++) idx[k] = base + k;
      return len;
    },
  };
}

/** The group maximum before max_scale (the value max_scale multiplies), from the product and β. */
function mxBeforeBeta(mxAfter: number, beta: number | undefined): number {
  return beta === undefined || beta === 0 ? mxAfter : mxAfter / beta;
}

/** Largest |x| of a tensor (NaN if any element is NaN). */
export function absMax(x: Float32Array): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!);
    if (!(a <= m)) m = a;
  }
  return m;
}

/**
 * The element loop of every family (kernels-cpu's fp_qdq.cc `elements` is the same): for the n elements of a group
 * (indices idx, V slots from vOff), x = w / sc (NV: w · sc, its reciprocal scale), + V, clamped to ±M, rounded on the
 * family's element grid, W_qdq = q · back in float32, the code where `codes` is given, and the straight-through
 * trace. The family is a branch per element, not a callback: one call site per family keeps the loop inlined.
 */
function fpElements(format: FpFormat, weight: Float32Array, idx: Int32Array, n: number, v: Float32Array | undefined, vOff: number, sc: number, back: number, qdq: Float32Array, codes: Uint8Array | null, trace: FpTrace | undefined): void {
  // the family as booleans, tested per element
  const nv = format.family === 'nv';
  const fp8 = format.family === 'fp8';
  const mx = format.family === 'mx';
  const el = format.element;
  const M = nv ? 6 : format.maxNorm;
  const e2m1 = el === 'e2m1';
  const e4 = el === 'e4m3';
  const minExp = 2 - 2 ** (format.ebits - 1);
  for (let k = 0; k < n; k++) {
    const i = idx[k]!;
    let x = nv ? f(weight[i]! * sc) : f(weight[i]! / sc);
    if (v) x = f(x + v[vOff + k]!);
    let inRange = true;
    if (x > M) (x = M), (inRange = false);
    else if (x < -M) (x = -M), (inRange = false);
    let q: number;
    if (fp8) {
      // the element's bits are the rounding itself
      const b = e4 ? f32ToF8E4M3Bits(x) : f32ToF8E5M2Bits(x);
      if (codes) codes[i] = b;
      q = e4 ? f8E4M3BitsToF32(b) : f8E5M2BitsToF32(b);
    } else {
      // E2M1 (NVFP4, MXFP4): the NVFP4 cast is the same rounding (half to even on the grid), without a log2 per element
      q = e2m1 ? castToFp4(x) : quantElement(x, format.ebits, format.mbits, M);
      if (codes) codes[i] = encodeElement(q, el);
    }
    qdq[i] = f(q * back);
    if (trace) {
      trace.q[i] = q;
      let d: number;
      if (fp8) d = inRange ? 1 : 0;
      else if (!inRange || x === 0) d = 0;
      // MX: the original's element rounding under autograd: its private exponent follows x (floor_ste of log2|x|), so
      // d q/dx = q/x where that exponent is not clipped at the smallest, else 1; NVFP4's cast passes the gradient
      else d = mx && format.ebits !== 0 && floorLog2F32(Math.abs(x)) >= minExp ? q / x : 1;
      trace.dx[i] = d;
    }
  }
}

/**
 * Quantize–dequantize of a weight [out, in] under a floating-point scheme, with SignRound's values if given;
 * the codes and scales an exporter writes (QuantizedWeight's floating-point fields).
 */
export function quantizeFp(weight: Float32Array, out: number, inF: number, scheme: QuantScheme, tuning: FpQdqTuning = {}): QuantizedWeight {
  if (weight.length !== out * inF) throw new RangeError(`quantizeFp: weight has ${weight.length} elements, expected ${out}x${inF}`);
  const { format, rceil } = fpDataTypeOfScheme(scheme, '--scheme');
  const geo = geometry(scheme, format, out, inF);
  const qdq = new Float32Array(out * inF);
  const codes = new Uint8Array(out * inF);
  const scales = new Float32Array(geo.nGroups);
  const scaleCodes = format.scaleFormat === 'fp32' ? undefined : new Uint8Array(geo.nGroups);
  const { v, maxScale, initScale, trace } = tuning;
  // the tuning graph's forward needs values only (the trace); the codes are for the emitted weight
  const withCodes = !trace;
  for (const [name, arr, len] of [['v', v, geo.nGroups * geo.slots], ['maxScale', maxScale, geo.nGroups], ['initScale', initScale, geo.nGroups]] as const) {
    if (arr && arr.length !== len) throw new RangeError(`quantizeFp: ${name} has ${arr.length} values, expected ${len}`);
  }
  let globalScale: number | undefined;
  if (format.family === 'nv') globalScale = format.scaleFormat === 'ue5m3' ? 1 : (tuning.globalScale ?? nvGlobalScale(absMax(weight)));
  const el = format.element;
  const kernel = fpQdqKernel();
  const dims = kernel ? fpKernelDims(scheme, format, out, inF) : null;
  if (kernel && dims) {
    // the same loops in native code, bit for bit (kernels-cpu fp_qdq.cc; docs/perf/fp-qdq.md)
    kernel.forward(kernelParams(format, rceil, globalScale, tuning.tensorMax), dims, weight, v ?? null, maxScale ?? null, initScale ?? null, qdq,
      withCodes || format.family === 'fp8' ? codes : null, scales, scaleCodes ?? null, trace ? [trace.q, trace.dx, trace.vScale, trace.p, trace.u] : null);
  } else {
    // the element indices of a group, in slot order (groups tile the weight: slot k is the k-th element)
    const idx = new Int32Array(geo.slots);
    for (let g = 0; g < geo.nGroups; g++) {
      let mx = 0;
      if (tuning.tensorMax !== undefined) mx = f(tuning.tensorMax);
      else
        for (let k = 0, n = geo.fill(g, idx); k < n; k++) {
          const a = Math.abs(weight[idx[k]!]!);
          if (!(a <= mx)) mx = a;
        }
      // MX: max·init_scale·max_scale; NVFP4 and FP8: max·max_scale(·init_scale), the original's orders
      if (format.family === 'mx') {
        if (initScale) mx = f(mx * initScale[g]!);
        if (maxScale) mx = f(mx * maxScale[g]!);
      } else {
        if (maxScale) mx = f(mx * maxScale[g]!);
        if (initScale) mx = f(mx * initScale[g]!);
      }
      const vOff = g * geo.slots;
      if (format.family === 'mx') {
        const e = mxSharedExp(mx, format, rceil);
        const scale = 2 ** e;
        scales[g] = scale;
        scaleCodes![g] = e + 127;
        if (trace) {
          // shared_exp = floor_ste(log2(max·β)) − emax: d scale / dβ = scale/β inside the ±127 clamp, 0 for a zero maximum
          const raw = mx === 0 ? 0 : rceil ? Math.ceil(f(Math.log2(f(mx / format.maxNorm)))) : Math.floor(f(Math.log2(mx))) - format.emax;
          const inside = mx !== 0 && raw >= -127 && raw <= 127;
          const dsdb = inside && maxScale && maxScale[g]! !== 0 ? scale / maxScale[g]! : 0;
          trace.vScale[g] = scale;
          trace.p[g] = dsdb;
          trace.u[g] = -dsdb / scale;
        }
        fpElements(format, weight, idx, geo.fill(g, idx), v, vOff, scale, scale, qdq, withCodes ? codes : null, trace);
      } else if (format.family === 'nv') {
        const gsc = globalScale!;
        let s = f(gsc * f(mx * recip(6)));
        let sc: number;
        if (format.scaleFormat === 'e4m3') {
          if (s > 448) s = 448;
          else if (s < -448) s = -448;
          sc = f32ToF8E4M3Bits(s);
          s = f8E4M3BitsToF32(sc);
        } else {
          if (s > 114688) s = 114688;
          else if (!(s >= 0)) s = 0;
          sc = ue5m3Bits(s);
          s = ue5m3Value(sc);
        }
        scales[g] = s;
        scaleCodes![g] = sc;
        const outScale = recip(f(s * recip(gsc)));
        const back = recip(outScale);
        if (trace) {
          // s = cast_ste(gs·max·β/6) (inside the clamp), o = 1/(s·(1/gs)), W_qdq = q·(1/o)
          const raw = f(gsc * f(mx * recip(6)));
          const lim = format.scaleFormat === 'e4m3' ? 448 : 114688;
          const dsdb = maxScale && Math.abs(raw) <= lim && (format.scaleFormat === 'e4m3' || raw >= 0) ? (gsc * mxBeforeBeta(mx, maxScale[g])) / 6 : 0;
          const rg = recip(gsc);
          const dodb = s !== 0 ? (-1 / (s * s * rg)) * dsdb : 0;
          trace.vScale[g] = back;
          trace.p[g] = -back * back * dodb;
          trace.u[g] = back * dodb;
        }
        fpElements(format, weight, idx, geo.fill(g, idx), v, vOff, outScale, back, qdq, withCodes ? codes : null, trace);
      } else {
        const e4 = el === 'e4m3';
        let scale = f(mx / format.maxNorm);
        const minScale = e4 ? FP8_MIN_SCALE_E4M3 : FP8_MIN_SCALE_E5M2;
        if (!(scale >= minScale)) scale = Number.isNaN(scale) ? scale : minScale;
        scales[g] = scale;
        if (trace) {
          // scale = max(max·β/maxNorm, minimum): d scale/dβ = max/maxNorm above the minimum
          const dsdb = maxScale && scale !== minScale ? mxBeforeBeta(mx, maxScale[g]) / format.maxNorm : 0;
          trace.vScale[g] = scale;
          trace.p[g] = dsdb;
          trace.u[g] = -dsdb / scale;
        }
        fpElements(format, weight, idx, geo.fill(g, idx), v, vOff, scale, scale, qdq, codes, trace);
      }
    }
  }
  return {
    scheme,
    shape: [out, inF],
    groupSize: geo.groupSize,
    qdq,
    codes,
    scales,
    element: el,
    scaleFormat: format.scaleFormat,
    ...(scaleCodes ? { scaleCodes } : {}),
    ...(globalScale !== undefined && format.scaleFormat === 'e4m3' ? { globalScale } : {}),
    ...(scheme.group_shape ? { blockShape: scheme.group_shape } : {}),
  };
}

/** The number of scales (groups) and the V slots per group of a floating-point weight (SignRound's parameter shapes). */
export function fpGroupShape(scheme: QuantScheme, out: number, inF: number): { readonly nGroups: number; readonly slots: number } {
  const { format } = fpDataTypeOfScheme(scheme, '--scheme');
  const geo = geometry(scheme, format, out, inF);
  return { nGroups: geo.nGroups, slots: geo.slots };
}

/**
 * The layers of a block that share NVFP4's weight global scale (the original's fused-layer rule, on by default):
 * q/k/v projections, and gate/up (w1/w3). Keys: local names; each set lists the members present.
 */
export function fusedGlobalScaleSets(locals: readonly string[]): string[][] {
  const sets: string[][] = [];
  for (const group of [['q_proj', 'k_proj', 'v_proj'], ['gate_proj', 'up_proj'], ['w1', 'w3']]) {
    const members = locals.filter((l) => group.some((g) => l.endsWith(`.${g}`) || l === g));
    // one set per parent module ("self_attn", "mlp")
    const byParent = new Map<string, string[]>();
    for (const m of members) {
      const parent = m.slice(0, m.lastIndexOf('.') + 1);
      byParent.set(parent, [...(byParent.get(parent) ?? []), m]);
    }
    for (const s of byParent.values()) if (s.length > 1) sets.push(s);
  }
  return sets;
}

/** The NVFP4 global scale of each weight after the fused-layer rule: the minimum over its set (default, its own). */
export function fusedGlobalScales(weights: ReadonlyMap<string, Float32Array>): Map<string, number> {
  const gs = new Map<string, number>();
  for (const [name, w] of weights) gs.set(name, nvGlobalScale(absMax(w)));
  for (const set of fusedGlobalScaleSets([...weights.keys()])) {
    const m = Math.min(...set.map((n) => gs.get(n)!));
    for (const n of set) gs.set(n, m);
  }
  return gs;
}

/**
 * The values of quantizeFp for x [rows, cols] with groups along each row (activations: act_group_size > 0, -1 per
 * row, 0 per tensor), without codes, scales or tuning: the hot path of the activation QDQ. Equal to
 * `quantizeFp(x, rows, cols, scheme, { globalScale, tensorMax }).qdq` value for value (fp-qdq.test.ts).
 */
export function fpQdqValues(x: Float32Array, rows: number, cols: number, scheme: QuantScheme, opts: { globalScale?: number; tensorMax?: number } = {}): Float32Array {
  const { format, rceil } = fpDataTypeOfScheme(scheme, '--act_data_type');
  if (scheme.group_shape) return quantizeFp(x, rows, cols, scheme, opts).qdq;
  const kernel = fpQdqKernel();
  const dims = kernel ? fpKernelDims(scheme, format, rows, cols) : null;
  if (kernel && dims) {
    const y = new Float32Array(x.length);
    const gsc = format.family === 'nv' && format.scaleFormat === 'e4m3' ? (opts.globalScale ?? nvGlobalScale(absMax(x))) : 1;
    const scales = new Float32Array(dims[0] * Math.ceil(dims[1] / dims[2]));
    kernel.forward(kernelParams(format, rceil, gsc, opts.tensorMax), dims, x, null, null, null, y, null, scales, null, null);
    return y;
  }
  const out = new Float32Array(x.length);
  const perTensor = scheme.group_size === 0 && format.family === 'fp8';
  const gs = perTensor ? rows * cols : scheme.group_size <= 0 || cols < scheme.group_size ? cols : scheme.group_size;
  // contiguous groups: [start, end) ranges over the flat array
  const ranges: number[] = [];
  if (perTensor) ranges.push(0, rows * cols);
  else for (let r = 0; r < rows; r++) for (let c0 = 0; c0 < cols; c0 += gs) ranges.push(r * cols + c0, r * cols + Math.min(cols, c0 + gs));
  let gsc = 1;
  if (format.family === 'nv' && format.scaleFormat === 'e4m3') gsc = opts.globalScale ?? nvGlobalScale(absMax(x));
  const M = format.maxNorm;
  const e2m1 = format.element === 'e2m1';
  const e4 = format.element === 'e4m3';
  const minFp8 = e4 ? FP8_MIN_SCALE_E4M3 : FP8_MIN_SCALE_E5M2;
  for (let k = 0; k < ranges.length; k += 2) {
    const a0 = ranges[k]!;
    const a1 = ranges[k + 1]!;
    let mx = 0;
    if (opts.tensorMax !== undefined) mx = f(opts.tensorMax);
    else
      for (let i = a0; i < a1; i++) {
        const a = Math.abs(x[i]!);
        if (!(a <= mx)) mx = a;
      }
    if (format.family === 'mx') {
      const scale = 2 ** mxSharedExp(mx, format, rceil);
      for (let i = a0; i < a1; i++) {
        let v = f(x[i]! / scale);
        if (v > M) v = M;
        else if (v < -M) v = -M;
        const q = e2m1 ? castToFp4(v) : quantElement(v, format.ebits, format.mbits, M);
        out[i] = f(q * scale);
      }
    } else if (format.family === 'nv') {
      let s = f(gsc * f(mx * recip(6)));
      if (format.scaleFormat === 'e4m3') s = f8E4M3BitsToF32(f32ToF8E4M3Bits(s > 448 ? 448 : s < -448 ? -448 : s));
      else s = ue5m3Value(ue5m3Bits(s > 114688 ? 114688 : !(s >= 0) ? 0 : s));
      const o = recip(f(s * recip(gsc)));
      const back = recip(o);
      for (let i = a0; i < a1; i++) {
        let v = f(x[i]! * o);
        if (v > 6) v = 6;
        else if (v < -6) v = -6;
        out[i] = f(castToFp4(v) * back);
      }
    } else {
      let scale = f(mx / M);
      if (!(scale >= minFp8)) scale = Number.isNaN(scale) ? scale : minFp8;
      for (let i = a0; i < a1; i++) {
        let v = f(x[i]! / scale);
        if (v > M) v = M;
        else if (v < -M) v = -M;
        out[i] = f((e4 ? f8E4M3BitsToF32(f32ToF8E4M3Bits(v)) : f8E5M2BitsToF32(f32ToF8E5M2Bits(v))) * scale);
      }
    }
  }
  return out;
}
