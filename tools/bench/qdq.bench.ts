// npm run bench -- qdq [--rows 1024] [--cols 1024] [--reps 3] [--iter 1] [--batch 4] [--seqlen 256]
// 1. Quantize–dequantize throughput (elements per second) of every weight type against the int QDQ in the same
//    run (quantizeInt, W4 g128 and g32), and of the activation QDQ (docs/algorithms/fp-qdq.md).
//    Each floating-point row twice: the TypeScript loops and the native kernel (kernels-cpu fp_qdq.cc).
// 2. One SignRound iteration (QDQ of the seven weights, forward, MSE, backward, sign step) on a small LLaMA block
//    with int W4 g128 weights, then with MXFP4 weights and MXFP4 activations (TypeScript, then native fp QDQ):
//    the time ratios. Activations go through algo-rtn's activationQdqOf, as in the tuning loop (q/k/v and gate/up
//    share one QDQ of their common input). docs/perf/fp-qdq.md.
import { loadavg } from 'node:os';
import { Graph, type KernelBackend, type Var, fpQdqKernel, setFpQdqKernel } from '@autoround/core-tensor';
import { presetScheme, resolveScheme, type QuantScheme } from '@autoround/core';
import { FpParams, QdqParams, fpQdqVar, qdqVar } from '@autoround/algo-signround';
import { activationQdqOf } from '@autoround/algo-rtn';
import { quantizeActivation, quantizeFp, quantizeInt } from '@autoround/quant-types';
import { type BlockTensors, llamaBlockGraph } from '@autoround/models';
import { nativeBackend, native } from '@autoround/kernels-cpu';

const opt = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const rows = opt('rows', 1024);
const cols = opt('cols', 1024);
const reps = opt('reps', 3);
let seed = 12345;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 4294967296 - 0.5;
};
const randArr = (n: number, s: number) => Float32Array.from({ length: n }, () => rnd() * s);
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

function rate(f: () => void): number {
  f();
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return (rows * cols) / best;
}

console.log(`qdq: ${rows}x${cols} weight, best of ${reps}; load average ${load()}`);
const w = randArr(rows * cols, 0.1);
const intRate = rate(() => quantizeInt(w, rows, cols, resolveScheme('W4A16')));
// the native fp kernel registered by kernels-cpu (null without the addon: both columns are the TypeScript loops)
const nativeFp = fpQdqKernel();
/** [TypeScript, native] rates of f. */
function rates(f: () => void): [number, number] {
  setFpQdqKernel(null);
  const ts = rate(f);
  setFpQdqKernel(nativeFp);
  return [ts, rate(f)];
}
console.log(`native fp QDQ kernel: ${nativeFp ? 'yes' : 'no (addon missing: both columns are TypeScript)'}`);
console.log(`| type | Melem/s TypeScript | Melem/s native | native vs int W4 g128 |\n|---|---:|---:|---:|`);
const row = (label: string, [ts, nat]: [number, number]) => console.log(`| ${label} | ${(ts / 1e6).toFixed(1)} | ${(nat / 1e6).toFixed(1)} | ${(nat / intRate).toFixed(2)} |`);
row('int W4 g128 (quantizeInt)', [intRate, intRate]);
const int32 = rate(() => quantizeInt(w, rows, cols, resolveScheme('W4A16', { group_size: 32 })));
row('int W4 g32', [int32, int32]);
const types: [string, QuantScheme][] = [
  ['mx_fp4 (MXFP4)', presetScheme('MXFP4')],
  ['mx_fp4 rceil', { ...presetScheme('MXFP4'), data_type: 'mx_fp_rceil' }],
  ['mx_fp6 e2m3', presetScheme('MXFP6')],
  ['mx_fp8 e4m3 (MXFP8)', presetScheme('MXFP8')],
  ['mx_int4', presetScheme('MXINT4')],
  ['nv_fp4 (NVFP4)', presetScheme('NVFP4')],
  ['nv_fp4_e5m3', presetScheme('NVFP4_E5M3')],
  ['fp8 e4m3 per tensor (FPW8A16)', presetScheme('FPW8A16')],
  ['fp8 e4m3 per channel (FP8_STATIC)', presetScheme('FP8_STATIC')],
  ['fp8 e4m3 128x128 (FP8_BLOCK)', presetScheme('FP8_BLOCK')],
];
for (const [label, s] of types) row(label, rates(() => quantizeFp(w, rows, cols, s)));
for (const [label, s, m] of [['activations MXFP4 (dynamic)', presetScheme('MXFP4'), undefined], ['activations NVFP4 (static gs)', presetScheme('NVFP4'), 3], ['activations FP8_STATIC', presetScheme('FP8_STATIC'), 3], ['activations INT8 per token', presetScheme('INT8'), undefined]] as const) {
  row(label, rates(() => quantizeActivation(w, rows, cols, s, m)));
}

// ---- one SignRound iteration -------------------------------------------------------------------------------
const B = opt('batch', 4);
const T = opt('seqlen', 256);
const iters = opt('iter', 2);
const hidden = 512, inter = 1536, H = 8, KV = 4, D = 64;
if (!native) throw new Error("qdq bench: the native addon is needed for the iteration");
const be: KernelBackend = nativeBackend.create({});
const shapes: [string, number, number][] = [
  ['self_attn.q_proj', H * D, hidden],
  ['self_attn.k_proj', KV * D, hidden],
  ['self_attn.v_proj', KV * D, hidden],
  ['self_attn.o_proj', hidden, H * D],
  ['mlp.gate_proj', inter, hidden],
  ['mlp.up_proj', inter, hidden],
  ['mlp.down_proj', hidden, inter],
];
const weights = new Map(shapes.map(([n, o, i]) => [n, randArr(o * i, 2 / Math.sqrt(i))]));
const ones = (n: number) => new Float32Array(n).fill(1);
const blockW: BlockTensors = {
  norms: new Map([['input_layernorm', ones(hidden)], ['post_attention_layernorm', ones(hidden)]]),
  linears: new Map(shapes.map(([n, o, i]) => [n, { weight: weights.get(n)!, outFeatures: o, inFeatures: i }])),
};
const dims = { heads: H, kvHeads: KV, headDim: D, eps: 1e-6, qkNorm: false };
const cos = new Float32Array(T * D);
const sin = new Float32Array(T * D);
for (let p = 0; p < T; p++) for (let i = 0; i < D / 2; i++) {
  const a = p * Math.pow(1e4, (-2 * i) / D);
  cos[p * D + i] = cos[p * D + i + D / 2] = Math.cos(a);
  sin[p * D + i] = sin[p * D + i + D / 2] = Math.sin(a);
}
const x = randArr(B * T * hidden, 2);
const target = randArr(B * T * hidden, 2);

interface Tuned { tensors: { data: Float32Array; grad: Float32Array }[]; weight(g: Graph, local: string): Var; input?: (g: Graph, local: string, x: Var) => Var }
function intSetup(): Tuned {
  const qp = new Map(shapes.map(([n, o, i]) => [n, new QdqParams(weights.get(n)!, o, i, { bits: 4, groupSize: 128, sym: true })]));
  return { tensors: [...qp.values()].flatMap((q) => q.params().map((p) => ({ data: p.data, grad: p.grad }))), weight: (g, l) => qdqVar(g, weights.get(l)!, qp.get(l)!) };
}
function mxSetup(): Tuned {
  const s = presetScheme('MXFP4');
  const fp = new Map(shapes.map(([n, o, i]) => [n, new FpParams(s, o, i, true)]));
  const act = activationQdqOf(new Map(shapes.map(([n]) => [n, { scheme: s, actMax: undefined }])))!;
  return {
    tensors: [...fp.values()].flatMap((p) => [{ data: p.v, grad: p.vGrad }, { data: p.beta!, grad: p.betaGrad! }]),
    weight: (g, l) => fpQdqVar(g, weights.get(l)!, fp.get(l)!),
    input: (g, l, v) => g.straightThrough(v, (xd, out) => out.set(act(l, xd, v.shape[0]!, v.shape[1]!))),
  };
}
function iterate(t: Tuned, label: string): number {
  const g = new Graph(be);
  const inject = { weight: (gg: Graph, local: string) => t.weight(gg, local), ...(t.input ? { input: t.input } : {}) };
  let best = Infinity;
  for (let it = 0; it <= iters; it++) {
    const t0 = performance.now();
    for (const p of t.tensors) p.grad.fill(0);
    g.reset();
    const y = llamaBlockGraph(g, g.input(x, [B * T, hidden]), dims, blockW, { cos, sin, rotDim: D }, inject, B, T);
    const l = g.mse(y, target);
    g.backward(g.scale(l, 1000));
    for (const p of t.tensors) for (let i = 0; i < p.data.length; i++) p.data[i] = Math.fround(p.data[i]! - 5e-3 * Math.sign(p.grad[i]!));
    const s = (performance.now() - t0) / 1000;
    if (it > 0) best = Math.min(best, s); // iteration 0 warms the arena up
    console.log(`  ${label} iteration ${it}: ${s.toFixed(3)} s (load ${load()})`);
  }
  return best;
}
console.log(`\nSignRound iteration: LLaMA block hidden ${hidden}, ffn ${inter}, ${H}/${KV} heads of ${D}, batch ${B} × ${T}`);
const tInt = iterate(intSetup(), 'int W4 g128');
setFpQdqKernel(null);
const tMxTs = iterate(mxSetup(), 'MXFP4 W4A4 (TypeScript fp QDQ)');
setFpQdqKernel(nativeFp);
const tMx = iterate(mxSetup(), 'MXFP4 W4A4 (native fp QDQ)');
console.log(`| iteration | best s | vs int |\n|---|---:|---:|\n| int W4 g128 (weights) | ${tInt.toFixed(3)} | 1.00 |`);
console.log(`| MXFP4 weights + MXFP4 activations, TypeScript fp QDQ | ${tMxTs.toFixed(3)} | ${(tMxTs / tInt).toFixed(2)} |`);
console.log(`| MXFP4 weights + MXFP4 activations, native fp QDQ | ${tMx.toFixed(3)} | ${(tMx / tInt).toFixed(2)} |`);
console.log(`load average at the end: ${load()}`);
