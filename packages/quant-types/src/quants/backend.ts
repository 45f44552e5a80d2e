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

import { native } from '@autoround/kernels-cpu/native';
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
