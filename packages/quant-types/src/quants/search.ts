// The scale searches of ggml-quants.c (docs/formats/gguf.md#scale-searches), in binary32 arithmetic.
//
// JavaScript computes in binary64; every binary32 operation of the C code is reproduced as
// Math.fround(a op b) on binary32 operands, which rounds exactly as the C operation does
// (binary64 carries more than 2·24+2 bits, so the double rounding is innocuous for + − × ÷ and
// sqrt). Sums run left to right in index order, integers meet floats as binary32 values, and no
// multiply-add is fused — the x86-64 baseline build of ggml-base that llama-quantize runs.

import { f16BitsToF32, f32ToF16Bits } from '@autoround/core-tensor';
import { KERNELS_WASM_BASE64 } from './kernels.wasm.js';

export const f = Math.fround;

/** GROUP_MAX_EPS: a group whose largest magnitude is below this is all zeros. */
export const GROUP_MAX_EPS = f(1e-15);
/** binary32 constants of the C sources (0.1f, 0.05f …). */
export const F_0_1 = f(0.1);
export const F_0_05 = f(0.05);
export const F_0_5 = f(0.5);
export const F_0_9 = f(0.9);

/**
 * nearest_int: round to nearest, ties to even. The C code adds 1.5·2^23 in binary32 and reads the
 * mantissa; for a binary32 argument (|v| ≤ 2^22) adding 1.5·2^52 in binary64 rounds identically
 * and spares a Math.fround.
 */
const ROUND_MAGIC = 6755399441055744;
export function nearestInt(v: number): number {
  return v + ROUND_MAGIC - ROUND_MAGIC;
}

/** fp32 → fp16 bits (round to nearest even), as GGML_FP32_TO_FP16. */
export const toF16 = f32ToF16Bits;

export function putF16(out: Uint8Array, o: number, v: number): void {
  const h = f32ToF16Bits(v);
  out[o] = h & 0xff;
  out[o + 1] = h >>> 8;
}

export function getF16(b: Uint8Array, o: number): number {
  return f16BitsToF32(b[o]! | (b[o + 1]! << 8));
}

/**
 * make_qx_quants: symmetric levels −nmax … nmax−1 for x[xo … xo+n), written to L (offset by +nmax)
 * as the reference does; returns the scale. rmseType 0: plain rounding; 1: weights x² (or qw);
 * 2: 1; 3: |x|; 4: sqrt|x|; negative: the "return early" variant.
 */
export function makeQxQuants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  L: Int8Array | Uint8Array,
  lo: number,
  rmseType: number,
  qw: Float32Array | null,
  qwo: number,
): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  let iscale = f(-nmax / max);
  if (rmseType === 0) {
    for (let i = 0; i < n; i++) {
      const l = nearestInt(f(iscale * x[xo + i]!));
      L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
    }
    return f(1 / iscale);
  }
  let returnEarly = false;
  if (rmseType < 0) {
    rmseType = -rmseType;
    returnEarly = true;
  }
  const weight = (i: number): number => {
    const xi = x[xo + i]!;
    if (qw) return qw[qwo + i]!;
    if (rmseType === 1) return f(xi * xi);
    if (rmseType === 2) return 1;
    if (rmseType === 3) return Math.abs(xi);
    return f(Math.sqrt(Math.abs(xi)));
  };
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    let l = nearestInt(f(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lo + i] = l + nmax;
    const w = weight(i);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 !== 0 ? f(sumlx / suml2) : 0;
  if (returnEarly) return suml2 > 0 ? f(F_0_5 * f(scale + f(1 / iscale))) : f(1 / iscale);
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(F_0_1 * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      let l = nearestInt(f(iscale * xi));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      const w = weight(i);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = nearestInt(f(iscale * x[xo + i]!));
        L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
      }
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/**
 * make_q3_quants: symmetric levels with weights x² and up to 5 passes of single-level coordinate
 * descent (doRmse), levels written offset by +nmax; returns the scale.
 */
export function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number, doRmse: boolean): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  const iscale = f(-nmax / max);
  if (doRmse) {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      let l = nearestInt(f(iscale * xi));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      L[lo + i] = l;
      const w = f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    for (let itry = 0; itry < 5; itry++) {
      let nChanged = 0;
      for (let i = 0; i < n; i++) {
        const xi = x[xo + i]!;
        const w = f(xi * xi);
        const li = L[lo + i]!;
        let slx = f(sumlx - f(f(w * xi) * li));
        if (slx > 0) {
          let sl2 = f(suml2 - f(f(w * li) * li));
          let newL = nearestInt(f(f(xi * sl2) / slx));
          newL = Math.max(-nmax, Math.min(nmax - 1, newL));
          if (newL !== li) {
            slx = f(slx + f(f(w * xi) * newL));
            sl2 = f(sl2 + f(f(w * newL) * newL));
            if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
              L[lo + i] = newL;
              sumlx = slx;
              suml2 = sl2;
              nChanged++;
            }
          }
        }
      }
      if (!nChanged) break;
    }
    for (let i = 0; i < n; i++) L[lo + i] = L[lo + i]! + nmax;
    return suml2 > 0 ? f(sumlx / suml2) : 0;
  }
  for (let i = 0; i < n; i++) {
    let l = nearestInt(f(iscale * x[xo + i]!));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lo + i] = l + nmax;
  }
  return f(1 / iscale);
}

// scratch of the asymmetric searches (n ≤ 32, nmax ≤ 31)
const xMinusMin = new Float32Array(32);
const levelValue = new Float32Array(64);
const defaultWeights = new Float32Array(32);

/** Where make_qkx*_quants return their second result (the min to subtract, ≥ 0). */
export const searchResult = { min: 0 };

/**
 * make_qkx2_quants: asymmetric levels 0 … nmax with a min ≤ 0, searched over nstep+1 candidate
 * iscales (rmin + rdelta·is + nmax)/(max − min), 2-parameter weighted least squares per candidate,
 * error |·| (useMad) or squared. Returns the scale; the negated min goes to searchResult.min.
 * Note: like the C code, an improvement updates `min`, which later candidates then start from.
 */
export function makeQkx2Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array,
  wo: number,
  L: Uint8Array,
  lo: number,
  Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  let min = x[xo]!;
  let max = x[xo]!;
  let sumW = weights[wo]!;
  let sumX = f(sumW * x[xo]!);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[wo + i]!;
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    searchResult.min = -min;
    return 0;
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const l = nearestInt(f(iscale * f(xi - min)));
    const q = Math.max(0, Math.min(nmax, l));
    L[lo + i] = q;
    let diff = f(f(f(scale * q) + min) - xi);
    diff = useMad ? Math.abs(diff) : f(diff * diff);
    bestError = f(bestError + f(weights[wo + i]! * diff));
  }
  if (nstep < 1) {
    searchResult.min = -min;
    return scale;
  }
  for (let i = 0; i < n; i++) xMinusMin[i] = f(x[xo + i]! - min);
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      let l = nearestInt(f(iscale * xMinusMin[i]!));
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      Laux[i] = l;
      const wl = f(weights[wo + i]! * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[xo + i]!));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      // the value each level dequantizes to, f(f(scale·l) + min), as a table
      for (let l = 0; l <= nmax; l++) levelValue[l] = f(f(thisScale * l) + thisMin);
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = f(levelValue[Laux[i]!]! - x[xo + i]!);
        diff = useMad ? Math.abs(diff) : f(diff * diff);
        curError = f(curError + f(weights[wo + i]! * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i]!;
        bestError = curError;
        scale = thisScale;
        if (min !== thisMin) {
          min = thisMin;
          for (let i = 0; i < n; i++) xMinusMin[i] = f(x[xo + i]! - min);
        }
      }
    }
  }
  searchResult.min = -min;
  return scale;
}

/**
 * make_qkx3_quants: make_qkx2_quants with default weights x² (weights null) and a guard on the
 * candidate levels (v ≤ 0 → 0, else nearest_int(min(v, nmax))). Used by the imatrix paths.
 */
export function makeQkx3Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array | null,
  wo: number,
  L: Uint8Array,
  lo: number,
  Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  if (!weights) {
    for (let i = 0; i < n; i++) defaultWeights[i] = f(x[xo + i]! * x[xo + i]!);
    weights = defaultWeights;
    wo = 0;
  }
  const w = weights;
  const wAt = (i: number): number => w[wo + i]!;
  let min = x[xo]!;
  let max = x[xo]!;
  let sumW = wAt(0);
  let sumX = f(sumW * x[xo]!);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = wAt(i);
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
  }
  if (min > 0) min = 0;
  if (max <= min) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    searchResult.min = -min;
    return 0;
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestMad = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const l = nearestInt(f(iscale * f(xi - min)));
    const q = Math.max(0, Math.min(nmax, l));
    L[lo + i] = q;
    let diff = f(f(f(scale * q) + min) - xi);
    diff = useMad ? Math.abs(diff) : f(diff * diff);
    bestMad = f(bestMad + f(wAt(i) * diff));
  }
  if (nstep < 1) {
    searchResult.min = -min;
    return scale;
  }
  for (let i = 0; i < n; i++) xMinusMin[i] = f(x[xo + i]! - min);
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      // min is the best fit so far and can be at or near max: v may be huge, inf or NaN
      const v = f(iscale * xMinusMin[i]!);
      const l = v > 0 ? nearestInt(v < nmax ? v : nmax) : 0;
      Laux[i] = l;
      const wl = f(w[wo + i]! * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[xo + i]!));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      for (let l = 0; l <= nmax; l++) levelValue[l] = f(f(thisScale * l) + thisMin);
      let mad = 0;
      for (let i = 0; i < n; i++) {
        let diff = f(levelValue[Laux[i]!]! - x[xo + i]!);
        diff = useMad ? Math.abs(diff) : f(diff * diff);
        mad = f(mad + f(w[wo + i]! * diff));
      }
      if (mad < bestMad) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i]!;
        bestMad = mad;
        scale = thisScale;
        if (min !== thisMin) {
          min = thisMin;
          for (let i = 0; i < n; i++) xMinusMin[i] = f(x[xo + i]! - min);
        }
      }
    }
  }
  searchResult.min = -min;
  return scale;
}

/**
 * make_qp_quants: quantizes n non-negative values (sub-block scales or mins) to levels 0 … nmax
 * under weights qw: 9 candidate iscales, then up to 5 coordinate-descent passes. Returns the
 * super-block scale Σw·x·l / Σw·l².
 */
export function makeQpQuants(n: number, nmax: number, x: Float32Array, L: Uint8Array, qw: Float32Array): number {
  let max = 0;
  for (let i = 0; i < n; i++) max = max > x[i]! ? max : x[i]!;
  if (max < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[i] = 0;
    return 0;
  }
  let iscale = f(nmax / max);
  for (let i = 0; i < n; i++) L[i] = nearestInt(f(iscale * x[i]!));
  const scale = f(1 / iscale);
  let bestMse = 0;
  for (let i = 0; i < n; i++) {
    const diff = f(x[i]! - f(scale * L[i]!));
    bestMse = f(bestMse + f(f(qw[i]! * diff) * diff));
  }
  for (let is = -4; is <= 4; is++) {
    if (is === 0) continue;
    const iscaleIs = f(f(f(F_0_1 * is) + nmax) / max);
    const scaleIs = f(1 / iscaleIs);
    let mse = 0;
    for (let i = 0; i < n; i++) {
      let l = nearestInt(f(iscaleIs * x[i]!));
      l = Math.min(nmax, l);
      const diff = f(x[i]! - f(scaleIs * l));
      mse = f(mse + f(f(qw[i]! * diff) * diff));
    }
    if (mse < bestMse) {
      bestMse = mse;
      iscale = iscaleIs;
    }
  }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    let l = nearestInt(f(iscale * x[i]!));
    l = Math.min(nmax, l);
    L[i] = l;
    const w = qw[i]!;
    sumlx = f(sumlx + f(f(w * x[i]!) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const w = qw[i]!;
      const li = L[i]!;
      let slx = f(sumlx - f(f(w * x[i]!) * li));
      let sl2 = f(suml2 - f(f(w * li) * li));
      if (slx > 0 && sl2 > 0) {
        let newL = nearestInt(f(f(x[i]! * sl2) / slx));
        newL = Math.min(nmax, newL);
        if (newL !== li) {
          slx = f(slx + f(f(w * x[i]!) * newL));
          sl2 = f(sl2 + f(f(w * newL) * newL));
          if (f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            L[i] = newL;
            sumlx = slx;
            suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}

// ------------------------------------------------------------------ WebAssembly kernel


interface Kernel {
  qkx2(n: number, nmax: number, rmin: number, rdelta: number, nstep: number, mad: number): number;
  qx(n: number, nmax: number): number;
  f32: Float32Array;
  u8: Uint8Array;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}

let kernel: Kernel | null | undefined;
let kernelEnabled = process.env.AUTOROUND_GGUF_WASM !== '0';

/** Turns the WebAssembly kernel off (or back on); the TypeScript functions then do all the work. */
export function setWasmKernel(enabled: boolean): void {
  kernelEnabled = enabled;
}

function loadKernel(): Kernel | null {
  try {
    // (the WebAssembly global of Node; the project's TypeScript lib has no DOM/WebAssembly types)
    const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const inst = new WA.Instance(new WA.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64')), {});
    const mem = inst.exports.mem as { buffer: ArrayBuffer };
    return { qkx2: inst.exports.qkx2 as Kernel['qkx2'], qx: inst.exports.qx as Kernel['qx'], f32: new Float32Array(mem.buffer), u8: new Uint8Array(mem.buffer) };
  } catch {
    return null;
  }
}

/** Byte offsets of kernels.wat's memory layout, in elements. */
const K_X = 0;
const K_W = 32;
const K_L = 256;
const K_MIN = 176;

/** The kernel, loaded on first use; null where WebAssembly is turned off or does not load. */
function wasmKernel(): Kernel | null {
  if (!kernelEnabled) return null;
  if (kernel === undefined) kernel = loadKernel();
  return kernel;
}

/** Whether the searches run on the WebAssembly kernel (enabled and loadable). */
export function wasmKernelLoaded(): boolean {
  return wasmKernel() !== null;
}

/** Puts x[xo … xo+n) (n ≤ 32) and its weights, x² where null, into the kernel's memory. */
function putInputs(k: Kernel, n: number, x: Float32Array, xo: number, weights: Float32Array | null, wo: number): void {
  const f32 = k.f32;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    f32[K_X + i] = xi;
    f32[K_W + i] = weights ? weights[wo + i]! : f(xi * xi);
  }
}

/** Copies the kernel's n levels into L[lo …). */
function readLevels(k: Kernel, n: number, L: Int8Array | Uint8Array, lo: number): void {
  const u8 = k.u8;
  for (let i = 0; i < n; i++) L[lo + i] = u8[K_L + i]!;
}

/** make_qkx2_quants / make_qkx3_quants (weights null, qkx3 only: x²). */
type QkxSearch<W extends Float32Array | null> = (n: number, nmax: number, x: Float32Array, xo: number, weights: W, wo: number, L: Uint8Array, lo: number, Laux: Uint8Array, rmin: number, rdelta: number, nstep: number, useMad: boolean) => number;

/**
 * search on the WebAssembly kernel's qkx2 (native binary32, same operations in the same order)
 * for n ≤ 32, falling back to the TypeScript function where WebAssembly is unavailable or turned off.
 */
function onQkx2Kernel<W extends Float32Array | null>(search: QkxSearch<W>): QkxSearch<W> {
  return (n, nmax, x, xo, weights, wo, L, lo, Laux, rmin, rdelta, nstep, useMad) => {
    const k = wasmKernel();
    if (!k || n > 32) return search(n, nmax, x, xo, weights, wo, L, lo, Laux, rmin, rdelta, nstep, useMad);
    putInputs(k, n, x, xo, weights, wo);
    const scale = k.qkx2(n, nmax, rmin, rdelta, nstep, useMad ? 1 : 0);
    readLevels(k, n, L, lo);
    searchResult.min = k.f32[K_MIN]!;
    return scale;
  };
}

/** makeQkx2Quants on the WebAssembly kernel (see onQkx2Kernel). */
export const makeQkx2QuantsFast = onQkx2Kernel(makeQkx2Quants);

/**
 * makeQxQuants with rmse_type 1 (weights qw, else x²) on the WebAssembly kernel; other cases,
 * or no WebAssembly, go to the TypeScript function.
 */
export const makeQxQuantsFast: typeof makeQxQuants = (n, nmax, x, xo, L, lo, rmseType, qw, qwo) => {
  const k = wasmKernel();
  if (!k || rmseType !== 1 || n > 32 || nmax > 64) return makeQxQuants(n, nmax, x, xo, L, lo, rmseType, qw, qwo);
  putInputs(k, n, x, xo, qw, qwo);
  const scale = k.qx(n, nmax);
  readLevels(k, n, L, lo);
  return scale;
};

/**
 * makeQkx3Quants on the same kernel: with the weights materialised (x² when none are given), the
 * kernel's candidate levels clamp(nearest(v), 0, nmax) equal make_qkx3_quants' guarded
 * v > 0 ? nearest(min(v, nmax)) : 0 for every v, infinities and NaN included (saturating
 * conversion), and max ≤ min happens only when max = min.
 */
export const makeQkx3QuantsFast = onQkx2Kernel(makeQkx3Quants);
