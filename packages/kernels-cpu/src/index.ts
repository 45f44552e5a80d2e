import type { AttentionShape, GemmArgs, KernelBackend, KernelBackendFactory, QdqElementLayout, RopeShape } from '@autoround/core-tensor';
import { createLogger, definePlugin } from '@autoround/core';
import type { Logger } from '@autoround/core';
import { checkGemmArgs } from './check.js';
import { jsGemm } from './js-gemm.js';
import { native, nativeLoadError } from './native.js';
import type { NativeAddon } from './native.js';
import { wasm, wasmLoadError } from './wasm.js';
import { registerNativeFpQdq } from './fp-qdq.js';
import { registerNativeIntRtn } from './int-rtn.js';

export { jsGemm, checkGemmArgs };
export { native, nativeLoadError, loadNativeAddon, nativeAddonCandidates, benchAddonPath } from './native.js';
export type { NativeAddon, NativeIsa, NativeQuantJob } from './native.js';
export { wasm, wasmLoadError, loadWasmGemm, WasmGemm, wasmFile } from './wasm.js';
export { nativeFpQdqKernel, registerNativeFpQdq } from './fp-qdq.js';
export { nativeIntRtnKernel, registerNativeIntRtn } from './int-rtn.js';

/**
 * quant-types' fp QDQ and int RTN loops run natively wherever this package is loaded (docs/perf/fp-qdq.md,
 * docs/perf/whole-model.md "Native RTN loops"), on the threads of the latest native backend created.
 */
function registerQuantKernels(addon: NativeAddon | null, threads: number): void {
  registerNativeFpQdq(addon, threads);
  registerNativeIntRtn(addon, threads);
}
registerQuantKernels(native, native?.hardwareThreads() ?? 1);

/** A backend of this package: KernelBackend plus what it runs on. */
export interface CpuKernelBackend extends KernelBackend {
  /** 'avx512' / 'avx2' / 'generic' micro-kernel (native), 'simd128' (wasm), 'typescript' (js). */
  readonly isa: string;
}

let log: Logger = createLogger('info');
const announced = new Set<string>();

/** Where the "kernel backend: …" line goes (default: stderr at info level); null silences it. */
export function setKernelLogger(logger: Logger | null): void {
  log = logger ?? { debug() {}, info() {}, warn() {}, error() {} };
  announced.clear();
}

/** "native (avx512 micro-kernel, 2 threads)": what a backend runs on, for logs and benchmarks. */
export function describeBackend(b: KernelBackend): string {
  const isa = (b as Partial<CpuKernelBackend>).isa;
  const threads = `${b.threads} thread${b.threads === 1 ? '' : 's'}`;
  return `${b.name} (${isa ? `${isa}, ` : ''}${threads})`;
}

/** Logs the one line naming the backend in use (once per distinct backend per process). */
function announce<B extends KernelBackend>(b: B): B {
  const line = describeBackend(b);
  if (!announced.has(line)) {
    announced.add(line);
    const how = process.env.AUTOROUND_BACKEND === b.name ? ', forced by AUTOROUND_BACKEND' : '';
    log.info(`kernel backend: ${line}${how}`);
  }
  return b;
}

/** The portable TypeScript backend: always available, slowest; the reference the others are tested against. */
export const jsBackend: KernelBackendFactory = {
  name: 'js',
  priority: 0,
  available: () => true,
  create: (): CpuKernelBackend =>
    announce({
      name: 'js',
      threads: 1,
      isa: 'typescript',
      gemm(...args: GemmArgs) {
        checkGemmArgs('js', args[2], args[3], args[4], args[5], args[6], args[7]);
        jsGemm(...args);
      },
    }),
};

/** WebAssembly SIMD build of the native GEMM (wasm/gemm.wasm): single-threaded, no compiler needed. */
export const wasmBackend: KernelBackendFactory = {
  name: 'wasm',
  priority: 50,
  available: () => wasm !== null,
  create: (): CpuKernelBackend => {
    if (!wasm) throw new Error(`wasm backend unavailable: ${wasmLoadError}`);
    const w = wasm;
    return announce({
      name: 'wasm',
      threads: 1,
      isa: 'simd128',
      gemm(ta, tb, m, n, k, a, b, c, alpha = 1, beta = 0) {
        checkGemmArgs('wasm', m, n, k, a, b, c);
        w.gemm(ta, tb, m, n, k, a, b, c, alpha, beta);
      },
    });
  },
};

function nativeAttention(
  att: NonNullable<NativeAddon['attention']>,
  t: number,
): Pick<KernelBackend, 'attentionForward' | 'attentionBackward'> {
  const dims = (s: AttentionShape): number[] => [s.batch, s.seqLen, s.numHeads, s.numKvHeads, s.headDim];
  return {
    attentionForward(q, k, v, out, lse, s) {
      att(q, k, v, out, lse, null, null, null, null, s.mask ?? null, dims(s), s.causal, s.scale, t, false);
    },
    attentionBackward(q, k, v, out, gOut, lse, gq, gk, gv, s, fresh = 0) {
      att(q, k, v, out, lse, gOut, gq, gk, gv, s.mask ?? null, dims(s), s.causal, s.scale, t, true, fresh);
    },
  };
}

function nativeElementwise(addon: NativeAddon, t: number): Partial<KernelBackend> {
  const { swiglu, rmsNorm, rope } = addon;
  const out: Partial<KernelBackend> = {};
  if (swiglu) {
    out.swigluForward = (g, u, o) => swiglu.call(addon, false, g, u, o, null, null, t);
    out.swigluBackward = (g, u, gy, gg, gu, fresh = 0) => swiglu.call(addon, true, g, u, gy, gg, gu, t, fresh);
  }
  if (rmsNorm) {
    out.rmsNormForward = (x, w, o, rstd, eps) => rmsNorm.call(addon, false, x, w, o, rstd, null, null, x.length / w.length, eps, t);
    out.rmsNormBackward = (x, w, rstd, gy, gx, gw, fresh = 0) => rmsNorm.call(addon, true, x, w, gy, rstd, gx, gw, x.length / w.length, 0, t, fresh);
  }
  if (rope) {
    const dims = (s: RopeShape) => [s.numHeads, s.headDim, s.rotaryDim];
    out.ropeForward = (x, o, cos, sin, pos, s) => rope.call(addon, false, x, o, cos, sin, pos, dims(s), t);
    out.ropeBackward = (gy, gx, cos, sin, pos, s, fresh = 0) => rope.call(addon, true, gy, gx, cos, sin, pos, dims(s), t, fresh);
  }
  return out;
}

/** The memory-bound loops of a SignRound iteration (native/signround_fused.cc), where the addon has them. */
function nativeSignRoundLoops(addon: NativeAddon, t: number): Partial<KernelBackend> {
  const { addInto, accumulate, mse, signStep } = addon;
  const out: Partial<KernelBackend> = {};
  if (addInto) out.addInto = (a, b, y) => addInto.call(addon, a, b, y, t);
  if (accumulate) out.accumulate = (g, src) => accumulate.call(addon, g, src, t);
  if (mse) {
    out.mseForward = (p, tg, m, d) => mse.call(addon, false, p, tg, m, d, 0, null, t)!;
    out.mseBackward = (p, tg, m, d, c, gp, fresh = 0) => void mse.call(addon, true, p, tg, m, d, c, gp, t, fresh);
  }
  if (signStep) out.signStep = (data, grad, lr) => signStep.call(addon, data, grad, lr, t);
  // the element backwards take their `fresh` mask only when every one of them does (this addon's signround_fused.cc
  // came with it in the element kernels and mse alike)
  if (mse && addon.swiglu && addon.rmsNorm && addon.rope && addon.attention) (out as { freshGradients?: boolean }).freshGradients = true;
  return out;
}

function nativeQdq(q: NonNullable<NativeAddon['qdq']>, t: number): Pick<KernelBackend, 'qdqForward' | 'qdqBackward'> {
  const dims = (l: QdqElementLayout): number[] => [l.rows, l.cols, l.groupSize, l.groupsPerRow, l.numScales, l.qmax];
  return {
    qdqForward(l, weight, v, scale, zp, out, code) {
      q(false, weight, v, scale, zp, code, out, null, null, dims(l), t);
    },
    qdqBackward(l, weight, gW, code, scale, zp, dV, acc) {
      q(true, weight, null, scale, zp, code, gW, dV, acc, dims(l), t);
    },
  };
}

/**
 * The N-API addon (native/, built by node-gyp at install): packed, cache-blocked GEMM with AVX-512 or
 * AVX2+FMA micro-kernels picked at run time, on a persistent thread pool (threads default to the cores).
 */
export const nativeBackend: KernelBackendFactory = {
  name: 'native',
  priority: 100,
  available: () => native !== null,
  create: ({ threads } = {}): CpuKernelBackend => {
    if (!native) throw new Error(`native backend unavailable: ${nativeLoadError}`);
    const addon = native;
    const t = Math.max(1, Math.floor(threads ?? addon.hardwareThreads()));
    const fused = process.env.AUTOROUND_NATIVE_FUSED !== '0';
    if (fused) registerQuantKernels(addon, t);
    return announce({
      name: 'native',
      threads: t,
      isa: addon.isa(),
      gemm(ta, tb, m, n, k, a, b, c, alpha = 1, beta = 0) {
        checkGemmArgs('native', m, n, k, a, b, c);
        addon.gemm(ta, tb, m, n, k, a, b, c, alpha, beta, t);
      },
      gemmAsync(ta, tb, m, n, k, a, b, c, alpha = 1, beta = 0) {
        checkGemmArgs('native', m, n, k, a, b, c);
        return addon.gemmAsync(ta, tb, m, n, k, a, b, c, alpha, beta, t);
      },
      // Fused attention where the addon has it (an addon built from older sources lacks it: the
      // autograd then runs its TypeScript tiles over gemm; AUTOROUND_NATIVE_FUSED=0 forces that, for A/B runs).
      ...(addon.attention && fused ? nativeAttention(addon.attention.bind(addon), t) : {}),
      ...(addon.qdq && fused ? nativeQdq(addon.qdq.bind(addon), t) : {}),
      ...(fused ? nativeElementwise(addon, t) : {}),
      ...(fused ? nativeSignRoundLoops(addon, t) : {}),
      ...(addon.alignOffset ? { allocate: alignedAllocator(addon.alignOffset.bind(addon)) } : {}),
    });
  },
};

/**
 * KernelBackend.allocate: zero-filled float32 buffers whose first element sits on a 64-byte boundary. Node's large
 * ArrayBuffers start 16 bytes into a page, so a row of C or a packed panel straddles one more cache line than it
 * needs and every 64-byte vector load splits; aligned, the block's GEMMs took ~5% less CPU time
 * (docs/perf/signround-iteration.md, "Aligned buffers"). The view skips at most 60 bytes of a slightly larger buffer.
 */
function alignedAllocator(alignOffset: (b: ArrayBuffer, alignment: number) => number): (n: number) => Float32Array {
  return (n) => {
    const buf = new ArrayBuffer(4 * n + 64);
    return new Float32Array(buf, alignOffset(buf, 64), n);
  };
}

/** backend.gemmAsync where the backend has one, else backend.gemm on this thread. */
export async function gemmAsync(backend: KernelBackend, ...args: GemmArgs): Promise<void> {
  if (backend.gemmAsync) return backend.gemmAsync(...args);
  backend.gemm(...args);
}

/** Why each backend of this package can or cannot run here. */
export function backendStatus(): { name: string; priority: number; available: boolean; reason?: string }[] {
  return [
    { name: 'native', priority: 100, available: native !== null, ...(native ? {} : { reason: nativeLoadError }) },
    { name: 'wasm', priority: 50, available: wasm !== null, ...(wasm ? {} : { reason: wasmLoadError }) },
    { name: 'js', priority: 0, available: true },
  ];
}

export const kernelsCpuPlugin = definePlugin({
  name: '@autoround/kernels-cpu',
  kernels: [nativeBackend, wasmBackend, jsBackend],
});

export default kernelsCpuPlugin;
