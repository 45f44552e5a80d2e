// AutoScheme's quality figures (issue #17, docs/autoscheme.md#figures): llama-256 calibrated on the C4 sample and
// scored on wikitext-2 test as in the SignRound table; uniform schemes against AutoScheme mixes at several budgets.
//   npm run autoscheme-table -- [--method rtn|opt-rtn|signround] [--iters 200] [--options W2A16,W4A16] [--avg_bits 3]
//                               [--uniform W3A16] [--nsamples 128] [--seqlen 256] [--cache DIR] [--seed 42] [--kl]
//                               [--eval_text wikitext|c4-heldout] [--heldout_seeds 42,1,2] [--eval_tokens N|all] [--threads N]
// --kl also reports each run's KL divergence from the float model over the same windows (one pass, both models):
// above ~3.5 bits the tuned runs' perplexities are within seed noise of fp32, and the KL still orders them.
// --score_dataset FILE scores on another dataset than the C4 calibration sample (AutoScheme's `dataset`); the value
// wikitext-tail is wiki.test.raw past the evaluated tokens (in-domain text the perplexity never reads);
// --ignore_scale_zp_bits counts weight bits only (then W2/W4 @ 3 has uniform W3's bits exactly).
// --eval_tokens N|all evaluates on N tokens of wiki.test.raw instead of the SignRound table's 100,215 (all: the whole
// test file), for figures whose differences are as small as the text's own sampling noise.
// --eval_text c4-heldout evaluates on the C4 sample records that neither SignRound's calibration nor AutoScheme's
// scoring reads (c4-heldout.ts), joined by blank lines and cut into the same windows: the calibration domain, unseen.
// The records are held out from the draws of every seed in --heldout_seeds (default: --seed; give the same list to
// the runs of every seed, 42,1,2, so that they all score the same text, which none of them calibrates on).
// --score_nsamples N scores on N samples instead of AutoScheme's default 16 (AutoScheme's `nsamples`); --save_plans DIR
// keeps each AutoScheme run's autoscheme_plan.json as DIR/plan-<avg_bits>.json (for npm run autoscheme-oracle -- --plan).
// Each row also ends up as one JSON line on stdout (for averaging seeds).
// rtn is plain round-to-nearest (--iters 0 --disable_opt_rtn), opt-rtn the optimized RTN (--iters 0). "bits" is the
// average as AutoScheme counts it (scale and zero-point bits included), for the uniform rows too.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AutoRound, PerplexityBench, createLogger, silentLogger } from '@autoround/autoround';
import { layerBits } from '@autoround/autoscheme';
import { loadTokenizer } from '@autoround/models';
import { C4_SAMPLE, c4HeldoutRecords } from './c4-heldout.js';

const SHARED = resolve(import.meta.dirname, '../../../shared');
const arg = (k: string, d?: string) => (process.argv.includes(`--${k}`) ? process.argv[process.argv.indexOf(`--${k}`) + 1] : d);
const model = join(SHARED, 'models/llama-256');
const dataset = C4_SAMPLE;
const seed = Number(arg('seed', '42'));
const nsamples = Number(arg('nsamples', '128'));
const seqlen = Number(arg('seqlen', '256'));
const scoreNsamples = arg('score_nsamples') ? Number(arg('score_nsamples')) : undefined;
const evalTextArg = arg('eval_text', 'wikitext')!;
if (!['wikitext', 'c4-heldout'].includes(evalTextArg)) throw new Error(`--eval_text ${evalTextArg}: wikitext or c4-heldout`);
/** The held-out C4 text: no record that SignRound's calibration or AutoScheme's scoring draws with any of the seeds. */
async function c4HeldoutText(): Promise<string> {
  const seeds = (arg('heldout_seeds') ?? String(seed)).split(',').map(Number);
  if (!seeds.includes(seed)) throw new Error(`--heldout_seeds ${seeds.join(',')} leaves out the run's own --seed ${seed}`);
  // AutoScheme draws its scoring samples (default 16) with the run's seed from the same file
  const draws = seeds.flatMap((s) => [{ nsamples, seqlen, seed: s }, { nsamples: scoreNsamples ?? 16, seqlen, seed: s }]);
  return (await c4HeldoutRecords(loadTokenizer(model), draws)).map((r) => r.text).join('\n\n');
}
const evalText = evalTextArg === 'wikitext' ? readFileSync(join(SHARED, 'datasets/wikitext-2-raw/wiki.test.raw'), 'utf8') : await c4HeldoutText();
const evalTokensArg = arg('eval_tokens', String(Math.ceil(100_000 / 255) * 255))!;
const maxTokens = evalTokensArg === 'all' ? undefined : Number(evalTokensArg);
if (maxTokens !== undefined && !(maxTokens >= 255)) throw new Error(`--eval_tokens ${evalTokensArg}: a number of tokens (at least 255) or all`);
const method = arg('method', 'rtn')!;
if (!['rtn', 'opt-rtn', 'signround'].includes(method)) throw new Error(`--method ${method}: rtn, opt-rtn or signround`);
const iters = method === 'signround' ? Number(arg('iters', '200')) : 0;
const options = arg('options', 'W2A16,W4A16')!;
const budgets = arg('avg_bits', '3')!.split(',').filter(Boolean).map(Number);
const uniform = (arg('uniform', 'W3A16') ?? '').split(',').filter(Boolean);
const verbose = process.argv.includes('--verbose');
const work = mkdtempSync(join(tmpdir(), 'as-table-'));
// scores are cached per option, keyed by model, data and option: a --cache folder reuses them across invocations
const cacheDir = arg('cache') ?? join(work, 'cache');
const withKl = process.argv.includes('--kl');

/** wiki.test.raw from the first line boundary (checked every 200 lines) past 110,000 tokens, one article per JSON line. */
function wikitextTail(): string {
  if (evalTextArg !== 'wikitext') throw new Error('--score_dataset wikitext-tail is for --eval_text wikitext');
  const tok = loadTokenizer(model);
  const lines = evalText.split('\n');
  let chars = 0;
  for (let i = 0; i < lines.length; i++) {
    chars += lines[i]!.length + 1;
    if (i % 200 === 0 && tok.encode(evalText.slice(0, chars)).length > 110_000) break;
  }
  if (maxTokens === undefined || tok.encode(evalText.slice(0, chars)).length <= maxTokens) throw new Error('wikitext-tail would overlap the evaluated tokens');
  const articles = evalText.slice(chars).split(/\n(?= = [^=])/).filter((p) => p.trim().length > 0);
  const file = join(work, 'wikitext-tail.jsonl');
  writeFileSync(file, articles.map((text) => JSON.stringify({ text })).join('\n') + '\n');
  return file;
}
const rows: { run: string; bits: number; ppl: number; kld?: number; sameTop?: number; seconds: number }[] = [];
let bench: PerplexityBench | undefined;
try {
  const scoreDataset = arg('score_dataset') === 'wikitext-tail' ? wikitextTail() : arg('score_dataset');
  const runs = [...uniform.map((u) => ({ run: `uniform ${u}`, scheme: u, auto: undefined as number | undefined })), ...budgets.map((b) => ({ run: `AutoScheme ${options} @ ${b}`, scheme: 'W4A16', auto: b }))];
  for (const r of runs) {
    const t0 = Date.now();
    const ar = new AutoRound(model, {
      scheme: r.scheme, dataset, nsamples, seqlen, seed, batchSize: 8, iters, disableOptRtn: method === 'rtn', ...(arg('threads') ? { threads: Number(arg('threads')) } : {}),
      ...(r.auto !== undefined ? { autoScheme: { avgBits: r.auto, options: [options], cacheDir, ...(scoreDataset ? { dataset: scoreDataset } : {}), ...(scoreNsamples !== undefined ? { nsamples: scoreNsamples } : {}), ...(process.argv.includes('--ignore_scale_zp_bits') ? { ignoreScaleZpBits: true } : {}) } } : {}),
      log: verbose ? createLogger('info') : silentLogger,
      skipSanityCheck: true,
    });
    const res = await ar.quantizeAndSave(join(work, 'out'), { format: 'fake', keepQdq: true });
    const seconds = (Date.now() - t0) / 1000;
    const loaded = await ar.load();
    if (!bench) {
      bench = new PerplexityBench(await ar.registry(), loaded, await ar.backend(), evalText, { seqlen: 256, ...(maxTokens !== undefined ? { maxTokens } : {}) });
      rows.push({ run: 'fp32', bits: 32, ppl: bench.run(loaded.checkpoint).perplexity, seconds: 0 });
    }
    let bits = 0;
    let params = 0;
    for (const b of loaded.spec.blocks) for (const l of b.linears) {
      const q = res.qdq.get(`${b.prefix}.${l.name}`);
      if (!q) continue;
      bits += layerBits(q.scheme, l.outFeatures, l.inFeatures);
      params += l.outFeatures * l.inFeatures;
    }
    const kl = withKl ? bench.compareQuantized(res.qdq, res.tensors) : undefined;
    const ppl = kl ? kl.perplexity : bench.runQuantized(res.qdq, res.tensors).perplexity;
    rows.push({ run: r.run, bits: bits / params, ppl, ...(kl ? { kld: kl.kld, sameTop: kl.sameTop } : {}), seconds });
    console.error(`${r.run}: ${(bits / params).toFixed(4)} bits, ppl ${ppl.toFixed(4)}${kl ? `, KL ${kl.kld.toFixed(6)}` : ''} (${seconds.toFixed(1)} s)`);
    const plans = arg('save_plans');
    if (plans && r.auto !== undefined) {
      mkdirSync(plans, { recursive: true });
      copyFileSync(join(work, 'out', 'autoscheme_plan.json'), join(plans, `plan-${r.auto}.json`));
    }
    rmSync(join(work, 'out'), { recursive: true, force: true });
  }
  console.log(`\nllama-256, ${method}${iters ? ` iters ${iters}` : ''}: perplexity on ${evalTextArg === 'wikitext' ? 'wiki.test.raw' : 'the held-out C4 records'} (windows of BOS + 255 tokens, ${maxTokens ?? 'all'} tokens)`);
  console.log(`| run | avg bits | perplexity |${withKl ? ' KL (nats/token) | same top |' : ''} s |\n|---|---:|---:|${withKl ? '---:|---:|' : ''}---:|`);
  for (const r of rows) {
    const kl = r.kld !== undefined ? ` ${r.kld.toFixed(6)} | ${r.sameTop!.toFixed(4)} |` : withKl ? ' | |' : '';
    console.log(`| ${r.run} | ${r.bits.toFixed(4)} | ${r.ppl.toFixed(4)} |${kl} ${r.seconds.toFixed(1)} |`);
  }
  for (const r of rows) console.log(JSON.stringify({ method, iters, seed, evalText: evalTextArg, ...r }));
} finally {
  rmSync(work, { recursive: true, force: true });
}
