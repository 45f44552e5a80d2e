import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@autoround/core';
import { AutoRound, PerplexityBench } from '@autoround/autoround';
import signround from '../src/index.js';
import { HAS_SHARED, TINYSTORIES, needsShared, tempDir, writeMoeFixture } from '@autoround/testing';

// RTN and SignRound on a small Mixtral (docs/models/moe.md#fixtures): llama-256's 4 trained blocks with 8 experts each, top-2
// (Mixtral keeps llama-256's attention as trained; Qwen3-MoE's q/k norms would change it)
describe.skipIf(!HAS_SHARED)(needsShared('MoE: RTN and SignRound W4G128 / W2G128'), () => {
  const work = tempDir('moe-quant-');
  const model = join(work.dir, 'mixtral');
  let calib = '';
  let text = '';
  beforeAll(() => {
    writeMoeFixture(model, { family: 'mixtral', layers: 4 });
    const all = readFileSync(TINYSTORIES, 'utf8');
    calib = join(work.dir, 'calib.txt');
    writeFileSync(calib, all.slice(0, 100_000));
    text = all.slice(-12_000);
  });
  afterAll(() => work.cleanup());

  it('SignRound is below RTN at 4 and 2 bits, and reports per block the experts tuned and fallen back', async () => {
    const lines: string[] = [];
    const log = createLogger('info', (l) => lines.push(l));
    const results: Record<string, number> = {};
    let bench: PerplexityBench | undefined;
    for (const bits of [4, 2]) {
      for (const iters of [0, 50]) {
        const ar = new AutoRound(model, {
          bits,
          groupSize: 128,
          sym: true,
          iters,
          disableOptRtn: true,
          nsamples: 32,
          seqlen: 128,
          batchSize: 4,
          dataset: `${calib}:concat`,
          log,
          discoverPlugins: false,
          plugins: [signround],
          skipSanityCheck: true,
        });
        const res = await ar.quantizeAndSave(join(work.dir, `w${bits}-${iters}`), { format: 'fake', keepQdq: true });
        bench ??= new PerplexityBench(await ar.registry(), await ar.load(), await ar.backend(), text, { seqlen: 128 });
        results.fp32 ??= bench.run((await ar.load()).checkpoint).perplexity;
        results[`W${bits}G128 ${iters === 0 ? 'RTN' : 'SignRound'}`] = bench.runQuantized(res.qdq).perplexity;
      }
    }
    console.log(JSON.stringify(results));
    expect(results['W4G128 SignRound']!).toBeLessThan(results['W4G128 RTN']!);
    expect(results['W2G128 SignRound']!).toBeLessThan(results['W2G128 RTN']!);
    const report = lines.filter((l) => /experts tuned/.test(l));
    console.log(report.join('\n'));
    // one line per sparse block and SignRound run
    expect(report.length).toBe(8);
    for (const l of report) expect(l).toMatch(/^block [0-3]: \d+ of 8 experts tuned.*; \d+ fell back to optimized RTN \(< 64 tokens\)/);
  }, 600_000);

  it('an expert below --min_expert_tokens is quantized with optimized RTN: block 0 equals the opt-RTN run byte for byte', async () => {
    const small = join(work.dir, 'mixtral-2');
    writeMoeFixture(small, { family: 'mixtral', layers: 1 });
    const lines: string[] = [];
    const log = createLogger('info', (l) => lines.push(l));
    const common = { bits: 4, groupSize: 128, nsamples: 8, seqlen: 64, batchSize: 4, dataset: `${calib}:concat`, log, discoverPlugins: false, plugins: [signround], skipSanityCheck: true };
    const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
    // every expert below the minimum (8 × 64 tokens in all): none tuned
    const sr = await new AutoRound(small, { ...common, iters: 3, algorithmOptions: { minExpertTokens: 1_000_000 } }).quantizeAndSave(join(work.dir, 'fallback'), { format: 'fake', keepQdq: true });
    const rtn = await new AutoRound(small, { ...common, iters: 0 }).quantizeAndSave(join(work.dir, 'opt-rtn'), { format: 'fake', keepQdq: true });
    const report = lines.filter((l) => /experts tuned/.test(l));
    expect(report.length).toBe(1);
    expect(report[0]).toMatch(/^block 0: 0 of 8 experts tuned; 8 fell back to optimized RTN \(< 1000000 tokens\): expert 0: \d+, 1: \d+/);
    // block 0's inputs are the embeddings in both runs, so its importance matrices are the same
    let compared = 0;
    for (const [name, q] of sr.qdq!) {
      if (!/^model\.layers\.0\..*experts/.test(name)) continue;
      expect(same(q.qdq, rtn.qdq!.get(name)!.qdq)).toBe(true);
      compared++;
    }
    expect(compared).toBe(24);
    // and the tuned attention differs from optimized RTN's
    const q0 = 'model.layers.0.self_attn.q_proj';
    expect(same(sr.qdq!.get(q0)!.qdq, rtn.qdq!.get(q0)!.qdq)).toBe(false);
  }, 600_000);
});
