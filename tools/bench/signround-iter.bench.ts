// npm run bench -- signround-iter [--batch B] [--seqlen T] [--iters N] [--bits 4] [--group 128] [--baseline 0|1] [--profile 0|1]
// One SignRound iteration on a decoder block shaped like Qwen3-0.6B (hidden 1024, intermediate 3072,
// 16 query / 8 KV heads of dim 128, q/k norms) with random weights, batch 8 × seqlen 512 by default:
// QDQ of all seven weights (V/alpha/beta), forward, MSE, backward (STE to V/alpha/beta), the sign step.
// Work = 3 × the forward's matrix-product FLOPs (seven linears + QKᵀ and PV, causal mask not
// discounted), reported against the machine's FMA ceiling measured in this run by the addon's
// fmaCeiling (the loop `npm run bench -- ceiling` and the gemm bench call). With --baseline 1 (default)
// one iteration also runs with the fused attention, QDQ and element (SwiGLU, RMSNorm, RoPE) kernels hidden
// (the TypeScript loops; GEMMs stay native).
import { loadavg } from 'node:os';
import { pairedFraction } from './paired-ceiling.js';
import { Graph, type KernelBackend } from '@autoround/core-tensor';
import { QdqParams, qdqVar, signStep } from '@autoround/algo-signround';
import { type BlockTensors, llamaBlockGraph } from '@autoround/models';
import { describeBackend, native, nativeBackend, nativeLoadError, setKernelLogger } from '@autoround/kernels-cpu';

const opt = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const B = opt('batch', 8);
const T = opt('seqlen', 512);
const iters = opt('iters', 2);
const bits = opt('bits', 4);
const group = opt('group', 128);
const doBaseline = opt('baseline', 1) !== 0;
// --profile 1: per-phase and per-kernel seconds of each timed iteration (docs/perf/signround-iteration.md)
const doProfile = opt('profile', 0) !== 0;
const hidden = 1024, inter = 3072, H = 16, KV = 8, D = 128;

if (!native) {
  console.error(`signround-iter: the native addon is needed (${nativeLoadError})`);
  process.exit(1);
}
const addon = native;
void setKernelLogger;
const isa = addon.detectIsa() === 'avx512' ? 'avx512' : 'avx2';
let ceiling = 0;
let ceilingCpu = 0;
const measureCeiling = (trials: number) => {
  for (let i = 0; i < trials; i++) {
    const c = addon.fmaCeiling(isa, addon.hardwareThreads(), 0.25);
    ceiling = Math.max(ceiling, c.gflops);
    ceilingCpu = Math.max(ceilingCpu, c.cpuGflops);
  }
};
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(`signround-iter: load average ${load()}; measuring the ${isa} FMA ceiling on ${addon.hardwareThreads()} threads…`);
measureCeiling(5);
console.log(`signround-iter: ceiling ${ceiling.toFixed(1)} GFLOP/s (${ceilingCpu.toFixed(1)} per core-second)`);

let seed = 12345;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 4294967296 - 0.5;
};
const randArr = (n: number, s: number) => {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rnd() * s;
  return a;
};
const linear = (out: number, inp: number) => {
  const weight = randArr(out * inp, 2 / Math.sqrt(inp));
  return { weight, outFeatures: out, inFeatures: inp, quant: new QdqParams(weight, out, inp, { bits, groupSize: group, sym: false }) };
};
const ones = (n: number) => new Float32Array(n).fill(1);
// the models package's Qwen3-shaped block; each linear's weight enters as the QDQ of its parameters
const linears = new Map([
  ['self_attn.q_proj', linear(H * D, hidden)],
  ['self_attn.k_proj', linear(KV * D, hidden)],
  ['self_attn.v_proj', linear(KV * D, hidden)],
  ['self_attn.o_proj', linear(hidden, H * D)],
  ['mlp.gate_proj', linear(inter, hidden)],
  ['mlp.up_proj', linear(inter, hidden)],
  ['mlp.down_proj', linear(hidden, inter)],
]);
const w: BlockTensors = {
  norms: new Map([
    ['input_layernorm', ones(hidden)],
    ['post_attention_layernorm', ones(hidden)],
    ['self_attn.q_norm', ones(D)],
    ['self_attn.k_norm', ones(D)],
  ]),
  linears,
};
const dims = { heads: H, kvHeads: KV, headDim: D, eps: 1e-6, qkNorm: true };
const inject = { weight: (g: Graph, local: string, own: Float32Array) => qdqVar(g, own, linears.get(local)!.quant) };
const cos = new Float32Array(T * D);
const sin = new Float32Array(T * D);
for (let p = 0; p < T; p++) {
  for (let i = 0; i < D / 2; i++) {
    const a = p * Math.pow(1e6, (-2 * i) / D);
    cos[p * D + i] = cos[p * D + i + D / 2] = Math.cos(a);
    sin[p * D + i] = sin[p * D + i + D / 2] = Math.sin(a);
  }
}
const x = randArr(B * T * hidden, 2);
const target = randArr(B * T * hidden, 2);
const layers = [...linears.values()];
const params = layers.flatMap((l) => l.quant!.params());

// Profile: seconds per phase of the iteration and per kernel (summed over the timed iterations).
// Wall seconds and process CPU seconds (all threads; steadier than wall time on a loaded machine).
const prof = new Map<string, number>();
const profCpu = new Map<string, number>();
const addProf = (k: string, s: number, cpu: number) => {
  prof.set(k, (prof.get(k) ?? 0) + s);
  profCpu.set(k, (profCpu.get(k) ?? 0) + cpu);
};
const cpuNow = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};
let phase = '';
const mark = (() => {
  let t = 0;
  let c = 0;
  return (next: string) => {
    if (!doProfile) return;
    const now = performance.now();
    const cn = cpuNow();
    if (phase) addProf(`phase ${phase}`, (now - t) / 1000, cn - c);
    phase = next;
    t = now;
    c = cn;
  };
})();

/** The backend with every kernel timed into prof under "<phase> <kernel>" (gemm by transposes). */
function profiled(be: KernelBackend): KernelBackend {
  const out: Record<string, unknown> = { name: be.name, threads: be.threads };
  for (const key of Object.keys(be) as (keyof KernelBackend)[]) {
    const f = be[key];
    // flags such as freshGradients too: without them the graph zero-fills gradient buffers the real run does not
    if (typeof f !== 'function') {
      out[key] = f;
      continue;
    }
    out[key] = (...a: unknown[]) => {
      const c0 = cpuNow();
      const t0 = performance.now();
      const r = (f as (...a: unknown[]) => unknown).apply(be, a);
      const label = key === 'gemm' ? `gemm ${a[0] ? 'T' : 'N'}${a[1] ? 'T' : 'N'}` : key;
      addProf(`${phase} ${label}`, (performance.now() - t0) / 1000, cpuNow() - c0);
      return r;
    };
  }
  return out as unknown as KernelBackend;
}

function iteration(g: Graph, it: number): number {
  mark('zero-grad');
  for (const p of params) p.zeroGrad();
  g.reset();
  mark('forward');
  const y = llamaBlockGraph(g, g.input(x, [B * T, hidden]), dims, w, { cos, sin, rotDim: D }, inject, B, T);
  mark('loss');
  const l = g.mse(y, target);
  const loss = l.data[0]!;
  mark('backward');
  g.backward(g.scale(l, 1000));
  mark('step');
  const lr = 5e-3 * (1 - it / 200);
  for (const p of params) signStep(p.data, p.grad, lr, g.backend);
  for (const l of layers) l.quant.clampMinMax(0, 1);
  mark('');
  return loss;
}

const N = B * T;
const linFlops = 2 * N * layers.reduce((s, l) => s + l.outFeatures * l.inFeatures, 0);
const attFlops = 2 * 2 * B * H * T * T * D;
const work = 3 * (linFlops + attFlops);

// Each iteration runs between two 0.1 s ceiling trials; its rate over their mean is the iteration's
// share of the ceiling of that moment (tools/bench/paired-ceiling.ts), and the median over iterations
// is paired_fraction.
function time(be: KernelBackend, n: number, label: string): { s: number; cpu: number; loss: number; paired: number } {
  const g = new Graph(be);
  iteration(g, 0); // warm-up (arena, scratch)
  prof.clear();
  profCpu.clear();
  let best = Infinity, bestCpu = Infinity, loss = 0, i = 0;
  const paired = pairedFraction({
    call: () => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      loss = iteration(g, ++i);
      const s = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      best = Math.min(best, s);
      bestCpu = Math.min(bestCpu, (c.user + c.system) / 1e6);
      console.log(`  ${label} iteration ${i}: ${s.toFixed(3)} s, ${(work / s / 1e9).toFixed(1)} GFLOP/s (loss ${loss.toExponential(3)}; load ${load()})`);
      return work;
    },
    ceiling: (seconds) => addon.fmaCeiling(isa, addon.hardwareThreads(), seconds).gflops,
    windowSeconds: 0,
    workSeconds: 0,
    minWindows: n,
    maxCalls: n,
    ceilingSeconds: 0.1,
  });
  return { s: best, cpu: bestCpu, loss, paired: paired.median };
}

const be0 = nativeBackend.create({});
const be = doProfile ? profiled(be0) : be0;
console.log(`signround-iter: block hidden ${hidden}, intermediate ${inter}, ${H}/${KV} heads of ${D}, batch ${B} × seqlen ${T}, W${bits}G${group} asym on ${describeBackend(be0)}; ${(work / 1e9).toFixed(1)} GFLOP per iteration`);
const fused = time(be, iters, 'fused');
if (doProfile) printProfile(iters);
let base: { s: number } | null = null;
if (doBaseline) {
  const plain: KernelBackend = { name: be.name, threads: be.threads, gemm: be.gemm.bind(be) };
  base = time(plain, 1, 'TS attention+QDQ+element loops');
}
measureCeiling(3);
const gflops = work / fused.s / 1e9;
const fraction = gflops / ceiling;
console.log(`signround-iter: ${gflops.toFixed(1)} GFLOP/s = ${(100 * fraction).toFixed(1)}% of the ${ceiling.toFixed(1)} GFLOP/s ceiling (${(100 * fused.paired).toFixed(1)}% of the ceiling of the moment, median over iterations)${base ? `; ${(base.s / fused.s).toFixed(2)}× the iteration with TypeScript attention, QDQ and element loops (${base.s.toFixed(2)} s)` : ''}`);
console.log(
  JSON.stringify({
    bench: 'signround-iter',
    shape: { batch: B, seqlen: T, hidden, intermediate: inter, heads: H, kv_heads: KV, head_dim: D, bits, group },
    backend: describeBackend(be0),
    seconds: +fused.s.toFixed(4),
    gflop_per_iter: +(work / 1e9).toFixed(2),
    gflops: +gflops.toFixed(2),
    ceiling_gflops: +ceiling.toFixed(2),
    fraction: +fraction.toFixed(4),
    paired_fraction: +fused.paired.toFixed(4),
    cpu_fraction: +(work / fused.cpu / 1e9 / ceilingCpu).toFixed(4),
    ts_fused_ops_seconds: base ? +base.s.toFixed(4) : null,
    speedup_vs_ts_fused_ops: base ? +(base.s / fused.s).toFixed(3) : null,
    load_average: +loadavg()[0]!.toFixed(2),
    ratio: +fused.paired.toFixed(4),
  }),
);

/** The profile table (per iteration): each phase, its kernels, and the rest of it (JavaScript). */
function printProfile(n: number): void {
  const rows: [string, number, number][] = [];
  let total = 0;
  let totalCpu = 0;
  for (const ph of ['zero-grad', 'forward', 'loss', 'backward', 'step']) {
    const s = (prof.get(`phase ${ph}`) ?? 0) / n;
    const c = (profCpu.get(`phase ${ph}`) ?? 0) / n;
    total += s;
    totalCpu += c;
    let inKernels = 0;
    let inKernelsCpu = 0;
    const ks = [...prof].filter(([k]) => k.startsWith(`${ph} `)).sort((a, b) => b[1] - a[1]);
    rows.push([ph, s, c]);
    for (const [k, v] of ks) {
      const kc = profCpu.get(k)! / n;
      rows.push([`  ${k.slice(ph.length + 1)}`, v / n, kc]);
      inKernels += v / n;
      inKernelsCpu += kc;
    }
    if (ks.length) rows.push(['  (JavaScript, rest)', s - inKernels, c - inKernelsCpu]);
  }
  console.log(`signround-iter profile (per iteration, mean of ${n}; CPU = process CPU seconds, all threads):`);
  console.log('| phase / kernel | wall s | share | CPU s | share |\n| --- | ---: | ---: | ---: | ---: |');
  const pct = (v: number, t: number) => `${((100 * v) / t).toFixed(1)}%`;
  for (const [k, v, c] of rows) console.log(`| ${k} | ${v.toFixed(4)} | ${pct(v, total)} | ${c.toFixed(4)} | ${pct(c, totalCpu)} |`);
  console.log(`| total | ${total.toFixed(4)} | 100% | ${totalCpu.toFixed(4)} | 100% |`);
}
