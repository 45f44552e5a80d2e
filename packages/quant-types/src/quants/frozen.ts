// GGUF blocks with frozen scales: the per-group scale and min a quantizer chose, the integer
// level of every element, and the inverse (new levels written under the same block headers).
// This is what tuning a GGUF type needs (docs/algorithms/gguf-tuning.md#frozen-scales, `*_dq`: the scale/min search runs once and is
// frozen; only the rounding offsets V move): y = s·clamp(round((x + m)/s + V), lo, hi) − m,
// exactly the value llama.cpp dequantizes.

import type { GGMLType } from '../ggml-types.js';
import { blockSizeOf, ggmlTypeName, isKnownGgmlType, quantTypeOf, typeSizeOf } from '../table.js';
import { f, getF16 } from './search.js';
import { getScaleMinK4 } from './kquants.js';

/** A quantized tensor's blocks seen as groups with a frozen scale s and min m: y = s·l − m. */
export interface FrozenBlocks {
  readonly type: GGMLType;
  /** Elements (a multiple of the block size). */
  readonly n: number;
  /** Elements per group (sub-block) sharing one (s, m). */
  readonly group: number;
  /** Per group: s as dequantization computes it (binary32). */
  readonly scale: Float32Array;
  /** Per group: m, subtracted (0 for the symmetric types; −min for Q4_1/Q5_1). */
  readonly min: Float32Array;
  /** The level range: signed for Q8_0/Q4_0/Q5_0/Q3_K/Q6_K, from 0 for the others. */
  readonly lo: number;
  readonly hi: number;
  /** The blocks whose headers (d, dmin, packed sub-scales) are kept. */
  readonly bytes: Uint8Array;
}

/**
 * How one type's blocks hold their groups' scales and the elements' levels (a row of table.ts has
 * one; its groups are the row's scaleGroup).
 */
export interface FrozenLayout {
  lo: number;
  hi: number;
  /** Fills scale/min of the groups of one block at byte offset o (group index g0). */
  params(b: Uint8Array, o: number, scale: Float32Array, min: Float32Array, g0: number): void;
  /** The level of every element of one block into L at e0. */
  read(b: Uint8Array, o: number, L: Int16Array, e0: number): void;
  /** Writes the levels L[e0 …] into the block at o (its header already in place). */
  write(L: ArrayLike<number>, e0: number, b: Uint8Array, o: number): void;
}

const HALF = 16;

function readQh(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function writeQh(b: Uint8Array, o: number, qh: number): void {
  b[o] = qh & 0xff;
  b[o + 1] = (qh >>> 8) & 0xff;
  b[o + 2] = (qh >>> 16) & 0xff;
  b[o + 3] = (qh >>> 24) & 0xff;
}

/** Q4_0/Q4_1 nibbles (element j low, j + 16 high) and Q5_0/Q5_1 with the fifth bits in qh. */
function nibbles(qs: number, qh: number | null, offset: number): Pick<FrozenLayout, 'read' | 'write'> {
  return {
      read(b, o, L, e0) {
        const h = qh === null ? 0 : readQh(b, o + qh);
        for (let j = 0; j < HALF; j++) {
          const q = b[o + qs + j]!;
          L[e0 + j] = ((q & 0xf) | (((h >>> j) & 1) << 4)) - offset;
          L[e0 + j + HALF] = ((q >> 4) | (((h >>> (j + HALF)) & 1) << 4)) - offset;
        }
      },
      write(L, e0, b, o) {
        let h = 0;
        for (let j = 0; j < HALF; j++) {
          const c0 = L[e0 + j]! + offset;
          const c1 = L[e0 + j + HALF]! + offset;
          b[o + qs + j] = (c0 & 0xf) | ((c1 & 0xf) << 4);
          h |= ((c0 >> 4) & 1) << j;
          h |= ((c1 >> 4) & 1) << (j + HALF);
        }
        if (qh !== null) writeQh(b, o + qh, h >>> 0);
      },
  };
}

/**
 * Q4_K/Q5_K quants: 4 chunks of 64 elements, element l of a chunk in the low nibble of byte l and
 * element 32 + l in the high one; Q5_K keeps the fifth bits in 32 bytes at qh (bit 2c and 2c + 1
 * of byte l for chunk c).
 */
function kNibbles(qs: number, qh: number | null): Pick<FrozenLayout, 'read' | 'write'> {
  return {
      read(b, o, L, e0) {
        for (let c = 0; c < 4; c++) {
          for (let l = 0; l < 32; l++) {
            const q = b[o + qs + 32 * c + l]!;
            const h = qh === null ? 0 : b[o + qh + l]!;
            L[e0 + 64 * c + l] = (q & 0xf) | (((h >> (2 * c)) & 1) << 4);
            L[e0 + 64 * c + 32 + l] = (q >> 4) | (((h >> (2 * c + 1)) & 1) << 4);
          }
        }
      },
      write(L, e0, b, o) {
        if (qh !== null) b.fill(0, o + qh, o + qh + 32);
        for (let c = 0; c < 4; c++) {
          for (let l = 0; l < 32; l++) {
            const c0 = L[e0 + 64 * c + l]!;
            const c1 = L[e0 + 64 * c + 32 + l]!;
            b[o + qs + 32 * c + l] = (c0 & 0xf) | ((c1 & 0xf) << 4);
            if (qh !== null) b[o + qh + l]! |= (((c0 >> 4) & 1) << (2 * c)) | (((c1 >> 4) & 1) << (2 * c + 1));
          }
        }
      },
  };
}

/** Group parameters of the symmetric 16-group k-quants (Q3_K, Q6_K): s = d·scale_j, m = 0. */
function symK16(dAt: number, scaleOf: (b: Uint8Array, o: number, j: number) => number): FrozenLayout['params'] {
  return (b, o, s, m, g0) => {
    const d = getF16(b, o + dAt);
    for (let j = 0; j < 16; j++) {
      s[g0 + j] = f(d * scaleOf(b, o, j));
      m[g0 + j] = 0;
    }
  };
}

/** The 16 signed 6-bit scales of a Q3_K block. */
function q3kScale(b: Uint8Array, so: number, j: number): number {
  const low = j < 8 ? b[so + j]! & 0xf : b[so + j - 8]! >> 4;
  return (low | (((b[so + 8 + (j % 4)]! >> (2 * Math.floor(j / 4))) & 3) << 4)) - 32;
}

/** The frozen-scale layout of Q8_0 blocks. */
export function frozenQ8_0(): FrozenLayout {
  return {
    lo: -127, // the reference never writes −128, and some int8 dot products misbehave on it
    hi: 127,
    params(b, o, s, m, g) {
      s[g] = getF16(b, o);
      m[g] = 0;
    },
    read(b, o, L, e0) {
      for (let j = 0; j < 32; j++) L[e0 + j] = (b[o + 2 + j]! << 24) >> 24;
    },
    write(L, e0, b, o) {
      for (let j = 0; j < 32; j++) b[o + 2 + j] = L[e0 + j]! & 0xff;
    },
  };
}

/** The frozen-scale layout of Q4_0 blocks. */
export function frozenQ4_0(): FrozenLayout {
  return { lo: -8, hi: 7, params: (b, o, s, m, g) => ((s[g] = getF16(b, o)), (m[g] = 0)), ...nibbles(2, null, 8) };
}

/** The frozen-scale layout of Q5_0 blocks. */
export function frozenQ5_0(): FrozenLayout {
  return { lo: -16, hi: 15, params: (b, o, s, m, g) => ((s[g] = getF16(b, o)), (m[g] = 0)), ...nibbles(6, 2, 16) };
}

/** The frozen-scale layout of Q4_1 blocks. */
export function frozenQ4_1(): FrozenLayout {
  return { lo: 0, hi: 15, params: (b, o, s, m, g) => ((s[g] = getF16(b, o)), (m[g] = -getF16(b, o + 2))), ...nibbles(4, null, 0) };
}

/** The frozen-scale layout of Q5_1 blocks. */
export function frozenQ5_1(): FrozenLayout {
  return { lo: 0, hi: 31, params: (b, o, s, m, g) => ((s[g] = getF16(b, o)), (m[g] = -getF16(b, o + 2))), ...nibbles(8, 4, 0) };
}

/** The frozen-scale layout of Q2_K blocks. */
export function frozenQ2_K(): FrozenLayout {
  return {
    lo: 0,
    hi: 3,
    params(b, o, s, m, g0) {
      const d = getF16(b, o + 80);
      const dmin = getF16(b, o + 82);
      for (let j = 0; j < 16; j++) {
        const sc = b[o + j]!;
        s[g0 + j] = f(d * (sc & 0xf));
        m[g0 + j] = f(dmin * (sc >> 4));
      }
    },
    read(b, o, L, e0) {
      for (let i = 0; i < 256; i++) L[e0 + i] = (b[o + 16 + 32 * (i >> 7) + (i & 31)]! >> (2 * ((i & 127) >> 5))) & 3;
    },
    write(L, e0, b, o) {
      b.fill(0, o + 16, o + 80);
      for (let i = 0; i < 256; i++) b[o + 16 + 32 * (i >> 7) + (i & 31)]! |= (L[e0 + i]! & 3) << (2 * ((i & 127) >> 5));
    },
  };
}

/** The frozen-scale layout of Q3_K blocks. */
export function frozenQ3_K(): FrozenLayout {
  return {
    lo: -4,
    hi: 3,
    params: symK16(108, (b, o, j) => q3kScale(b, o + 96, j)),
    read(b, o, L, e0) {
      for (let i = 0; i < 256; i++) {
        const low = (b[o + 32 + 32 * (i >> 7) + (i & 31)]! >> (2 * ((i & 127) >> 5))) & 3;
        const high = (b[o + (i & 31)]! >> (i >> 5)) & 1;
        L[e0 + i] = low - (high ? 0 : 4);
      }
    },
    write(L, e0, b, o) {
      b.fill(0, o, o + 96);
      for (let i = 0; i < 256; i++) {
        const c = L[e0 + i]! + 4;
        b[o + 32 + 32 * (i >> 7) + (i & 31)]! |= (c & 3) << (2 * ((i & 127) >> 5));
        if (c & 4) b[o + (i & 31)]! |= 1 << (i >> 5);
      }
    },
  };
}

/** The frozen-scale layout of Q4_K blocks. */
export function frozenQ4_K(): FrozenLayout {
  return { lo: 0, hi: 15, params: k45Params, ...kNibbles(16, null) };
}

/** The frozen-scale layout of Q5_K blocks. */
export function frozenQ5_K(): FrozenLayout {
  return { lo: 0, hi: 31, params: k45Params, ...kNibbles(48, 16) };
}

/** The frozen-scale layout of Q6_K blocks. */
export function frozenQ6_K(): FrozenLayout {
  return {
    lo: -32,
    hi: 31,
    params: symK16(208, (b, o, j) => (b[o + 192 + j]! << 24) >> 24),
    read(b, o, L, e0) {
      for (let n = 0; n < 2; n++) {
        for (let l = 0; l < 32; l++) {
          const ql0 = b[o + 64 * n + l]!;
          const ql1 = b[o + 64 * n + 32 + l]!;
          const qh = b[o + 128 + 32 * n + l]!;
          const e = e0 + 128 * n + l;
          L[e] = ((ql0 & 0xf) | ((qh & 3) << 4)) - 32;
          L[e + 32] = ((ql1 & 0xf) | (((qh >> 2) & 3) << 4)) - 32;
          L[e + 64] = ((ql0 >> 4) | (((qh >> 4) & 3) << 4)) - 32;
          L[e + 96] = ((ql1 >> 4) | (((qh >> 6) & 3) << 4)) - 32;
        }
      }
    },
    write(L, e0, b, o) {
      for (let n = 0; n < 2; n++) {
        for (let l = 0; l < 32; l++) {
          const e = e0 + 128 * n + l;
          const c1 = L[e]! + 32;
          const c2 = L[e + 32]! + 32;
          const c3 = L[e + 64]! + 32;
          const c4 = L[e + 96]! + 32;
          b[o + 64 * n + l] = (c1 & 0xf) | ((c3 & 0xf) << 4);
          b[o + 64 * n + 32 + l] = (c2 & 0xf) | ((c4 & 0xf) << 4);
          b[o + 128 + 32 * n + l] = (c1 >> 4) | ((c2 >> 4) << 2) | ((c3 >> 4) << 4) | ((c4 >> 4) << 6);
        }
      }
    },
  };
}

function k45Params(b: Uint8Array, o: number, s: Float32Array, m: Float32Array, g0: number): void {
  const d = getF16(b, o);
  const dmin = getF16(b, o + 2);
  for (let j = 0; j < 8; j++) {
    const [sc, mn] = getScaleMinK4(j, b, o + 4);
    s[g0 + j] = f(d * sc);
    m[g0 + j] = f(dmin * mn);
  }
}

/** Whether a type has integer levels under frozen scales (every quantized type this package writes). */
export function hasFrozenLayout(type: number): boolean {
  return isKnownGgmlType(type) && quantTypeOf(type).frozen !== undefined;
}

function layoutOf(type: number): FrozenLayout {
  const l = isKnownGgmlType(type) ? quantTypeOf(type).frozen : undefined;
  if (!l) throw new RangeError(`${ggmlTypeName(type)} has no integer levels to tune`);
  return l;
}

/** The groups' (s, m) and level range of quantized blocks. */
export function freezeBlocks(type: number, bytes: Uint8Array, n: number): FrozenBlocks {
  const lay = layoutOf(type);
  const bs = blockSizeOf(type);
  const ts = typeSizeOf(type);
  const group = quantTypeOf(type).scaleGroup;
  if (n % bs !== 0 || bytes.length !== (n / bs) * ts) throw new RangeError(`${ggmlTypeName(type)}: ${bytes.length} bytes do not hold ${n} elements`);
  const groups = n / group;
  const scale = new Float32Array(groups);
  const min = new Float32Array(groups);
  const perBlock = bs / group;
  for (let k = 0; k < n / bs; k++) lay.params(bytes, k * ts, scale, min, k * perBlock);
  return { type: type as GGMLType, n, group, scale, min, lo: lay.lo, hi: lay.hi, bytes };
}

/** The level of every element of quantized blocks (y = s·level − m). */
export function blockLevels(type: number, bytes: Uint8Array, n: number): Int16Array {
  const lay = layoutOf(type);
  const bs = blockSizeOf(type);
  const ts = typeSizeOf(type);
  const L = new Int16Array(n);
  for (let k = 0; k < n / bs; k++) lay.read(bytes, k * ts, L, k * bs);
  return L;
}

/** New blocks: the frozen headers with `levels` (each within [lo, hi]) as the quants. */
export function packLevels(fr: FrozenBlocks, levels: ArrayLike<number>): Uint8Array {
  const lay = layoutOf(fr.type);
  if (levels.length !== fr.n) throw new RangeError(`${ggmlTypeName(fr.type)}: ${levels.length} levels for ${fr.n} elements`);
  for (let i = 0; i < fr.n; i++) {
    const l = levels[i]!;
    if (!(l >= fr.lo && l <= fr.hi) || !Number.isInteger(l)) throw new RangeError(`${ggmlTypeName(fr.type)}: level ${l} at element ${i} is outside [${fr.lo}, ${fr.hi}]`);
  }
  const bs = blockSizeOf(fr.type);
  const ts = typeSizeOf(fr.type);
  const out = fr.bytes.slice();
  for (let k = 0; k < fr.n / bs; k++) lay.write(levels, k * bs, out, k * ts);
  return out;
}

/**
 * QDQ under frozen scales with rounding offsets V (one per element, or none):
 * level = clamp(round_half_even((x + m)/s + V), lo, hi), y = s·level − m in binary32 as the
 * dequantizers compute it. A group with s = 0 keeps level 0 (its values are −m whatever the level).
 * Writes the levels into `levels` when given, and into `inside` 1 where the rounded value fell
 * within [lo, hi] (where the straight-through gradient ∂y/∂V = s passes the clamp), else 0.
 */
export function frozenQdq(fr: FrozenBlocks, x: Float32Array, v: Float32Array | null, out: Float32Array = new Float32Array(fr.n), levels?: Int16Array, inside?: Uint8Array): Float32Array {
  if (x.length !== fr.n) throw new RangeError(`frozenQdq: ${x.length} values for ${fr.n} elements`);
  const { group, scale, min, lo, hi } = fr;
  for (let g = 0; g < scale.length; g++) {
    const s = scale[g]!;
    const m = min[g]!;
    for (let e = g * group, end = e + group; e < end; e++) {
      let l = 0;
      let within = 0;
      if (s !== 0) {
        const t = f(f(f(x[e]! + m) / s) + (v ? v[e]! : 0));
        l = t - Math.floor(t) === 0.5 ? 2 * Math.round(t / 2) : Math.round(t);
        if (l < lo) l = lo;
        else if (l > hi) l = hi;
        else within = 1;
        l |= 0; // an integer level: −0 (Math.round of a small negative) is 0
      }
      if (inside) inside[e] = within;
      if (levels) levels[e] = l;
      out[e] = f(f(s * l) - m);
    }
  }
  return out;
}
