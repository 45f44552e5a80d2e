// node tools/bench/native/attn-bits.cjs OLD.node NEW.node: bit identity of the fused attention between two addon builds
// (docs/perf/signround-iteration.md, "QDQ and attention loops").
// Bit identity of the fused attention between two addon builds over odd shapes, masks, dead rows, NaN.
const [, , aPath, bPath] = process.argv;
const A = require(aPath), Bm = require(bPath);
let seed = 7;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296 - 0.5);
const arr = (n, s) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = rnd() * s; return a; };
let bad = 0, n = 0, payload = 0;
for (const [B, T, H, KV, D] of [[1, 100, 4, 2, 72], [2, 37, 2, 2, 8], [1, 129, 6, 3, 64], [2, 64, 4, 1, 128], [1, 17, 2, 1, 24], [1, 300, 2, 2, 80], [1, 33, 1, 1, 256]])
  for (const causal of [true, false])
    for (const maskKind of ['none', 'mask', 'dead', 'nan'])
      for (const th of [1, 2, 3]) {
        const q = arr(B * T * H * D, 3), k = arr(B * T * KV * D, 3), v = arr(B * T * KV * D, 2), gout = arr(B * T * H * D, 1);
        let mask = null;
        if (maskKind !== 'none' && maskKind !== 'nan') {
          mask = new Float32Array(B * T * T);
          for (let i = 0; i < mask.length; i++) mask[i] = rnd() < -0.3 ? -Infinity : rnd();
          if (maskKind === 'dead') for (let j = 0; j < T; j++) mask[(B * T - 1) * T + j] = mask[3 * T + j] = -Infinity;
        }
        if (maskKind === 'nan') { q[5] = NaN; k[D + 3] = Infinity; v[2 * D] = NaN; gout[7] = -Infinity; }
        const go = (m) => {
          const out = new Float32Array(B * T * H * D), lse = new Float32Array(B * H * T);
          const gq = new Float32Array(q.length).fill(0.25), gk = new Float32Array(k.length), gv = new Float32Array(v.length);
          m.attention(q, k, v, out, lse, null, null, null, null, mask, [B, T, H, KV, D], causal, 1 / Math.sqrt(D), th, false);
          m.attention(q, k, v, out, lse, gout, gq, gk, gv, mask, [B, T, H, KV, D], causal, 1 / Math.sqrt(D), th, true, 6);
          return [out, lse, gq, gk, gv];
        };
        const x = go(A), y = go(Bm);
        n++;
        const canon = (o) => { const c = Float32Array.from(o); for (let e = 0; e < c.length; e++) if (c[e] !== c[e]) c[e] = NaN; return Buffer.from(c.buffer); };
        const exact = x.every((o, i) => Buffer.compare(Buffer.from(o.buffer), Buffer.from(y[i].buffer)) === 0);
        if (!exact) payload++;
        const ok = x.every((o, i) => Buffer.compare(canon(o), canon(y[i])) === 0);
        if (!ok) { bad++; console.log('DIFFER', { B, T, H, KV, D, causal, maskKind, th }); }
      }
console.log(`${n} cases, ${bad} differ (NaN canonicalized), ${payload} differ in bytes`);
