// The GGUF quality table of issue #5: perplexity of GGUF files written by the whole pipeline
// (`--format gguf:<type>`), read back from the file itself (every tensor dequantized, embeddings
// and output included), for several file types, with plain RTN (--disable_opt_rtn), with the
// importance matrix collected on calibration text (optimized RTN, the original's --iters 0
// default) and tuned (--iters > 0). Beside perplexity, the KL divergence of each file's next-token
// distributions from the fp32 model's on the same tokens, and how often both rank the same token
// first (llama-perplexity --kl-divergence): near fp32, perplexity differences drop below its noise.
//   npm run gguf-table -- --preset stories|llama256 [--types F16,Q8_0,Q4_0,Q4_K_M,Q3_K_M,Q2_K_S]
//                         [--methods rtn,imatrix,tuned (default: all three; also tuned-v2 = tuned with --enable_alg_ext,
//                          tuned-adam = tuned with --enable_adam, tuned-lfq = tuned with --enable_lfq,
//                          tuned-nb = tuned with --enable_norm_bias_tuning)]
//                         [--nsamples 128] [--seqlen 256] [--iters 200] [--nblocks 1 (blocks tuned as one)]
//                         [--max_tokens N] [--seed 42 (calibration sampling)] [--verbose]
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AutoRound, PerplexityBench, createLogger, silentLogger } from '@autoround/autoround';
import type { WeightSource } from '@autoround/core';
import { KlDivergence } from '@autoround/eval';
import signround from '@autoround/algo-signround';
import { readConfig } from '@autoround/core';
import gguf, { ggufFileOf, readGgufWeights } from '@autoround/export-gguf';

const SHARED = resolve(import.meta.dirname, '../../../shared');
const arg = (k: string, d?: string) => (process.argv.includes(`--${k}`) ? process.argv[process.argv.indexOf(`--${k}`) + 1] : d);

interface Preset {
  model: string;
  calib: (dir: string) => string;
  evalText: () => string;
  maxTokens?: number;
}

const TINYSTORIES = join(SHARED, 'datasets/tinystories/TinyStories-validation-sample.txt');
const PRESETS: Record<string, Preset> = {
  stories: {
    model: join(SHARED, 'models/stories260K'),
    calib: (dir) => {
      const f = join(dir, 'calib.txt');
      writeFileSync(f, readFileSync(TINYSTORIES, 'utf8').slice(0, 600_000));
      return `${f}:concat`;
    },
    evalText: () => readFileSync(TINYSTORIES, 'utf8').slice(600_000),
  },
  llama256: {
    model: join(SHARED, 'models/llama-256'),
    calib: () => join(SHARED, 'datasets/calibration/c4_sample_1480.text.jsonl'),
    // 100,000 scored tokens need ~225k characters; tokenizing the whole file would only cost time
    evalText: () => readFileSync(join(SHARED, 'datasets/wikitext-2-raw/wiki.test.raw'), 'utf8').slice(0, 400_000),
    maxTokens: 100_000,
  },
};

/** Types whose quantizers ignore an importance matrix (and for which --iters 0 runs plain RTN). */
const NO_IMATRIX = new Set(['F32', 'F16', 'BF16', 'Q8_0']);

const presetName = arg('preset', 'stories')!;
const preset = PRESETS[presetName];
if (!preset) throw new Error(`unknown preset ${presetName}; known: ${Object.keys(PRESETS).join(', ')}`);
const types = (arg('types') ?? 'F16,Q8_0,Q4_0,Q4_K_M,Q3_K_M,Q2_K_S').split(',').map((t) => t.trim().toUpperCase());
const methods = (arg('methods') ?? 'rtn,imatrix,tuned').split(',');
const iters = Number(arg('iters', '200'));
const nblocks = Number(arg('nblocks', '1'));
const nsamples = Number(arg('nsamples', '128'));
const seqlen = Number(arg('seqlen', '256'));
const maxTokens = arg('max_tokens') ? Number(arg('max_tokens')) : preset.maxTokens;
const verbose = process.argv.includes('--verbose');
const work = mkdtempSync(join(tmpdir(), 'gguf-table-'));

interface Row {
  type: string;
  method: string;
  ppl: number;
  tokens: number;
  kld?: number;
  sameTop?: number;
  mb?: number;
  seconds: number;
  note?: string;
}
const rows: Row[] = [];
try {
  const dataset = preset.calib(work);
  let bench: PerplexityBench | undefined;
  let kl: KlDivergence | undefined;
  const byType = new Map<string, Record<string, number>>();
  for (const type of types) {
    for (const method of methods) {
      if (method === 'imatrix' && NO_IMATRIX.has(type)) {
        const rtn = rows.find((r) => r.type === type && r.method === 'rtn');
        if (rtn) {
          rows.push({ ...rtn, method, seconds: 0, note: 'the type ignores an importance matrix: same file as rtn' });
          console.error(`${type} ${method}: same as rtn`);
          continue;
        }
      }
      const t0 = Date.now();
      const ar = new AutoRound(preset.model, {
        dataset,
        nsamples,
        seqlen,
        seed: Number(arg('seed', '42')),
        batchSize: 8,
        iters: method.startsWith('tuned') ? iters : 0,
        enableAlgExt: method === 'tuned-v2',
        enableAdam: method === 'tuned-adam',
        enableLfq: method === 'tuned-lfq',
        enableNormBiasTuning: method === 'tuned-nb',
        nblocks,
        disableOptRtn: method === 'rtn',
        log: verbose ? createLogger('info') : silentLogger,
        // the table measures every method's perplexity itself, bad ones included; seconds are the run's own
        skipSanityCheck: true,
        discoverPlugins: false,
        plugins: [signround, gguf],
      });
      const out = join(work, `${type}-${method}`);
      await ar.quantizeAndSave(out, { format: `gguf:${type.toLowerCase()}` });
      const seconds = (Date.now() - t0) / 1000;
      const lm = await ar.load();
      const modelOf = async (w: WeightSource) => (await ar.registry()).architecture(lm.spec.architecture, lm.dir).load(lm.spec, w, await ar.backend());
      if (!bench) {
        bench = new PerplexityBench(await ar.registry(), lm, await ar.backend(), preset.evalText(), { seqlen, ...(maxTokens ? { maxTokens } : {}) });
        const fp = bench.run(lm.checkpoint);
        const bos = bench.tokenizer.bosTokenId;
        kl = new KlDivergence(await modelOf(lm.checkpoint), bench.ids, { seqlen, ...(bos !== undefined ? { bosTokenId: bos } : {}), ...(maxTokens ? { maxTokens } : {}) });
        rows.push({ type: 'fp32', method: '-', ppl: fp.perplexity, tokens: fp.tokens, seconds: 0 });
        console.error(`fp32 ${fp.perplexity.toFixed(4)} (${fp.tokens} tokens)`);
      }
      const file = ggufFileOf(out, readConfig(out));
      const weights = readGgufWeights(file);
      const r = bench.run(weights);
      const k = kl!.compare(await modelOf(weights));
      const row: Row = { type, method, ppl: r.perplexity, tokens: r.tokens, kld: k.kld, sameTop: k.sameTop, mb: statSync(file).size / 1e6, seconds };
      rows.push(row);
      byType.set(type, { ...byType.get(type), [method]: r.perplexity });
      console.error(`${type} ${method} ${r.perplexity.toFixed(4)} KLD ${k.kld.toFixed(6)} same top ${(100 * k.sameTop).toFixed(2)}% (${row.mb!.toFixed(2)} MB, quantized in ${seconds.toFixed(1)} s)`);
      rmSync(out, { recursive: true, force: true });
    }
  }
  const fp = rows[0]!;
  console.log(`\n${preset.model}: perplexity of the GGUF file read back, ${fp.tokens} tokens scored in windows of BOS + ${seqlen - 1}; calibration ${nsamples} x ${seqlen}${methods.some((m) => m.startsWith('tuned')) ? `, iters ${iters}${nblocks > 1 ? `, nblocks ${nblocks}` : ''}` : ''}`);
  console.log('| file type | method | perplexity | vs fp32 | vs rtn | KLD vs fp32 | same top % | file MB | quantize s |\n|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const rtn = byType.get(r.type)?.rtn;
    const kld = r.kld !== undefined ? r.kld.toFixed(6) : '';
    const top = r.sameTop !== undefined ? (100 * r.sameTop).toFixed(2) : '';
    console.log(`| ${r.type} | ${r.method}${r.note ? ' (=rtn)' : ''} | ${r.ppl.toFixed(4)} | ${r.type === 'fp32' ? '' : (r.ppl / fp.ppl).toFixed(4)} | ${rtn && r.method !== 'rtn' ? (r.ppl / rtn).toFixed(4) : ''} | ${kld} | ${top} | ${r.mb?.toFixed(2) ?? ''} | ${r.seconds ? r.seconds.toFixed(1) : ''} |`);
  }
  for (const r of rows) console.log(JSON.stringify({ table: 'gguf', preset: presetName, ...r }));
} finally {
  rmSync(work, { recursive: true, force: true });
}
