// A second dequantizer, written from the element-position formulas of docs/formats/gguf.md#element-positions (not from the
// C loops that src/quants follows): for each element i it locates its bits directly.
// Arithmetic mirrors the spec's "y = f32(d)·sc·q − f32(dmin)·mn" with binary32 rounding per step.

const f = Math.fround;

function half(b: Uint8Array, o: number): number {
  const h = b[o]! | (b[o + 1]! << 8);
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const i8 = (v: number): number => (v << 24) >> 24;

/** Per type: bytes per block, elements per block, value of element i of the block at o. */
const SPEC: Record<string, { bytes: number; n: number; at: (b: Uint8Array, o: number, i: number) => number }> = {
  // MXFP4 (docs/formats/gguf.md#mxfp4). E2M1 code: bit 3 sign, bits 1–2 exponent, bit 0 mantissa; value = E2M1 × 2^(e − 127) (the E8M0 scale)
  MXFP4: {
    bytes: 17,
    n: 32,
    at: (b, o, i) => {
      const c = i < 16 ? b[o + 1 + i]! & 15 : b[o + 1 + i - 16]! >> 4;
      const ex = (c >> 1) & 3;
      const mag = ex === 0 ? (c & 1) * 0.5 : (1 + (c & 1) / 2) * 2 ** (ex - 1);
      // code 8 (−0) dequantizes to +0: llama.cpp's table holds the integer 0 there
      return f((c & 8 && mag !== 0 ? -mag : mag) * 2 ** (b[o]! - 127));
    },
  },
  Q8_0: { bytes: 34, n: 32, at: (b, o, i) => f(half(b, o) * i8(b[o + 2 + i]!)) },
  Q4_0: {
    bytes: 18,
    n: 32,
    at: (b, o, i) => {
      const q = i < 16 ? b[o + 2 + i]! & 15 : b[o + 2 + i - 16]! >> 4;
      return f((q - 8) * half(b, o));
    },
  },
  Q4_1: {
    bytes: 20,
    n: 32,
    at: (b, o, i) => {
      const q = i < 16 ? b[o + 4 + i]! & 15 : b[o + 4 + i - 16]! >> 4;
      return f(f(q * half(b, o)) + half(b, o + 2));
    },
  },
  Q5_0: {
    bytes: 22,
    n: 32,
    at: (b, o, i) => {
      const qh = (b[o + 2]! | (b[o + 3]! << 8) | (b[o + 4]! << 16) | (b[o + 5]! << 24)) >>> 0;
      const lo = i < 16 ? b[o + 6 + i]! & 15 : b[o + 6 + i - 16]! >> 4;
      const q = lo | (((qh >>> i) & 1) << 4);
      return f((q - 16) * half(b, o));
    },
  },
  Q5_1: {
    bytes: 24,
    n: 32,
    at: (b, o, i) => {
      const qh = (b[o + 4]! | (b[o + 5]! << 8) | (b[o + 6]! << 16) | (b[o + 7]! << 24)) >>> 0;
      const lo = i < 16 ? b[o + 8 + i]! & 15 : b[o + 8 + i - 16]! >> 4;
      const q = lo | (((qh >>> i) & 1) << 4);
      return f(f(q * half(b, o)) + half(b, o + 2));
    },
  },
  Q2_K: {
    bytes: 84,
    n: 256,
    at: (b, o, i) => {
      const n = Math.floor(i / 128);
      const j = Math.floor((i % 128) / 32);
      const l = i % 32;
      const q = (b[o + 16 + 32 * n + l]! >> (2 * j)) & 3;
      const sc = b[o + Math.floor(i / 16)]!;
      const d = half(b, o + 80);
      const dmin = half(b, o + 82);
      return f(f(f(d * (sc & 15)) * q) - f(dmin * (sc >> 4)));
    },
  },
  Q3_K: {
    bytes: 110,
    n: 256,
    at: (b, o, i) => {
      const n = Math.floor(i / 128);
      const j = Math.floor((i % 128) / 32);
      const l = i % 32;
      const low2 = (b[o + 32 + 32 * n + l]! >> (2 * j)) & 3;
      const high = (b[o + (i % 32)]! >> Math.floor(i / 32)) & 1;
      const v = low2 - (high ? 0 : 4);
      const s = Math.floor(i / 16);
      const sc = o + 96;
      const low4 = s < 8 ? b[sc + s]! & 15 : b[sc + s - 8]! >> 4;
      const high2 = (b[sc + 8 + (s % 4)]! >> (2 * Math.floor(s / 4))) & 3;
      const scale = (low4 | (high2 << 4)) - 32;
      return f(f(half(b, o + 108) * scale) * v);
    },
  },
  Q4_K: {
    bytes: 144,
    n: 256,
    at: (b, o, i) => {
      const c = Math.floor(i / 64);
      const l = i % 32;
      const hi = i % 64 >= 32;
      const byte = b[o + 16 + 32 * c + l]!;
      const q = hi ? byte >> 4 : byte & 15;
      const [sc, mn] = scaleMin6(b, o + 4, Math.floor(i / 32));
      return f(f(f(half(b, o) * sc) * q) - f(half(b, o + 2) * mn));
    },
  },
  Q5_K: {
    bytes: 176,
    n: 256,
    at: (b, o, i) => {
      const c = Math.floor(i / 64);
      const l = i % 32;
      const hi = i % 64 >= 32;
      const byte = b[o + 48 + 32 * c + l]!;
      const low = hi ? byte >> 4 : byte & 15;
      const bit = (b[o + 16 + l]! >> (2 * c + (hi ? 1 : 0))) & 1;
      const q = low | (bit << 4);
      const [sc, mn] = scaleMin6(b, o + 4, Math.floor(i / 32));
      return f(f(f(half(b, o) * sc) * q) - f(half(b, o + 2) * mn));
    },
  },
  Q6_K: {
    bytes: 210,
    n: 256,
    at: (b, o, i) => {
      const n = Math.floor(i / 128);
      const r = i % 128;
      const quarter = Math.floor(r / 32);
      const l = r % 32;
      const ql = o + 64 * n;
      const qh = b[o + 128 + 32 * n + l]!;
      const low = quarter === 0 ? b[ql + l]! & 15 : quarter === 1 ? b[ql + 32 + l]! & 15 : quarter === 2 ? b[ql + l]! >> 4 : b[ql + 32 + l]! >> 4;
      const high = (qh >> (2 * quarter)) & 3;
      const q = (low | (high << 4)) - 32;
      return f(f(half(b, o + 208) * i8(b[o + 192 + Math.floor(i / 16)]!)) * q);
    },
  },
};

/** The 6-bit (scale, min) of sub-block j, as docs/formats/gguf.md#q4_k-scale-packing describes the 12 bytes. */
function scaleMin6(b: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [b[s + j]! & 63, b[s + j + 4]! & 63];
  const sc = (b[s + j + 4]! & 15) | ((b[s + j - 4]! >> 6) << 4);
  const mn = (b[s + j + 4]! >> 4) | ((b[s + j]! >> 6) << 4);
  return [sc, mn];
}

export function independentDequantize(type: string, bytes: Uint8Array, n: number): Float32Array {
  const s = SPEC[type];
  if (!s) throw new Error(`no spec dequantizer for ${type}`);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const blk = Math.floor(i / s.n);
    y[i] = s.at(bytes, blk * s.bytes, i % s.n);
  }
  return y;
}

export const SPEC_TYPES = Object.keys(SPEC);
