// The quality table of issue #3: fp32, plain RTN, optimized RTN and SignRound perplexities for
// several schemes, next to the original AutoRound's figures measured on the same jobs.
//   npm run signround-table -- --preset stories|llama256 [--schemes W2G32asym,W4G32sym] [--iters 200]
//                              [--nsamples 128] [--seqlen 256] [--methods rtn,opt,signround,signround-v2,adam,signround-nb,signround-lfq] [--backend native]
//                              [--nblocks 1]
// signround-v2 is SignRound with --enable_alg_ext (SignRoundV2, symmetric schemes only); adam is --enable_adam (AdamRound);
// signround-nb is SignRound with --enable_norm_bias_tuning, signround-lfq with --enable_lfq.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AutoRound, PerplexityBench, createLogger, silentLogger } from '@autoround/autoround';
import signround from '@autoround/algo-signround';

const SHARED = resolve(import.meta.dirname, '../../../shared');
const arg = (k: string, d?: string) => (process.argv.includes(`--${k}`) ? process.argv[process.argv.indexOf(`--${k}`) + 1] : d);

interface Preset {
  model: string;
  calib: (dir: string) => string;
  evalText: () => string;
  maxTokens?: number;
  schemes: string[];
  /** The original's figures on this job (fp32, and per scheme: rtn, opt, signround). */
  original: Record<string, { rtn?: number; opt?: number; signround?: number }> & { fp32?: { rtn: number } };
}

const PRESETS: Record<string, Preset> = {
  stories: {
    model: join(SHARED, 'models/stories260K'),
    calib: (dir) => {
      const f = join(dir, 'calib.txt');
      writeFileSync(f, readFileSync(join(SHARED, 'datasets/tinystories/TinyStories-validation-sample.txt'), 'utf8').slice(0, 600_000));
      return `${f}:concat`;
    },
    evalText: () => readFileSync(join(SHARED, 'datasets/tinystories/TinyStories-validation-sample.txt'), 'utf8').slice(600_000),
    schemes: ['W2G32asym', 'W4G32asym', 'W4G32sym', 'W3G32asym', 'W3G32sym', 'W2G32sym'],
    original: { fp32: { rtn: 5.61 }, W2G32asym: { rtn: 25.687, signround: 6.961 }, W4G32asym: { rtn: 5.795, signround: 5.675 }, W4G32sym: { rtn: 5.736, signround: 5.658 } },
  },
  llama256: {
    model: join(SHARED, 'models/llama-256'),
    calib: () => join(SHARED, 'datasets/calibration/c4_sample_1480.text.jsonl'),
    evalText: () => readFileSync(join(SHARED, 'datasets/wikitext-2-raw/wiki.test.raw'), 'utf8'),
    // "The first 100,000 scored tokens": the original scores whole windows until it has at least 100,000,
    // i.e. 393 windows of 255 = 100,215 tokens (fp32 20.4314 = its 20.431; 100,000 exactly gives 20.4466).
    maxTokens: Math.ceil(100_000 / 255) * 255,
    schemes: ['W2G128asym', 'W3G128sym', 'W4G128sym', 'W4G32sym', 'W3G32sym', 'W2G32asym'],
    original: { fp32: { rtn: 20.431 }, W2G128asym: { rtn: 23.802, signround: 20.843 }, W3G128sym: { rtn: 20.853, opt: 20.763, signround: 20.391 }, W4G128sym: { rtn: 20.523, opt: 20.505, signround: 20.442 } },
  },
};

const preset = PRESETS[arg('preset', 'stories')!];
if (!preset) throw new Error(`unknown preset; known: ${Object.keys(PRESETS).join(', ')}`);
const schemes = arg('schemes')?.split(',') ?? preset.schemes;
const methods = (arg('methods') ?? 'rtn,opt,signround').split(',');
const iters = Number(arg('iters', '200'));
const nsamples = Number(arg('nsamples', '128'));
const seqlen = Number(arg('seqlen', '256'));
const backend = arg('backend');
const verbose = process.argv.includes('--verbose');
const work = mkdtempSync(join(tmpdir(), 'sr-table-'));
const rows: { scheme: string; method: string; ppl: number; seconds: number; original?: number }[] = [];
try {
  const dataset = preset.calib(work);
  let bench: PerplexityBench | undefined;
  for (const s of schemes) {
    const m = /^W(\d)G(\d+)(a?sym)$/.exec(s);
    if (!m) throw new Error(`scheme ${s}: expected e.g. W4G128sym`);
    const [bits, gs, sym] = [Number(m[1]), Number(m[2]), m[3] === 'sym'];
    for (const method of methods) {
      if ((method === 'opt' || method === 'signround-v2') && !sym) continue; // the original has no optimized RTN (nor SignRoundV2 init) for asym
      const t0 = Date.now();
      const ar = new AutoRound(preset.model, {
        bits, groupSize: gs, sym, dataset, nsamples, seqlen, seed: 42, batchSize: 8,
        iters: method.startsWith('signround') || method === 'adam' ? iters : 0,
        enableNormBiasTuning: method === 'signround-nb',
        enableLfq: method === 'signround-lfq',
        enableAdam: method === 'adam',
        enableAlgExt: method === 'signround-v2',
        nblocks: Number(arg('nblocks', '1')),
        disableOptRtn: method === 'rtn',
        log: verbose ? createLogger('info') : silentLogger,
        // the table measures every method's perplexity itself, bad ones included; seconds are the run's own
        skipSanityCheck: true,
        discoverPlugins: false,
        plugins: [signround],
        ...(backend ? { backend } : {}),
      });
      const res = await ar.quantizeAndSave(join(work, `${s}-${method}`), { format: 'fake', keepQdq: true });
      const seconds = (Date.now() - t0) / 1000;
      if (!bench) {
        bench = new PerplexityBench(await ar.registry(), await ar.load(), await ar.backend(), preset.evalText(), { seqlen, ...(preset.maxTokens ? { maxTokens: preset.maxTokens } : {}) });
        rows.push({ scheme: 'fp32', method: '-', ppl: bench.run((await ar.load()).checkpoint).perplexity, seconds: 0, ...(preset.original.fp32 ? { original: preset.original.fp32.rtn } : {}) });
        console.error(`fp32 ${rows[0]!.ppl.toFixed(3)}`);
      }
      const ppl = bench.runQuantized(res.qdq, res.tensors).perplexity;
      const orig = (preset.original[s] as Record<string, number> | undefined)?.[method];
      rows.push({ scheme: s, method, ppl, seconds, ...(orig !== undefined ? { original: orig } : {}) });
      console.error(`${s} ${method} ${ppl.toFixed(3)} (${seconds.toFixed(1)} s)${orig !== undefined ? ` original ${orig}` : ''}`);
      rmSync(join(work, `${s}-${method}`), { recursive: true, force: true });
    }
  }
  console.log(`\n${preset.model}: perplexity, windows of BOS + ${seqlen - 1} tokens; calibration ${nsamples} × ${seqlen}, iters ${iters}`);
  console.log('| scheme | method | ours | original | ours / original | quantize s |\n|---|---|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.scheme} | ${r.method} | ${r.ppl.toFixed(3)} | ${r.original ?? ''} | ${r.original ? (r.ppl / r.original).toFixed(4) : ''} | ${r.seconds.toFixed(1)} |`);
  for (const r of rows) console.log(JSON.stringify({ table: 'signround', preset: arg('preset', 'stories'), ...r }));
} finally {
  rmSync(work, { recursive: true, force: true });
}
