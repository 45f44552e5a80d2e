import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GGMLType, quantTypeOf, dequantizeRows, ggmlTypeByName, nativeQuantizer, quantizeRows, rowBytes, setNativeQuantizers } from '../src/index.js';
import { independentDequantize, SPEC_TYPES } from './independent-dequant.js';
import { mulberry32 as rng } from '@autoround/testing';
import { awkward, gaussian } from './rows.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../..');

const QUANT_TYPES = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K'];

describe('a second, independent dequantizer (written from the spec) agrees', () => {
  for (const name of SPEC_TYPES) {
    it(`${name}: on random block bytes and on quantized data`, () => {
      const type = ggmlTypeByName(name)!;
      const ne0 = 512;
      const nbytes = rowBytes(type, ne0) * 4;
      const r = rng(7);
      const bytes = new Uint8Array(nbytes).map(() => Math.floor(r() * 256));
      // keep the f16 scale fields finite: clear exponent bits 0x7c00 patterns by forcing bit 14 off
      const c = quantTypeOf(type);
      const dOffsets: Record<string, number[]> = { MXFP4: [], Q8_0: [0], Q4_0: [0], Q4_1: [0, 2], Q5_0: [0], Q5_1: [0, 2], Q2_K: [80, 82], Q3_K: [108], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208] };
      for (let b = 0; b < nbytes; b += c.typeSize) for (const o of dOffsets[name]!) bytes[b + o + 1] = bytes[b + o + 1]! & 0x3f;
      expect(independentDequantize(name, bytes, ne0 * 4)).toEqual(dequantizeRows(type, bytes, ne0 * 4));
      const q = quantizeRows(type, gaussian(ne0 * 4, 11), ne0);
      expect(independentDequantize(name, q, ne0 * 4)).toEqual(dequantizeRows(type, q, ne0 * 4));
    });
  }
});

describe('round trip error bounds (N(0, 1/256) weights, 64k values)', () => {
  // relative RMS error bound per type: about what each bit width allows
  // (measured: Q8_0 0.0054, Q6_K 0.018, Q5_K 0.036, Q5_1 0.038, Q5_0 0.043, Q4_K 0.071, Q4_1 0.078, Q4_0 0.086, Q3_K 0.151)
  const bounds: Record<string, number> = { F32: 0, F16: 5e-4, BF16: 4e-3, Q8_0: 0.006, Q6_K: 0.02, Q5_K: 0.04, Q5_1: 0.042, Q5_0: 0.048, Q4_K: 0.08, Q4_1: 0.087, Q4_0: 0.095, Q3_K: 0.17, Q2_K: 0.3, MXFP4: 0.13 };
  const x = gaussian(65536, 3);
  const rms = Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
  for (const [name, bound] of Object.entries(bounds)) {
    it(`${name}: relative RMS error ≤ ${bound}, an imatrix lowers the weighted error`, () => {
      const type = ggmlTypeByName(name)!;
      const y = dequantizeRows(type, quantizeRows(type, x, 1024), x.length);
      let e2 = 0;
      for (let i = 0; i < x.length; i++) e2 += (y[i]! - x[i]!) ** 2;
      const rel = Math.sqrt(e2 / x.length) / rms;
      expect(rel).toBeLessThanOrEqual(bound);
      if (name === 'F32') expect(Buffer.from(y.buffer).equals(Buffer.from(x.buffer))).toBe(true);
      const c = quantTypeOf(type);
      if (c.usesImatrix) {
        // columns 0..63 of every row matter 1000× more: their error must drop
        const im = new Float32Array(1024).map((_, i) => (i % 256 < 64 ? 1000 : 1));
        const yi = dequantizeRows(type, quantizeRows(type, x, 1024, im), x.length);
        const werr = (z: Float32Array) => {
          let s = 0;
          for (let i = 0; i < x.length; i++) s += im[i % 1024]! * (z[i]! - x[i]!) ** 2;
          return s;
        };
        expect(werr(yi)).toBeLessThan(werr(y));
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Byte-for-byte against llama.cpp's own ggml (libggml-base.so from node-llama-cpp's prebuilt
// binaries), called through Python ctypes. Skipped where python3/numpy or the library is absent.

function findGgmlBase(): string | null {
  const base = join(repoRoot, 'node_modules/@node-llama-cpp');
  for (const pkg of ['linux-x64', 'linux-arm64', 'mac-arm64-metal', 'mac-x64']) {
    const dir = join(base, pkg, 'bins');
    if (!existsSync(dir)) continue;
    for (const sub of [`${pkg}`, pkg.replace(/-metal$/, '')]) {
      for (const lib of ['libggml-base.so', 'libggml-base.dylib']) {
        const p = join(dir, sub, lib);
        if (existsSync(p)) return p;
      }
    }
  }
  return null;
}

function pythonHasNumpy(): boolean {
  try {
    execFileSync('python3', ['-c', 'import numpy, ctypes'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const ggmlBase = findGgmlBase();
const oracle = ggmlBase && process.arch === 'x64' && pythonHasNumpy() ? ggmlBase : null;
const tmp = mkdtempSync(join(tmpdir(), 'gguf-oracle-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface OracleJob {
  type: number;
  ne0: number;
  x: Float32Array;
  imatrix?: Float32Array;
  out: string;
}

/** Runs every job in one python process (numpy's import is the slow part). */
function runOracle(jobs: OracleJob[]): Map<OracleJob, Uint8Array> {
  const lines = jobs.map((j, k) => {
    const src = join(tmp, `x${k}.f32`);
    writeFileSync(src, new Uint8Array(j.x.buffer, j.x.byteOffset, j.x.byteLength));
    let line = `${j.type} ${j.ne0} ${src} ${j.out}`;
    if (j.imatrix) {
      const im = join(tmp, `im${k}.f32`);
      writeFileSync(im, new Uint8Array(j.imatrix.buffer, j.imatrix.byteOffset, j.imatrix.byteLength));
      line += ` ${im}`;
    }
    return line;
  });
  writeFileSync(join(tmp, 'jobs.txt'), lines.join('\n') + '\n');
  execFileSync('python3', [join(here, 'oracle/ggml_oracle.py'), oracle!, join(tmp, 'jobs.txt')]);
  return new Map(jobs.map((j) => [j, new Uint8Array(readFileSync(j.out))]));
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe.skipIf(!oracle)('byte for byte equal to llama.cpp ggml_quantize_chunk (libggml-base via python ctypes)', () => {
  const names = [...QUANT_TYPES, 'MXFP4', 'F16', 'BF16'];
  const jobs: OracleJob[] = [];
  let results = new Map<OracleJob, Uint8Array>();
  for (const name of names) {
    const type = ggmlTypeByName(name)!;
    for (const [ne0, seed] of [
      [256, 1],
      [1024, 3],
    ] as const) {
      const x = new Float32Array([...gaussian(ne0 * 24, seed), ...awkward(ne0, seed + 100)]);
      const r = rng(seed + 50);
      const im = new Float32Array(ne0).map(() => r() * r() * 4);
      im[3] = 0;
      jobs.push({ type, ne0, x, out: join(tmp, `${name}-${ne0}.bin`) });
      jobs.push({ type, ne0, x, imatrix: im, out: join(tmp, `${name}-${ne0}-im.bin`) });
    }
  }
  // MXFP4's exponent byte at its edges: amax just below a power of two (log2f rounds up to it), exact
  // powers, subnormal and huge blocks, ties between grid points
  const edge = new Float32Array(32 * 8);
  const below4 = Math.fround(4 - 2 ** -22); // the largest float32 below 4: log2f gives exactly 2
  for (let j = 0; j < 32; j++) {
    edge[j] = j === 5 ? below4 : (j % 7) / 8;
    edge[32 + j] = j === 0 ? -4 : (j - 16) / 4; // exact grid points and midpoints of a power-of-two block
    edge[64 + j] = (j % 3 === 0 ? -1 : 1) * 2 ** -140 * (j + 1);
    edge[96 + j] = (j % 2 ? -1 : 1) * 3e38 * ((j + 1) / 32);
    edge[128 + j] = Math.fround(1 - 2 ** -24) * (j === 31 ? 1 : (j % 9) / 9);
    edge[160 + j] = (j - 16) * 0.125 + 0.0625; // halfway between neighbours at every step
    edge[192 + j] = j === 0 ? 6 : (j % 2 ? 2.5 : 5);
    edge[224 + j] = j === 3 ? -Math.fround(8 - 2 ** -21) : 0;
  }
  jobs.push({ type: ggmlTypeByName('MXFP4')!, ne0: 256, x: edge, out: join(tmp, 'MXFP4-edge.bin') });
  beforeAll(() => {
    results = runOracle(jobs);
  });
  for (const name of names) {
    it(`${name}: reference path and imatrix path`, () => {
      const type = ggmlTypeByName(name)!;
      // every backend that has the type: the TypeScript/WebAssembly codecs, and the native addon when built
      const backends = nativeQuantizer(type) ? ['native', 'typescript'] : ['typescript'];
      try {
        for (const backend of backends) {
          setNativeQuantizers(backend === 'native');
          for (const j of jobs.filter((j) => j.type === type)) {
            const ours = quantizeRows(type, j.x, j.ne0, j.imatrix ?? null);
            expect(firstDiff(ours, results.get(j)!), `${name} ${backend} ne0 ${j.ne0}${j.imatrix ? ' imatrix' : ''}`).toBe(-1);
          }
        }
      } finally {
        setNativeQuantizers(true);
      }
    });
  }
});

it('reports whether the llama.cpp byte-for-byte check ran', () => {
  if (!oracle) console.warn('skipped the byte-for-byte check against libggml-base: needs python3 with numpy and node-llama-cpp prebuilt binaries (x64)');
  expect(GGMLType.Q4_K).toBe(12);
});

describe('QuantPool', () => {
  it('gives the same bytes as quantizeRows, with or without worker threads', async () => {
    const { QuantPool } = await import('../src/pool.js');
    const x = gaussian(256 * 1030, 9); // just above the size that goes parallel
    const im = new Float32Array(256).map((_, i) => 1 + (i % 5));
    // the worker threads serve the WebAssembly/TypeScript codecs: the native quantizers (own threads) are off here
    setNativeQuantizers(false);
    const want = new Map(['Q5_0', 'Q6_K'].map((n) => [n, [Buffer.from(quantizeRows(ggmlTypeByName(n)!, x, 256)), Buffer.from(quantizeRows(ggmlTypeByName(n)!, x, 256, im))]]));
    const pool = new QuantPool(2);
    try {
      pool.quantizeRows(GGMLType.Q8_0, x, 256); // the first large tensor starts the worker
      for (let t = 0; t < 200 && pool.readyWorkers === 0; t++) await new Promise((r) => setTimeout(r, 100));
      if (pool.readyWorkers === 0) console.warn('QuantPool: the worker did not start here; only the calling thread was checked');
      for (const [name, [plain, withIm]] of want) {
        const type = ggmlTypeByName(name)!;
        // (Buffer.equals: vitest's deep equality is slow on large typed arrays)
        expect(Buffer.from(pool.quantizeRows(type, x, 256)).equals(plain!)).toBe(true);
        expect(Buffer.from(pool.quantizeRows(type, x, 256, im)).equals(withIm!)).toBe(true);
      }
      // and through the native quantizers' own threads, where the addon is built
      setNativeQuantizers(true);
      for (const [name, [plain, withIm]] of want) {
        const type = ggmlTypeByName(name)!;
        expect(Buffer.from(pool.quantizeRows(type, x, 256)).equals(plain!)).toBe(true);
        expect(Buffer.from(pool.quantizeRows(type, x, 256, im)).equals(withIm!)).toBe(true);
      }
    } finally {
      setNativeQuantizers(true);
      pool.close();
    }
  });
});

describe('the WebAssembly kernel', () => {
  it('gives the same bytes as the TypeScript searches (make_qkx2/qkx3/qx_quants users, both paths)', async () => {
    const { setWasmKernel } = await import('../src/index.js');
    const x = new Float32Array([...gaussian(256 * 64, 21), ...awkward(256, 22), ...gaussian(256 * 4, 23, 1e-30)]);
    setNativeQuantizers(false);
    try {
      const im = new Float32Array(256).map((_, i) => ((i * 7919) % 13) / 3);
      for (const name of ['Q2_K', 'Q4_K', 'Q5_K', 'Q6_K', 'Q3_K', 'Q4_0', 'Q5_0', 'Q4_1', 'Q5_1']) {
        const type = ggmlTypeByName(name)!;
        for (const qw of [null, im]) {
          setWasmKernel(false);
          const js = Buffer.from(quantizeRows(type, x, 256, qw));
          setWasmKernel(true);
          const wasm = Buffer.from(quantizeRows(type, x, 256, qw));
          expect(wasm.equals(js), `${name}${qw ? ' imatrix' : ''}`).toBe(true);
        }
      }
    } finally {
      setWasmKernel(true);
      setNativeQuantizers(true);
    }
  });
});
