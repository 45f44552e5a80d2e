// Prints a perplexity table for one model: fp32 and RTN at several bit widths, sym and asym.
//   npm run ppl-table -- --model ../shared/models/stories260K --text FILE [--group_size 32] [--bits 4,3,2]
//                        [--eval_seqlen 512] [--max_tokens N] [--backend native]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoRound, PerplexityBench, readText, silentLogger } from '@autoround/autoround';

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const model = arg('model');
const textFile = arg('text');
if (!model || !textFile) {
  console.error('usage: npm run ppl-table -- --model DIR --text FILE [--group_size 32] [--bits 4,3,2] [--eval_seqlen 512] [--max_tokens N]');
  process.exit(2);
}
const gs = Number(arg('group_size', '32'));
const bitsList = arg('bits', '4,3,2')!.split(',').map(Number);
const seqlen = Number(arg('eval_seqlen', '512'));
const maxTokens = arg('max_tokens') ? Number(arg('max_tokens')) : undefined;
const backend = arg('backend');
const work = mkdtempSync(join(tmpdir(), 'ppl-table-'));
const rows: { variant: string; ppl: number; tokens: number }[] = [];
try {
  let bench: PerplexityBench | undefined;
  const t0 = Date.now();
  for (const sym of [false, true]) {
    for (const bits of bitsList) {
      const ar = new AutoRound(model, { bits, groupSize: gs, sym, iters: 0, disableOptRtn: true, log: silentLogger, skipSanityCheck: true, ...(backend ? { backend } : {}) });
      const res = await ar.quantizeAndSave(join(work, `${bits}-${sym}`), { format: 'fake', keepQdq: true });
      if (!bench) {
        bench = new PerplexityBench(await ar.registry(), await ar.load(), await ar.backend(), readText(textFile), { seqlen, ...(maxTokens ? { maxTokens } : {}) });
        const fp = bench.run((await ar.load()).checkpoint);
        rows.push({ variant: 'fp32', ppl: fp.perplexity, tokens: fp.tokens });
      }
      const q = bench.runQuantized(res.qdq);
      rows.push({ variant: `RTN W${bits}G${gs} ${sym ? 'sym' : 'asym'}`, ppl: q.perplexity, tokens: q.tokens });
    }
  }
  console.log(`\nperplexity of ${model} on ${textFile} (${rows[0]!.tokens} tokens scored, windows of BOS + ${seqlen - 1}), ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  console.log('| variant | perplexity |\n|---|---:|');
  for (const r of rows) console.log(`| ${r.variant} | ${r.ppl.toFixed(3)} |`);
  for (const r of rows) console.log(JSON.stringify({ table: 'ppl', model, variant: r.variant, ppl: r.ppl, tokens: r.tokens, seqlen }));
} finally {
  rmSync(work, { recursive: true, force: true });
}
