// node tools/bench/native/qdq-ab.cjs OLD.node NEW.node [rounds] [threads]  (pin with taskset -c 0 for one thread)
// (docs/perf/signround-iteration.md, "QDQ and attention loops").
// A/B of the int QDQ forward/backward between two addon builds over the bench block's seven weights: CPU s, bits.
const [, , aPath, bPath, roundsArg, thArg] = process.argv;
const A = require(aPath), Bm = require(bPath);
const th = Number(thArg || 2);
let seed = 3;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296 - 0.5);
const arr = (n, s) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = rnd() * s; return a; };
const shapes = [[2048, 1024], [1024, 1024], [1024, 1024], [1024, 2048], [3072, 1024], [3072, 1024], [1024, 3072]];
const gs = 128, qmax = 15;
const L = shapes.map(([rows, cols]) => {
  const gpr = cols / gs, ns = rows * gpr;
  const w = arr(rows * cols, 0.1), v = arr(rows * cols, 0.5), gw = arr(rows * cols, 1);
  const scale = new Float32Array(ns), zp = new Float32Array(ns);
  for (let r = 0; r < ns; r++) { scale[r] = 0.2 / qmax * (1 + rnd() * 0.2); zp[r] = Math.round(7.5 + rnd() * 2); }
  return { rows, cols, gpr, ns, w, v, gw, scale, zp };
});
const bufs = new Map();
function run(m) {
  if (!bufs.has(m)) bufs.set(m, L.map((l) => ({ out: new Float32Array(l.w.length), code: new Int16Array(l.w.length), dv: new Float32Array(l.w.length), acc: new Float64Array(4 * l.ns) })));
  const bs = bufs.get(m);
  const c0 = process.cpuUsage();
  L.forEach((l, i) => m.qdq(false, l.w, l.v, l.scale, l.zp, bs[i].code, bs[i].out, null, null, [l.rows, l.cols, gs, l.gpr, l.ns, qmax], th));
  const c1 = process.cpuUsage(c0);
  L.forEach((l, i) => { bs[i].dv.fill(0); m.qdq(true, l.w, l.v, l.scale, l.zp, bs[i].code, l.gw, bs[i].dv, bs[i].acc, [l.rows, l.cols, gs, l.gpr, l.ns, qmax], th); });
  const c2 = process.cpuUsage(c0);
  return { f: (c1.user + c1.system) / 1e6, b: (c2.user + c2.system - c1.user - c1.system) / 1e6, outs: bs };
}
const ra = run(A), rb = run(Bm);
const same = ra.outs.every((o, i) => ['out', 'code', 'dv', 'acc'].every((k) => Buffer.compare(Buffer.from(o[k].buffer), Buffer.from(rb.outs[i][k].buffer)) === 0));
console.log('bit-identical:', same);
const fa = [], fb = [], ba = [], bb = [];
for (let r = 0; r < Number(roundsArg || 5); r++) { const x = run(A), y = run(Bm); fa.push(x.f); ba.push(x.b); fb.push(y.f); bb.push(y.b); }
const med = (a) => a.slice().sort((p, q) => p - q)[a.length >> 1];
console.log(`qdq forward CPU s A ${med(fa).toFixed(4)} B ${med(fb).toFixed(4)} B/A ${(med(fb) / med(fa)).toFixed(3)}`);
console.log(`qdq backward CPU s A ${med(ba).toFixed(4)} B ${med(bb).toFixed(4)} B/A ${(med(bb) / med(ba)).toFixed(3)}`);
