import { readFile } from 'node:fs/promises';
import { AutoRoundError } from '@autoround/core-tensor';

// The WebAssembly API, typed here: the project's lib settings (ES2023 + node) leave it undeclared.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
declare const WebAssembly: {
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: WasmInstance }>;
};

interface GemmExports {
  memory: WasmMemory;
  heap_base(): number;
  micro_tile(): number;
  gemm(ta: number, tb: number, m: number, n: number, k: number, a: number, b: number, c: number, alpha: number, beta: number): void;
}

/** Largest linear memory the module may use (wasm32 addresses, 64 KiB pages). */
const MAX_BYTES = 4 * 1024 * 1024 * 1024 - 65536;

/**
 * The WebAssembly SIMD GEMM (wasm/gemm.wasm, built by tools/wasm/build-gemm.sh from native/).
 * Single threaded. A, B and C are copied into the module's memory for each call.
 */
export class WasmGemm {
  private readonly ex: GemmExports;
  readonly microTile: { mr: number; nr: number };

  constructor(instance: WasmInstance) {
    this.ex = instance.exports as unknown as GemmExports;
    const t = this.ex.micro_tile();
    this.microTile = { mr: Math.floor(t / 1000), nr: t % 1000 };
  }

  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array, c: Float32Array, alpha = 1, beta = 0): void {
    if (m === 0 || n === 0) return;
    const align = (x: number) => Math.ceil(x / 64) * 64;
    const pa = align(this.ex.heap_base());
    const pb = align(pa + m * k * 4);
    const pc = align(pb + k * n * 4);
    const end = pc + m * n * 4;
    if (end > MAX_BYTES) {
      throw new AutoRoundError('E_TOO_LARGE', `gemm (wasm backend): ${m}x${n}x${k} needs ${end} bytes, over the 4 GiB of wasm32 memory; use the native or js backend`, { subject: 'gemm' });
    }
    const mem = this.ex.memory;
    if (mem.buffer.byteLength < end) mem.grow(Math.ceil((end - mem.buffer.byteLength) / 65536));
    const heap = new Float32Array(mem.buffer);
    heap.set(a.subarray(0, m * k), pa / 4);
    heap.set(b.subarray(0, k * n), pb / 4);
    if (beta !== 0) heap.set(c.subarray(0, m * n), pc / 4);
    this.ex.gemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, pa, pb, pc, alpha, beta);
    c.set(new Float32Array(mem.buffer, pc, m * n));
  }
}

export const wasmFile = new URL('../wasm/gemm.wasm', import.meta.url);

/** Compiles and instantiates wasm/gemm.wasm (or `bytes`) with WebAssembly.instantiate. */
export async function loadWasmGemm(bytes?: Uint8Array): Promise<WasmGemm> {
  const { instance } = await WebAssembly.instantiate(bytes ?? (await readFile(wasmFile)), {});
  return new WasmGemm(instance);
}

let loadError: string | undefined;
let loaded: WasmGemm | null = null;
try {
  loaded = await loadWasmGemm();
} catch (e) {
  loadError = `wasm/gemm.wasm failed to load: ${(e as Error).message}`;
}
/** The module of this process, or null when this runtime lacks WebAssembly SIMD (see wasmLoadError). */
export const wasm: WasmGemm | null = loaded;
export const wasmLoadError: string | undefined = loadError;
