// The comparison models of docs/formats/onnx.md#figures, written through the exporter's own folder writer:
//   npm run onnx-convert -- --model DIR --out DIR --recipe fp32|tjs-q4|tjs-q2
// fp32: the unquantized model (MatMul everywhere). tjs-q4 / tjs-q2: transformers.js's conversion recipe, reproduced
// here: onnxruntime's MatMul4BitsQuantizer default (RTN, symmetric, block 32, float32 scales), which rounds each block
// of a linear weight along K as MLAS's blockwise quantizer does: scale = (the block's value of largest magnitude) / −2^(b−1),
// code = clamp(roundf(w · (1/scale)) + 2^(b−1), 0, 2^b − 1), zero point 2^(b−1). It quantizes the same linears our runs
// do (the block linears; lm_head stays float32) so that only the rounding differs.
import { join, resolve } from 'node:path';
import { Checkpoint } from '@autoround/core-tensor';
import { completeScheme, type QuantizedWeight, readConfig } from '@autoround/core';
import { writeOnnxFolder } from '@autoround/export-onnx';

const arg = (k: string, d?: string) => (process.argv.includes(`--${k}`) ? process.argv[process.argv.indexOf(`--${k}`) + 1] : d);
const model = resolve(arg('model') ?? '');
const out = resolve(arg('out') ?? '');
const recipe = arg('recipe', 'fp32')!;
const blockSize = Number(arg('block_size', '32'));

/** MLAS's symmetric blockwise RTN (onnxruntime's MatMulNBits quantizer), for one [N, K] weight. */
export function mlasSymmetricRtn(w: Float32Array, N: number, K: number, bits: number, bs: number): QuantizedWeight {
  const nb = Math.ceil(K / bs);
  const mid = 1 << (bits - 1);
  const maxq = (1 << bits) - 1;
  const codes = new Uint8Array(N * K);
  const scales = new Float32Array(N * nb);
  const zeros = new Int32Array(N * nb).fill(mid);
  const qdq = new Float32Array(N * K);
  // std::roundf: halves away from zero
  const roundf = (x: number) => Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < nb; b++) {
      const lo = n * K + b * bs;
      const hi = n * K + Math.min(K, (b + 1) * bs);
      let vmin = 0;
      let vmax = 0;
      for (let i = lo; i < hi; i++) {
        vmin = Math.min(vmin, w[i]!);
        vmax = Math.max(vmax, w[i]!);
      }
      const big = Math.abs(vmax) > Math.abs(vmin) ? vmax : vmin;
      const scale = Math.fround(big / -mid);
      const recip = scale !== 0 ? Math.fround(1 / scale) : 0;
      scales[n * nb + b] = scale;
      for (let i = lo; i < hi; i++) {
        const c = Math.min(maxq, Math.max(0, roundf(Math.fround(w[i]! * recip)) + mid));
        codes[i] = c;
        qdq[i] = Math.fround((c - mid) * scale);
      }
    }
  }
  return { scheme: completeScheme({ bits, group_size: bs, sym: true, data_type: 'int' }), shape: [N, K], groupSize: bs, qdq, codes, scales, zeros };
}

const config = readConfig(model);
const ck = Checkpoint.open(model);
const bits = recipe === 'tjs-q4' ? 4 : recipe === 'tjs-q2' ? 2 : recipe === 'fp32' ? 0 : NaN;
if (Number.isNaN(bits)) throw new Error(`--recipe fp32, tjs-q4 or tjs-q2, not ${recipe}`);
const isBlockLinear = (n: string) => /^model\.layers\.\d+\.(self_attn|mlp)\.[a-z_]+_proj$/.test(n);
const quant = new Map<string, QuantizedWeight>();
const t0 = Date.now();
const written = writeOnnxFolder(
  out,
  model,
  config,
  {
    float: (n) => (ck.has(n) ? { data: ck.read(n).toFloat32().data as Float32Array, shape: ck.info(n).shape } : undefined),
    quantized: (layer) => {
      if (!bits || !isBlockLinear(layer) || !ck.has(`${layer}.weight`)) return undefined;
      let q = quant.get(layer);
      if (!q) {
        const t = ck.read(`${layer}.weight`).toFloat32();
        const [N, K] = t.shape as [number, number];
        q = mlasSymmetricRtn(t.data as Float32Array, N, K, bits, blockSize);
        quant.set(layer, q);
      }
      return q;
    },
  },
  bits === 4 ? 'q4' : bits === 2 ? 'q2' : 'fp32',
  { accuracyLevel: 0, externalData: 'auto' },
);
console.log(`wrote ${written.map((f) => f.replace(out + '/', '')).join(', ')} to ${out} (${recipe}, ${quant.size} linears quantized, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
console.log(JSON.stringify({ recipe, out: join(out), quantized: quant.size }));
