// The same GEMM suite against every backend that can run here (native with each micro-kernel the
// CPU supports, wasm, js), checked against a float64 reference with a tolerance scaled by k.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KernelBackend } from '@autoround/core-tensor';
import { isAutoRoundError } from '@autoround/core-tensor';
import { memoryLogger } from '@autoround/core';
import plugin, { backendStatus, benchAddonPath, loadNativeAddon, describeBackend, gemmAsync, jsBackend, native, nativeBackend, setKernelLogger, wasmBackend } from '../src/index.js';
import type { NativeIsa } from '../src/index.js';
import { mulberry32 as rng } from '@autoround/testing';

const logger = memoryLogger();
beforeAll(() => setKernelLogger(logger));
afterAll(() => setKernelLogger(null));

const randomArray = (n: number, r: () => number) => Float32Array.from({ length: n }, () => r() * 2 - 1);

/** float64 reference and, per element, Σ|a||b| (for the error bound); memoised across backends. */
const memo = new Map<string, { out: Float64Array; mag: Float64Array }>();
function reference(ta: boolean, tb: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array, c: Float32Array, alpha: number, beta: number) {
  // inputs come from seeded generators, so the key plus a checksum identifies them
  let h = 0;
  for (const arr of [a, b, c]) for (let i = 0; i < arr.length; i += 7) h = (h * 31 + arr[i]! * 1e6) % 1e9;
  const key = `${ta}${tb}${m},${n},${k},${alpha},${beta},${h}`;
  let r = memo.get(key);
  if (!r) memo.set(key, (r = computeReference(ta, tb, m, n, k, a, b, c, alpha, beta)));
  return r;
}
function computeReference(ta: boolean, tb: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array, c: Float32Array, alpha: number, beta: number) {
  const out = new Float64Array(m * n);
  const mag = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      let t = 0;
      for (let p = 0; p < k; p++) {
        const x = ta ? a[p * m + i]! : a[i * k + p]!;
        const y = tb ? b[j * k + p]! : b[p * n + j]!;
        s += x * y;
        t += Math.abs(x * y);
      }
      out[i * n + j] = alpha * s + (beta === 0 ? 0 : beta * c[i * n + j]!);
      mag[i * n + j] = Math.abs(alpha) * t + Math.abs(beta * (beta === 0 ? 0 : c[i * n + j]!));
    }
  return { out, mag };
}

const EPS = 2 ** -23;
function expectClose(got: Float32Array, ref: { out: Float64Array; mag: Float64Array }, k: number, what: string) {
  let worst = 0;
  let at = -1;
  for (let i = 0; i < ref.out.length; i++) {
    // float32 accumulation error grows at most ~linearly in k; 2·k·eps·Σ|ab| with a small floor
    const tol = 2 * (k + 2) * EPS * ref.mag[i]! + 1e-30;
    const err = Math.abs(got[i]! - ref.out[i]!);
    if (!(err <= tol)) {
      if (!(err / tol <= worst)) {
        worst = err / tol;
        at = i;
      }
    }
  }
  if (at >= 0) expect.fail(`${what}: element ${at} = ${got[at]} vs ${ref.out[at]} (error ${Math.abs(got[at]! - ref.out[at]!)} is ${worst.toFixed(1)}x the k-scaled tolerance)`);
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [65, 129, 33],
  [257, 31, 300],
  [30, 600, 800], // several KC blocks and NC panels
];
const COMBOS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];
/** Index of the first element where x and y differ bitwise (-1: identical); toEqual is slow on big arrays. */
function firstDifference(x: Float32Array, y: Float32Array): number {
  if (x.length !== y.length) return Math.min(x.length, y.length);
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const v = new Uint32Array(y.buffer, y.byteOffset, y.length);
  for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) return i;
  return -1;
}
const tag = (ta: boolean, tb: boolean) => `${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`;

interface Target {
  label: string;
  make: (threads?: number) => KernelBackend;
  before?: () => void;
  after?: () => void;
}

const targets: Target[] = [];
if (nativeBackend.available() && native) {
  const addon = native;
  const best = addon.detectIsa();
  const isas: NativeIsa[] = best === 'avx512' ? ['avx512', 'avx2', 'generic'] : best === 'avx2' ? ['avx2', 'generic'] : ['generic'];
  for (const isa of isas) {
    targets.push({
      label: `native/${isa}`,
      make: (threads) => nativeBackend.create({ threads }),
      before: () => void addon.setIsa(isa),
      after: () => void addon.setIsa(best),
    });
  }
}
if (wasmBackend.available()) targets.push({ label: 'wasm', make: () => wasmBackend.create({}) });
targets.push({ label: 'js', make: () => jsBackend.create({}) });

it('reports which backends run here', () => {
  const st = backendStatus();
  expect(st.map((s) => s.name)).toEqual(['native', 'wasm', 'js']);
  // CI and dev machines have g++ and node headers: the addon must have been built by `npm ci`
  if (process.env.AUTOROUND_EXPECT_NATIVE !== '0') expect(st[0], st[0]!.reason).toMatchObject({ available: true });
  expect(st[1], st[1]!.reason).toMatchObject({ available: true });
});

for (const t of targets) {
  describe(`gemm on ${t.label}`, () => {
    beforeAll(() => t.before?.());
    afterAll(() => t.after?.());

    for (const [m, n, k] of SHAPES) {
      for (const [ta, tb] of COMBOS) {
        it(`${tag(ta, tb)} ${m}x${n}x${k}`, () => {
          const r = rng(m * 1000003 + n * 1009 + k);
          const a = randomArray(m * k, r);
          const b = randomArray(k * n, r);
          const be = t.make();
          for (const [alpha, beta] of [
            [1, 0],
            [-1.5, 1],
            [0.5, -2],
          ] as const) {
            const c0 = randomArray(m * n, r);
            const c = c0.slice();
            be.gemm(ta, tb, m, n, k, a, b, c, alpha, beta);
            expectClose(c, reference(ta, tb, m, n, k, a, b, c0, alpha, beta), k, `${t.label} ${tag(ta, tb)} ${m}x${n}x${k} alpha=${alpha} beta=${beta}`);
          }
        });
      }
    }

    it('beta = 0 overwrites C, even NaN; defaults are alpha = 1, beta = 0', () => {
      const r = rng(7);
      const [m, n, k] = [19, 35, 17];
      const a = randomArray(m * k, r);
      const b = randomArray(k * n, r);
      const c = new Float32Array(m * n).fill(Number.NaN);
      t.make().gemm(false, false, m, n, k, a, b, c);
      expectClose(c, reference(false, false, m, n, k, a, b, c, 1, 0), k, 'beta=0 over NaN');
    });

    it('alpha = 0 or k = 0 only scales C by beta', () => {
      const r = rng(8);
      const [m, n, k] = [9, 40, 11];
      const a = randomArray(m * k, r);
      const b = randomArray(k * n, r);
      const c0 = randomArray(m * n, r);
      const c = c0.slice();
      const be = t.make();
      be.gemm(true, false, m, n, k, a, b, c, 0, 3);
      for (let i = 0; i < c.length; i++) expect(c[i]).toBeCloseTo(3 * c0[i]!, 5);
      const d = c0.slice();
      be.gemm(false, true, m, n, 0, new Float32Array(0), new Float32Array(0), d, 1, 0.5);
      for (let i = 0; i < d.length; i++) expect(d[i]).toBeCloseTo(0.5 * c0[i]!, 6);
      be.gemm(false, false, 0, n, k, new Float32Array(0), b, new Float32Array(0)); // empty C: no-op
    });

    it('works on subarray views (non-zero byteOffset)', () => {
      const r = rng(9);
      const [m, n, k] = [33, 47, 29];
      const pool = randomArray(5 + m * k + 3 + k * n + 7 + m * n, r);
      const a = pool.subarray(5, 5 + m * k);
      const b = pool.subarray(5 + m * k + 3, 5 + m * k + 3 + k * n);
      const c = pool.subarray(5 + m * k + 3 + k * n + 7);
      const ref = reference(false, true, m, n, k, a, b, c, 1, 0);
      t.make().gemm(false, true, m, n, k, a, b, c);
      expectClose(c, ref, k, 'views');
    });

    it('rejects arrays too short for the shape with AutoRoundError', () => {
      const be = t.make();
      let err: unknown;
      try {
        be.gemm(false, false, 4, 4, 4, new Float32Array(15), new Float32Array(16), new Float32Array(16));
      } catch (e) {
        err = e;
      }
      expect(isAutoRoundError(err)).toBe(true);
      expect(String((err as Error).message)).toMatch(/a has 15 elements, a 4x4 matrix needs 16/);
    });

    it('gemmAsync gives the same result', async () => {
      const r = rng(10);
      const [m, n, k] = [200, 150, 130];
      const a = randomArray(m * k, r);
      const b = randomArray(k * n, r);
      const c0 = randomArray(m * n, r);
      const c = c0.slice();
      await gemmAsync(t.make(), true, true, m, n, k, a, b, c, 0.75, 0.25);
      expectClose(c, reference(true, true, m, n, k, a, b, c0, 0.75, 0.25), k, 'async');
    });
  });
}

describe.skipIf(!nativeBackend.available())('native backend specifics', () => {
  it('allocFloat32 hands out zeroed views that start on a 64-byte line', () => {
    const be = nativeBackend.create({});
    for (const n of [1, 5, 16, 1000, 1 << 22]) {
      const a = be.allocFloat32!(n);
      expect(a.length).toBe(n);
      expect(native!.alignOffset!(a)).toBe(0);
      expect(a.every((v) => v === 0)).toBe(true);
    }
    // the probe itself: a view one float past an aligned start is 15 floats short of the next line
    const a = be.allocFloat32!(64);
    expect(native!.alignOffset!(a.subarray(1))).toBe(15);
    expect(() => (native!.alignOffset as (x: unknown) => number)(new Float64Array(4))).toThrow(/alignOffset: expected a Float32Array/);
  });

  it('thread count changes nothing in the result (each C tile is summed in the same order)', () => {
    const r = rng(11);
    const [m, n, k] = [301, 257, 411];
    const a = randomArray(m * k, r);
    const b = randomArray(k * n, r);
    const limit = native!.setMaxPackedB(-1);
    // B packed whole (the default here), then B packed panel by panel between barriers
    for (const [ta, tb, maxPackedB] of [...COMBOS.map(([x, y]) => [x, y, limit] as const), [false, true, 0] as const, [true, false, 0] as const]) {
      native!.setMaxPackedB(maxPackedB);
      const results = [1, 2, 3, 4, 7].map((threads) => {
        const c = new Float32Array(m * n);
        const be = nativeBackend.create({ threads });
        expect(be.threads).toBe(threads);
        be.gemm(ta, tb, m, n, k, a, b, c);
        return c;
      });
      native!.setMaxPackedB(limit);
      expectClose(results[0]!, reference(ta, tb, m, n, k, a, b, results[0]!, 1, 0), k, `threads=1 ${tag(ta, tb)}`);
      for (const c of results.slice(1)) expect(firstDifference(c, results[0]!)).toBe(-1);
    }
  });

  it('packs a weight-gradient-sized B (over 12 MiB) whole by default, with the bits of the panel-by-panel scheme', () => {
    // k = 4100 tokens (11 slices of k, the last partial), B 4100 x 1000 = 16.4 MB: above the 12 MiB the
    // whole-B scheme used to stop at, below its 128 MiB limit; beta 0.5 so the first slice's C update shows.
    const r = rng(12);
    const [m, n, k] = [620, 1000, 4100];
    const a = randomArray(k * m, r);
    const b = randomArray(k * n, r);
    const c0 = randomArray(m * n, r);
    const be = nativeBackend.create({ threads: 2 });
    const limit = native!.setMaxPackedB(-1);
    expect(limit).toBeGreaterThanOrEqual(k * 1024);
    const run = (maxPackedB: number) => {
      native!.setMaxPackedB(maxPackedB);
      const c = c0.slice();
      try {
        be.gemm(true, false, m, n, k, a, b, c, 0.75, 0.5);
      } finally {
        native!.setMaxPackedB(limit);
      }
      return c;
    };
    const whole = run(limit);
    const panels = run(0);
    expect(firstDifference(whole, panels)).toBe(-1);
    // a float64 check of 300 sampled elements (the whole reference would take half a minute here)
    for (let s = 0; s < 300; s++) {
      const i = Math.floor(r() * m), j = Math.floor(r() * n);
      let sum = 0, mag = 0;
      for (let p = 0; p < k; p++) {
        sum += a[p * m + i]! * b[p * n + j]!;
        mag += Math.abs(a[p * m + i]! * b[p * n + j]!);
      }
      const want = 0.75 * sum + 0.5 * c0[i * n + j]!;
      expect(Math.abs(whole[i * n + j]! - want)).toBeLessThanOrEqual(2 * (k + 2) * EPS * (0.75 * mag + Math.abs(0.5 * c0[i * n + j]!)));
    }
  });

  it('defaults to one thread per core', () => {
    expect(nativeBackend.create({}).threads).toBe(native!.hardwareThreads());
  });

  it('gemmAsync runs off the JS thread and interleaves with sync calls', async () => {
    const r = rng(12);
    const [m, n, k] = [512, 512, 512];
    const a = randomArray(m * k, r);
    const b = randomArray(k * n, r);
    const be = nativeBackend.create({ threads: 2 });
    const cs = [0, 1, 2, 3].map(() => new Float32Array(m * n));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const pending = cs.map((c) => be.gemmAsync!(false, true, m, n, k, a, b, c));
    const sync = new Float32Array(m * n);
    be.gemm(false, true, m, n, k, a, b, sync); // serialised with the async ones inside the addon
    await Promise.all(pending);
    clearInterval(timer);
    for (const c of cs) expect(firstDifference(c, sync)).toBe(-1);
    expect(ticks).toBeGreaterThanOrEqual(0);
  });

  it('concurrent gemmAsync calls of different sizes match single-threaded results', async () => {
    const r = rng(13);
    const shapes: [number, number, number][] = [
      [300, 200, 700],
      [700, 900, 300],
      [100, 1500, 500],
    ];
    const inputs = shapes.map(([m, n, k]) => ({ a: randomArray(m * k, r), b: randomArray(k * n, r) }));
    const one = nativeBackend.create({ threads: 1 });
    const refs = shapes.map(([m, n, k], i) => {
      const c = new Float32Array(m * n);
      one.gemm(true, false, m, n, k, inputs[i]!.a, inputs[i]!.b, c);
      return c;
    });
    const two = nativeBackend.create({ threads: 2 });
    const outs = [0, 1, 2, 0, 1, 2].map((i) => ({ i, c: new Float32Array(shapes[i]![0] * shapes[i]![1]) }));
    const pending = outs.map(({ i, c }) => two.gemmAsync!(true, false, ...shapes[i]!, inputs[i]!.a, inputs[i]!.b, c));
    const sync = new Float32Array(shapes[1]![0] * shapes[1]![1]);
    two.gemm(true, false, ...shapes[1]!, inputs[1]!.a, inputs[1]!.b, sync);
    await Promise.all(pending);
    for (const { i, c } of outs) expect(firstDifference(c, refs[i]!)).toBe(-1);
    expect(firstDifference(sync, refs[1]!)).toBe(-1);
  });

  it('rejects bad arguments at the addon boundary too', () => {
    expect(() => native!.gemm(false, false, 2, 2, 2, new Float32Array(3), new Float32Array(4), new Float32Array(4), 1, 0, 1)).toThrow(/a has 3 elements/);
    expect(() => native!.gemm(false, false, 2, 2, 2, new Float64Array(4) as unknown as Float32Array, new Float32Array(4), new Float32Array(4), 1, 0, 1)).toThrow(/Float32Array/);
    expect(native!.setIsa('avx2' as NativeIsa)).toBe(native!.detectIsa() !== 'generic');
    native!.setIsa(native!.detectIsa());
  });

  it('ships no BLAS loader: the OpenBLAS reference is in the benchmark build only', () => {
    expect(native!.cblasLoad).toBeUndefined();
    expect(native!.cblasGemm).toBeUndefined();
  });

  it('loads a system CBLAS as the gemm bench reference in the benchmark build, or says why not', (ctx) => {
    const built = loadNativeAddon(benchAddonPath());
    if ('error' in built) return ctx.skip(`the benchmark build of the addon is not built here (npm run build:native:bench): ${built.error}`);
    const bench = built.addon;
    expect(() => bench.cblasLoad!('/no/such/dir/libcblas.so')).toThrow(/cblasLoad: .*\/no\/such\/dir\/libcblas\.so/);
    let loaded = false;
    try {
      bench.cblasLoad!('libopenblas.so.0');
      loaded = true;
    } catch {
      // no OpenBLAS on this machine: only the error path above can be checked
    }
    if (!loaded) return;
    const [m, n, k] = [37, 29, 41];
    const r = rng(4242);
    const a = randomArray(m * k, r);
    const b = randomArray(k * n, r);
    for (const [ta, tb] of COMBOS) {
      const c0 = randomArray(m * n, r);
      const c = c0.slice();
      bench.cblasGemm!(ta, tb, m, n, k, a, b, c, -1.5, 0.5, 2);
      expectClose(c, reference(ta, tb, m, n, k, a, b, c0, -1.5, 0.5), k, `cblas ${tag(ta, tb)}`);
    }
  });

  it('measures an FMA ceiling', () => {
    const isa = native!.detectIsa();
    if (isa === 'generic') return;
    const g = native!.fmaCeiling(isa, 2, 0.05);
    expect(g.gflops).toBeGreaterThan(1);
    expect(g.cpuGflops).toBeGreaterThan(1);
  });
});

it('names the backend it creates in one log line', () => {
  setKernelLogger(logger);
  logger.lines.length = 0;
  const b = plugin.kernels![0]!.available() ? plugin.kernels![0]!.create({ threads: 1 }) : jsBackend.create({});
  const line = `kernel backend: ${describeBackend(b)}`;
  expect(logger.lines.filter((l) => l.startsWith(line))).toHaveLength(1);
});
