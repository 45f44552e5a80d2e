// Which implementation quantizes GGML rows: one ordered table, first available wins.
//
//   native      kernels-cpu's addon (native/ggml_quants.cc, llama.cpp's reference functions in C++,
//               rows over the native thread pool), when the addon is built and knows the type;
//   wasm        the TypeScript codecs with the WebAssembly search kernel (search.ts), when it loads;
//   typescript  the TypeScript codecs alone: always there, and the reference the others are tested against.
//
// All three give the same bytes (quants.test.ts, native-quants.test.ts). quantizeRows (one thread)
// and QuantPool.quantizeRows (several) both ask here, so plain RTN, optimized RTN, the tuned GGUF
// path and the exporter all take the same route.

import type { NativeAddon } from '@autoround/kernels-cpu/native';

// kernels-cpu is an optional peer: a host installed without it (the host-only pack check, tools/pack/host-only.mjs)
// quantizes with the WebAssembly/TypeScript codecs; with it, its addon (when built) does the work.
const native: NativeAddon | null = await import('@autoround/kernels-cpu/native').then(
  (m) => m.native,
  () => null,
);
import { wasmKernelLoaded } from './search.js';

export type QuantBackendName = 'native' | 'wasm' | 'typescript';

let nativeEnabled = process.env.AUTOROUND_GGUF_NATIVE !== '0';

/** Turns the native quantizers off (or back on): the WebAssembly/TypeScript codecs then do all the work. */
export function setNativeQuantizers(enabled: boolean): void {
  nativeEnabled = enabled;
}

type NativeQuantize = (type: number, src: Float32Array, ne0: number, imatrix: Float32Array | null, out: Uint8Array, threads: number) => void;

/** The addon's quantizer for `type`, or null where it is off, not built, or lacks the type. */
export function nativeQuantizer(type: number): NativeQuantize | null {
  if (!nativeEnabled || !native?.ggmlQuantize || !native.ggmlQuantizeSupports?.(type)) return null;
  return native.ggmlQuantize;
}

/** The backend quantizeRows uses for `type` now (for logs, benchmarks and tests). */
export function quantBackendOf(type: number): QuantBackendName {
  if (nativeQuantizer(type)) return 'native';
  return wasmKernelLoaded() ? 'wasm' : 'typescript';
}

/** Rows being quantized: wait() returns their bytes (and rethrows the quantizer's error). */
export interface PendingRows {
  wait(): Uint8Array;
}

/**
 * Starts the native quantizer on a native thread and returns at once (null where quantizeRows would not use
 * the addon for `type`): the caller reads or writes meanwhile, then wait()s, synchronously. `data` and
 * `imatrix` must not change until then. Arguments as quantizeRows, already checked by the caller. The bytes go
 * into `into` (its first outBytes) when given, so that a streaming caller reuses one buffer instead of leaving a
 * fresh one per piece to the garbage collector; it must not be touched until wait() returns.
 */
export function startNativeRows(type: number, data: Float32Array, ne0: number, imatrix: Float32Array | null, outBytes: number, threads: number, into?: Uint8Array): PendingRows | null {
  if (!nativeQuantizer(type) || !native?.ggmlQuantizeStart || !native.ggmlQuantizeWait || data.length === 0) return null;
  if (into && into.byteLength < outBytes) throw new RangeError(`startNativeRows: ${outBytes} bytes do not fit a buffer of ${into.byteLength}`);
  const out = into ? into.subarray(0, outBytes) : new Uint8Array(outBytes);
  const job = native.ggmlQuantizeStart(type, data, ne0, imatrix, out, threads);
  const wait = native.ggmlQuantizeWait;
  let done = false;
  return {
    wait() {
      if (!done) {
        wait(job);
        done = true;
      }
      return out;
    },
  };
}
