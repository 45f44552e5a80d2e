// The native GGML quantizers (kernels-cpu's addon, native/ggml_quants.cc) against the TypeScript
// codecs, the reference: the same bytes for every type, with and without an importance vector, on
// random and awkward rows, on one thread and several. (Against llama.cpp itself: quants.test.ts.)
import { native } from '@autoround/kernels-cpu/native';
import { describe, expect, it } from 'vitest';
import { mulberry32 as rng } from '@autoround/testing';
import { awkward, gaussian } from './rows.js';
import { GGMLType, QuantPool, ggmlTypeByName, nativeQuantizer, quantBackendOf, quantizeRows, rowBytes, setNativeQuantizers } from '../src/index.js';

const TYPES = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'MXFP4'];
const built = nativeQuantizer(GGMLType.Q4_K) !== null;

/** quantizeRows on the TypeScript/WebAssembly codecs (the native quantizers off). */
function reference(type: number, x: Float32Array, ne0: number, im: Float32Array | null): Buffer {
  setNativeQuantizers(false);
  try {
    return Buffer.from(quantizeRows(type, x, ne0, im));
  } finally {
    setNativeQuantizers(true);
  }
}

describe.skipIf(!built)('native GGML quantizers equal the TypeScript codecs byte for byte', () => {
  for (const name of TYPES) {
    it(`${name}: random and awkward rows, with and without imatrix, 1 and 2 threads`, () => {
      const type = ggmlTypeByName(name)!;
      expect(quantBackendOf(type)).toBe('native');
      for (const [ne0, seed] of [
        [256, 1],
        [768, 2],
      ] as const) {
        const x = new Float32Array([...gaussian(ne0 * 40, seed), ...awkward(ne0, seed + 100)]);
        const r = rng(seed + 50);
        const im = new Float32Array(ne0).map(() => r() * r() * 4);
        im[3] = 0;
        const zeros = new Float32Array(ne0);
        for (const qw of [null, im, zeros]) {
          const want = reference(type, x, ne0, qw);
          for (const threads of [1, 2]) {
            const got = Buffer.from(quantizeRows(type, x, ne0, qw, threads));
            expect(got.equals(want), `${name} ne0 ${ne0} ${qw === null ? 'plain' : qw === im ? 'imatrix' : 'zero imatrix'} threads ${threads}`).toBe(true);
          }
        }
      }
    });
  }

  // (not NaN: llama.cpp's MAX chain drops a NaN from amax, which the native code does too and the TypeScript codec does not)
  it('Q8_0: blocks with ±inf, huge and subnormal values (the vector path hands non-finite blocks to the scalar code)', () => {
    const x = gaussian(32 * 8, 9);
    x[3] = Infinity;
    x[40] = -Infinity;
    x[100] = 3.4e38;
    x[130] = -1e-45;
    const want = reference(GGMLType.Q8_0, x, 256, null);
    expect(Buffer.from(quantizeRows(GGMLType.Q8_0, x, 256)).equals(want)).toBe(true);
  });

  it('splits a large tensor over the pool (many chunks) with the same bytes, and QuantPool uses it', () => {
    const type = GGMLType.Q4_K;
    const ne0 = 1024;
    const x = gaussian(ne0 * 300, 5);
    const want = reference(type, x, ne0, null);
    expect(Buffer.from(quantizeRows(type, x, ne0, null, 2)).equals(want)).toBe(true);
    const pool = new QuantPool(2);
    try {
      expect(Buffer.from(pool.quantizeRows(type, x, ne0)).equals(want)).toBe(true);
      expect(pool.readyWorkers).toBe(0); // no JavaScript worker was needed
    } finally {
      pool.close();
    }
  });

  it("the addon's other entry points (ggmlQuantizeAsync, ggmlQuantizeStart/Wait) give the same bytes as ggmlQuantize", async () => {
    const type = GGMLType.Q4_K;
    const ne0 = 512;
    const x = new Float32Array([...gaussian(ne0 * 6, 21), ...awkward(ne0, 22)]);
    const im = new Float32Array(ne0).map((_, i) => 1 + (i % 7));
    const size = rowBytes(type, ne0) * (x.length / ne0);
    const want = new Uint8Array(size);
    native!.ggmlQuantize!(type, x, ne0, im, want, 2);
    const viaAsync = new Uint8Array(size);
    await native!.ggmlQuantizeAsync!(type, x, ne0, im, viaAsync, 2);
    expect(Buffer.from(viaAsync).equals(Buffer.from(want))).toBe(true);
    const viaJob = new Uint8Array(size);
    native!.ggmlQuantizeWait!(native!.ggmlQuantizeStart!(type, x, ne0, im, viaJob, 2));
    expect(Buffer.from(viaJob).equals(Buffer.from(want))).toBe(true);
    // a bad argument is refused before any work is queued, naming the entry point
    expect(() => native!.ggmlQuantizeAsync!(type, x, 100, null, viaAsync, 1)).toThrow(/^ggmlQuantizeAsync: /);
  });

  it('rejects bad arguments with a message naming them', () => {
    const q = nativeQuantizer(GGMLType.Q4_K)!;
    const x = new Float32Array(512);
    expect(() => q(GGMLType.Q4_K, x, 100, null, new Uint8Array(1000), 1)).toThrow(/ne0|block size|whole rows/);
    expect(() => q(GGMLType.Q4_K, x, 256, null, new Uint8Array(10), 1)).toThrow(/out must be/);
    expect(() => q(GGMLType.Q4_K, x, 256, new Float32Array(3), new Uint8Array(rowBytes(GGMLType.Q4_K, 256) * 2), 1)).toThrow(/imatrix/);
    expect(() => q(GGMLType.F16, x, 256, null, new Uint8Array(1024), 1)).toThrow(/no native quantizer/);
  });

  it('is switched off by setNativeQuantizers(false)', () => {
    setNativeQuantizers(false);
    try {
      expect(quantBackendOf(GGMLType.Q4_K)).not.toBe('native');
    } finally {
      setNativeQuantizers(true);
    }
    expect(quantBackendOf(GGMLType.Q4_K)).toBe('native');
  });
});

it('reports whether the native quantizers were checked', () => {
  if (!built) console.warn('skipped the native GGML quantizer checks: the kernels-cpu addon is not built');
  expect(quantBackendOf(GGMLType.Q4_K)).toMatch(/native|wasm|typescript/);
});
