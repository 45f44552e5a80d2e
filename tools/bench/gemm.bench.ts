// npm run bench -- gemm [--backends native,wasm,js] [--shapes all|square|blocks|grads] [--trans NN,NT,TN,TT] [--threads N]
//                       [--reference auto|none|PATH]
// GEMM throughput of each kernel backend against the machine's FMA ceiling measured in this run
// (AVX-512 FMAs on every core, as `npm run bench -- ceiling`). Shapes: 1024^3 and the Qwen3-0.6B
// projections for a 4096-token block, y = x·W^T with x [4096, in] and W [out, in]:
//   q_proj 1024→2048, k_proj/v_proj 1024→1024, o_proj 2048→1024, gate/up_proj 1024→3072, down_proj 3072→1024.
// Each result is one JSON line; fraction = best gflops / ceiling_gflops, ratio = paired_fraction (the median
// window against the ceiling of that moment, tools/bench/paired-ceiling.ts).
// Reference: a system CBLAS (OpenBLAS by default: libopenblas.so.0, or AUTOROUND_BENCH_CBLAS / --reference
// PATH), loaded with dlopen by the addon and timed the same way right after the native backend on each case,
// and then alternated with it window by window, so each native row also says how it compares with a tuned
// BLAS at that moment (vs_reference: native over reference, median of 10 alternations). Debian's
// OpenBLAS picks its SSE3 kernels on this CPU unless told otherwise, so OPENBLAS_CORETYPE defaults to the
// kernels of the ISA we run (SkylakeX for AVX-512, Haswell for AVX2), and its threads stop spinning at once
// (OPENBLAS_THREAD_TIMEOUT=4) so that they do not take cores from the windows that follow.
import { loadavg } from 'node:os';
import { interleavedRatio, pairedFraction } from './paired-ceiling.js';
import type { KernelBackend } from '@autoround/core-tensor';
import { benchAddonPath, jsBackend, loadNativeAddon, native, nativeBackend, nativeLoadError, setKernelLogger, wasmBackend, describeBackend } from '@autoround/kernels-cpu';

const opt = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const backends = opt('backends', 'native,wasm,js').split(',');
const shapeSet = opt('shapes', 'all');
const transList = opt('trans', 'NN,NT,TN,TT').split(',');
// js runs a case only if it should take under 20 s, and all js cases together under 45 s, so the
// whole bench stays near 3 minutes; skipped cases are printed with the reason.
const JS_LIMIT_S = 20;
const JS_BUDGET_S = 45;
let jsSpent = 0;

if (!native) {
  console.error(`gemm: the native addon is needed for the FMA ceiling (${nativeLoadError})`);
  process.exit(1);
}
const addon = native;
const threads = Number(opt('threads', String(addon.hardwareThreads())));
const isa = addon.detectIsa() === 'avx512' ? 'avx512' : 'avx2';
// best of several trials, per wall-clock second (the headline) and per CPU-second (one core's rate)
let ceiling = 0;
let ceilingCpu = 0;
const measureCeiling = (trials: number) => {
  for (let i = 0; i < trials; i++) {
    const c = addon.fmaCeiling(isa, addon.hardwareThreads(), 0.25);
    ceiling = Math.max(ceiling, c.gflops);
    ceilingCpu = Math.max(ceilingCpu, c.cpuGflops);
  }
};
const ceilingTrial = (seconds: number) => addon.fmaCeiling(isa, addon.hardwareThreads(), seconds).gflops;
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(`gemm: load average ${load()}; measuring the ${isa} FMA ceiling on ${addon.hardwareThreads()} threads…`);
measureCeiling(5);
console.log(`gemm: ceiling ${ceiling.toFixed(1)} GFLOP/s (${ceilingCpu.toFixed(1)} per core-second)`);

interface Shape {
  label: string;
  m: number;
  n: number;
  k: number;
}
const shapes: Shape[] = [];
// a Qwen3-0.6B-shaped block's projections over 4096 tokens: [tokens, out] = X[tokens, in] · Wᵀ
const BLOCK: Shape[] = [
  { label: 'q_proj', m: 4096, n: 2048, k: 1024 },
  { label: 'k_proj,v_proj', m: 4096, n: 1024, k: 1024 },
  { label: 'o_proj', m: 4096, n: 1024, k: 2048 },
  { label: 'gate_proj,up_proj', m: 4096, n: 3072, k: 1024 },
  { label: 'down_proj', m: 4096, n: 1024, k: 3072 },
];
if (shapeSet === 'grads') {
  // the same projections' weight gradients, dW [out, in] = dYᵀ·X over the 4096 tokens (k = 4096; TN in
  // the SignRound backward, so run with --trans TN): B = X is 16-48 MB, the sizes the whole-B limit decides
  shapes.push(...BLOCK.map((s) => ({ label: `${s.label} grad`, m: s.n, n: s.k, k: s.m })));
} else if (shapeSet !== 'blocks') shapes.push({ label: 'square', m: 1024, n: 1024, k: 1024 });
if (shapeSet !== 'square' && shapeSet !== 'grads') shapes.push(...BLOCK);

setKernelLogger(null);
/** What a case times: one of our backends, or the reference CBLAS. */
interface Timed {
  name: string;
  threads: number;
  label: string;
  reference: boolean;
  gemm: KernelBackend['gemm'];
}
const made: Timed[] = [];
for (const name of backends) {
  let be: KernelBackend | undefined;
  if (name === 'native' && nativeBackend.available()) be = nativeBackend.create({ threads });
  else if (name === 'wasm' && wasmBackend.available()) be = wasmBackend.create({});
  else if (name === 'js') be = jsBackend.create({});
  else console.log(`gemm: backend ${name} is not available here, skipped`);
  if (be) made.push({ name: be.name, threads: be.threads, label: describeBackend(be), reference: false, gemm: be.gemm.bind(be) });
}
const referenceOpt = opt('reference', 'auto');
if (referenceOpt !== 'none' && made.some((m) => m.name === 'native')) {
  const path = referenceOpt === 'auto' ? (process.env.AUTOROUND_BENCH_CBLAS ?? 'libopenblas.so.0') : referenceOpt;
  process.env.OPENBLAS_CORETYPE ??= isa === 'avx512' ? 'SkylakeX' : 'Haswell';
  process.env.OPENBLAS_THREAD_TIMEOUT ??= '4';
  try {
    // the reference lives in the benchmark build of the addon only (the shipped one never dlopens a BLAS)
    const bench = loadNativeAddon(benchAddonPath());
    if ('error' in bench) throw new Error(`${bench.error}; build it with \`npm run build:native:bench -w @autoround/kernels-cpu\``);
    const ref = bench.addon;
    if (!ref.cblasLoad || !ref.cblasGemm) throw new Error(`${benchAddonPath()} has no cblasLoad`);
    const lib = ref.cblasLoad(path);
    const cblasGemm = ref.cblasGemm;
    const name = lib.core ? 'openblas' : 'cblas';
    made.splice(made.findIndex((m) => m.name === 'native') + 1, 0, {
      name,
      threads,
      label: `${name} reference (${lib.core ? `${lib.core} kernels, ` : ''}${threads} threads)`,
      reference: true,
      gemm: (ta, tb, m, n, k, a, b, c, alpha = 1, beta = 0) => cblasGemm(ta, tb, m, n, k, a, b, c, alpha, beta, threads),
    });
    console.log(`gemm: reference ${path}${lib.config ? `: ${lib.config}` : ''}`);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    if (referenceOpt === 'auto') console.log(`gemm: no reference BLAS (${why}); install libopenblas0 or pass --reference PATH to compare with one`);
    else {
      console.error(`gemm: --reference ${referenceOpt}: ${why}`);
      process.exit(1);
    }
  }
}

const fill = (n: number) => {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
};

const out: object[] = [];
const rateOf = new Map<string, number>(); // measured GFLOP/s per backend, to predict the js times
for (const s of shapes) {
  const a = fill(s.m * s.k);
  const b = fill(s.k * s.n);
  const c = new Float32Array(s.m * s.n);
  const flop = 2 * s.m * s.n * s.k;
  const shape = `${s.m}x${s.n}x${s.k}`;
  for (const be of made) {
    for (const tr of transList) {
      const ta = tr[0] === 'T';
      const tb = tr[1] === 'T';
      const known = rateOf.get(`${be.name}${tr}`) ?? rateOf.get(be.name);
      const predicted = known ? flop / (known * 1e9) : 0;
      if (be.name === 'js' && predicted > JS_LIMIT_S) {
        console.log(`  ${shape} ${tr} js: skipped, would take ~${predicted.toFixed(0)} s at the ${known!.toFixed(2)} GFLOP/s measured on 1024^3 (limit ${JS_LIMIT_S} s)`);
        continue;
      }
      if (be.name === 'js' && jsSpent + predicted > JS_BUDGET_S) {
        console.log(`  ${shape} ${tr} js: skipped, ~${predicted.toFixed(0)} s more would pass the ${JS_BUDGET_S} s budget for js (${jsSpent.toFixed(0)} s spent)`);
        continue;
      }
      // One untimed call when it is cheap (first touch, pack buffers, JIT). Then windows of calls
      // (0.1 s each, at least one call) alternating with 0.05 s ceiling trials, until ~1.5 s went into
      // the calls (at least 5 calls; 1-5 for js). gflops is the best call against the run's ceiling (a
      // best of trials at the start and the end); paired_fraction the median window against the
      // trials just around it (tools/bench/paired-ceiling.ts), which the host's phases do not move.
      if (be.name !== 'js' && predicted < 1) be.gemm(ta, tb, s.m, s.n, s.k, a, b, c);
      const isJs = be.name === 'js';
      const cpuSecs: number[] = [];
      const paired = pairedFraction({
        call: () => {
          const u0 = process.cpuUsage();
          be.gemm(ta, tb, s.m, s.n, s.k, a, b, c);
          const u = process.cpuUsage(u0);
          cpuSecs.push((u.user + u.system) / 1e6);
          return flop;
        },
        ceiling: ceilingTrial,
        windowSeconds: 0.1,
        workSeconds: isJs ? 0 : 1.5,
        minWindows: isJs ? 1 : 5,
        maxCalls: isJs ? 5 : 400,
        ceilingSeconds: 0.05,
      });
      const times = paired.times;
      const spent = times.reduce((x, y) => x + y, 0);
      const best = Math.min(...times);
      const bestCpu = Math.min(...cpuSecs);
      times.sort((x, y) => x - y);
      const median = times[times.length >> 1]!;
      if (be.name === 'js') jsSpent += spent;
      const gflops = flop / best / 1e9;
      const cpuGflops = flop / bestCpu / 1e9;
      rateOf.set(`${be.name}${tr}`, rateOf.get(`${be.name}${tr}`) ?? gflops);
      rateOf.set(be.name, rateOf.get(be.name) ?? gflops);
      const row = {
        bench: 'gemm',
        shape,
        layer: s.label,
        trans: tr,
        backend: be.name,
        threads: be.threads,
        gflops: +gflops.toFixed(2),
        median_gflops: +(flop / median / 1e9).toFixed(2),
        runs: times.length,
        ceiling_gflops: +ceiling.toFixed(2),
        fraction: +(gflops / ceiling).toFixed(4),
        paired_fraction: +paired.median.toFixed(4),
        paired_range: [+Math.min(...paired.ratios).toFixed(4), +Math.max(...paired.ratios).toFixed(4)],
        paired_windows: paired.ratios.length,
        // for comparisons across commits: the phase-matched figure
        ratio: +paired.median.toFixed(4),
        // per CPU-second the process used (spin-waits included), against one core's FMA rate: what the
        // kernel achieves while it runs, whatever else the machine is doing
        cpu_gflops: +cpuGflops.toFixed(2),
        ceiling_cpu_gflops: +ceilingCpu.toFixed(2),
        cpu_fraction: +(cpuGflops / ceilingCpu).toFixed(4),
        load_average: +loadavg()[0]!.toFixed(2),
      };
      console.log(`  ${shape} ${tr} ${be.label}: ${gflops.toFixed(1)} GFLOP/s = ${(100 * row.fraction).toFixed(1)}% of ceiling (median of ${row.runs} runs ${(100 * row.median_gflops / ceiling).toFixed(1)}%; per core-second: ${(100 * row.cpu_fraction).toFixed(1)}%; against the ceiling of the moment: ${(100 * row.paired_fraction).toFixed(1)}%, windows ${(100 * row.paired_range[0]!).toFixed(0)}-${(100 * row.paired_range[1]!).toFixed(0)}%)`);
      out.push(row);
      if (be.reference) {
        // our native backend against the reference in alternating windows (phase-matched), 0.1 s each
        const nat = made.find((m) => m.name === 'native');
        const natRow = out.find((r) => (r as typeof row).backend === 'native' && (r as typeof row).shape === shape && (r as typeof row).trans === tr) as
          | (typeof row & { reference?: string; vs_reference?: number; vs_reference_range?: number[] })
          | undefined;
        if (nat && natRow) {
          const ab = interleavedRatio({
            a: () => (nat.gemm(ta, tb, s.m, s.n, s.k, a, b, c), flop),
            b: () => (be.gemm(ta, tb, s.m, s.n, s.k, a, b, c), flop),
            windowSeconds: 0.1,
            rounds: 10,
          });
          natRow.reference = be.name;
          natRow.vs_reference = +ab.median.toFixed(4);
          natRow.vs_reference_range = [+Math.min(...ab.ratios).toFixed(4), +Math.max(...ab.ratios).toFixed(4)];
          console.log(`  ${shape} ${tr}: native / ${be.name} = ${ab.median.toFixed(3)} (median of ${ab.ratios.length} alternations, ${natRow.vs_reference_range.map((x) => x.toFixed(2)).join('-')})`);
        }
      }
    }
  }
}
// The ceiling again at the end: the machine may be shared, so keep the higher (more conservative) figures.
const before = [ceiling, ceilingCpu];
measureCeiling(3);
if (ceiling > before[0]! || ceilingCpu > before[1]!) {
  console.log(`gemm: ceiling re-measured higher at the end (${ceiling.toFixed(1)} GFLOP/s, ${ceilingCpu.toFixed(1)} per core-second); fractions use it`);
  for (const r of out as { gflops: number; ceiling_gflops: number; fraction: number; cpu_gflops: number; ceiling_cpu_gflops: number; cpu_fraction: number }[]) {
    r.ceiling_gflops = +ceiling.toFixed(2);
    r.fraction = +(r.gflops / ceiling).toFixed(4);
    r.ceiling_cpu_gflops = +ceilingCpu.toFixed(2);
    r.cpu_fraction = +(r.cpu_gflops / ceilingCpu).toFixed(4);
  }
}
console.log(`gemm: load average at the end ${load()}`);
for (const r of out) console.log(JSON.stringify(r));
