// The quality table of issue #15: fp32, RTN and SignRound perplexities of the floating-point and W8A8 presets,
// weights and activations quantized as the presets define them, evaluated in memory (docs/quality.md).
//   npm run fp-table -- --preset stories|llama256 [--schemes MXFP4,NVFP4] [--methods rtn,opt,signround]
//                       [--iters 200] [--nsamples 128] [--seqlen 256] [--verbose]
// rtn = --iters 0 --disable_opt_rtn (NVFP4 and FP8_STATIC still calibrate their static activation ranges);
// opt = --iters 0 (the MX/NVFP4 scale search); signround = --iters N.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AutoRound, PerplexityBench, createLogger, silentLogger } from '@autoround/autoround';
import signround from '@autoround/algo-signround';
import { fpQdqKernel } from '@autoround/core-tensor';

const SHARED = resolve(import.meta.dirname, '../../../shared');
const arg = (k: string, d?: string) => (process.argv.includes(`--${k}`) ? process.argv[process.argv.indexOf(`--${k}`) + 1] : d);

const PRESETS: Record<string, { model: string; calib: (dir: string) => string; evalText: () => string; maxTokens?: number }> = {
  stories: {
    model: join(SHARED, 'models/stories260K'),
    calib: (dir) => {
      const f = join(dir, 'calib.txt');
      writeFileSync(f, readFileSync(join(SHARED, 'datasets/tinystories/TinyStories-validation-sample.txt'), 'utf8').slice(0, 600_000));
      return `${f}:concat`;
    },
    evalText: () => readFileSync(join(SHARED, 'datasets/tinystories/TinyStories-validation-sample.txt'), 'utf8').slice(600_000),
  },
  llama256: {
    model: join(SHARED, 'models/llama-256'),
    calib: () => join(SHARED, 'datasets/calibration/c4_sample_1480.text.jsonl'),
    evalText: () => readFileSync(join(SHARED, 'datasets/wikitext-2-raw/wiki.test.raw'), 'utf8'),
    maxTokens: Math.ceil(100_000 / 255) * 255,
  },
};

const presetName = arg('preset', 'stories')!;
const preset = PRESETS[presetName];
if (!preset) throw new Error(`unknown preset; known: ${Object.keys(PRESETS).join(', ')}`);
const schemes = (arg('schemes') ?? 'MXFP4,MXFP4_RCEIL,MXFP8,NVFP4,FPW8A16,FP8_STATIC,INT8').split(',');
const methods = (arg('methods') ?? 'rtn,signround').split(',');
const iters = Number(arg('iters', '200'));
const nsamples = Number(arg('nsamples', '128'));
const seqlen = Number(arg('seqlen', '256'));
const verbose = process.argv.includes('--verbose');
const work = mkdtempSync(join(tmpdir(), 'fp-table-'));
const rows: { scheme: string; method: string; ppl: number; seconds: number }[] = [];
try {
  const dataset = preset.calib(work);
  let bench: PerplexityBench | undefined;
  for (const scheme of schemes) {
    for (const method of methods) {
      const t0 = Date.now();
      const ar = new AutoRound(preset.model, {
        scheme, dataset, nsamples, seqlen, seed: 42, batchSize: 8,
        iters: method === 'signround' ? iters : 0,
        disableOptRtn: method === 'rtn',
        log: verbose ? createLogger('info') : silentLogger,
        skipSanityCheck: true,
        discoverPlugins: false,
        plugins: [signround],
      });
      const res = await ar.quantizeAndSave(join(work, `${scheme}-${method}`), { format: 'fake', keepQdq: true });
      const seconds = (Date.now() - t0) / 1000;
      if (!bench) {
        bench = new PerplexityBench(await ar.registry(), await ar.load(), await ar.backend(), preset.evalText(), { seqlen, ...(preset.maxTokens ? { maxTokens: preset.maxTokens } : {}) });
        const r = bench.run((await ar.load()).checkpoint);
        rows.push({ scheme: 'fp32', method: '-', ppl: r.perplexity, seconds: 0 });
        console.error(`fp32 ${r.perplexity.toFixed(4)} (${r.tokens} tokens); native fp QDQ kernel: ${fpQdqKernel() ? 'yes' : 'no'}`);
      }
      const ppl = bench.runQuantized(res.qdq, res.tensors).perplexity;
      rows.push({ scheme, method, ppl, seconds });
      console.error(`${scheme} ${method} ${ppl.toFixed(4)} (${seconds.toFixed(1)} s)`);
      rmSync(join(work, `${scheme}-${method}`), { recursive: true, force: true });
    }
  }
  console.log(`\n${preset.model}: perplexity, windows of BOS + ${seqlen - 1} tokens; calibration ${nsamples} × ${seqlen}, iters ${iters}`);
  console.log('| scheme | method | perplexity | vs fp32 | quantize s |\n|---|---|---:|---:|---:|');
  const fp = rows[0]?.ppl ?? NaN;
  for (const r of rows) console.log(`| ${r.scheme} | ${r.method} | ${r.ppl.toFixed(4)} | ${(r.ppl / fp).toFixed(4)} | ${r.seconds.toFixed(1)} |`);
  for (const r of rows) console.log(JSON.stringify({ table: 'fp', preset: presetName, iters, nsamples, ...r }));
} finally {
  rmSync(work, { recursive: true, force: true });
}
