// node tools/bench/native/attn-ab.cjs OLD.node NEW.node [rounds] [threads]  (pin with taskset -c 0 for one thread)
// Old and new kernels-cpu addon builds side by side (docs/perf/signround-iteration.md, "QDQ and attention loops").
// A/B of the fused attention between two addon builds: CPU seconds per call and bit identity.
const [, , aPath, bPath, roundsArg] = process.argv;
const A = require(aPath), Bm = require(bPath);
const B = 8, T = 512, H = 16, KV = 8, D = 128, th = Number(process.argv[5] || 2);
let seed = 1;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296 - 0.5);
const arr = (n, s) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = rnd() * s; return a; };
const q = arr(B * T * H * D, 2), k = arr(B * T * KV * D, 2), v = arr(B * T * KV * D, 2), gout = arr(B * T * H * D, 1);
const scale = 1 / Math.sqrt(D);
const bufs = new Map();
function run(m) {
  if (!bufs.has(m)) bufs.set(m, [new Float32Array(B * T * H * D), new Float32Array(B * H * T), new Float32Array(q.length), new Float32Array(k.length), new Float32Array(v.length)]);
  const [out, lse, gq, gk, gv] = bufs.get(m);
  const c0 = process.cpuUsage();
  m.attention(q, k, v, out, lse, null, null, null, null, null, [B, T, H, KV, D], true, scale, th, false);
  const c1 = process.cpuUsage(c0);
  m.attention(q, k, v, out, lse, gout, gq, gk, gv, null, [B, T, H, KV, D], true, scale, th, true, 7);
  const c2 = process.cpuUsage(c0);
  return { f: (c1.user + c1.system) / 1e6, b: (c2.user + c2.system - c1.user - c1.system) / 1e6, outs: [out, lse, gq, gk, gv] };
}
const same = (x, y) => x.every((o, i) => Buffer.compare(Buffer.from(o.buffer), Buffer.from(y[i].buffer)) === 0);
const ra = run(A), rb = run(Bm);
console.log('bit-identical:', same(ra.outs, rb.outs));
const fa = [], fb = [], ba = [], bb = [];
for (let r = 0; r < Number(roundsArg || 5); r++) {
  const x = run(A), y = run(Bm);
  fa.push(x.f); ba.push(x.b); fb.push(y.f); bb.push(y.b);
}
const med = (a) => a.slice().sort((p, q) => p - q)[a.length >> 1];
console.log(`forward CPU s A ${med(fa).toFixed(4)} B ${med(fb).toFixed(4)} B/A ${(med(fb) / med(fa)).toFixed(3)}`);
console.log(`backward CPU s A ${med(ba).toFixed(4)} B ${med(bb).toFixed(4)} B/A ${(med(bb) / med(ba)).toFixed(3)}`);
