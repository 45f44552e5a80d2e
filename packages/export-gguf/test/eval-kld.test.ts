// `auto-round eval --eval_kld_base` on a GGUF folder: folderKlDivergence reads the file through the
// gguf plugin and gives the numbers of tools/quality/gguf-table (KlDivergence against the fp32 model,
// perplexity of the file read back).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, PerplexityBench, folderKlDivergence, silentLogger } from '@autoround/autoround';
import type { WeightSource } from '@autoround/core';
import { KlDivergence } from '@autoround/eval';
import gguf, { ggufFileOf, readConfig, readGgufWeights } from '../src/index.js';
import { HAS_SHARED, STORIES, TINYSTORIES, tempDir } from '../../../tools/testing/fixtures.js';

const work = tempDir();
afterAll(() => work.cleanup());

describe.skipIf(!HAS_SHARED)('KL divergence of a GGUF folder from its fp32 base (stories260K Q4_0, plain RTN)', () => {
  it('folderKlDivergence = the gguf-table measurement; the base against itself is 0', async () => {
    const text = readFileSync(TINYSTORIES, 'utf8').slice(-6000);
    const opts = { seqlen: 128 };
    const ar = new AutoRound(STORIES, { iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false, plugins: [gguf] });
    const out = join(work.dir, 'q4_0');
    await ar.quantizeAndSave(out, { format: 'gguf:q4_0' });
    const registry = await ar.registry();
    const backend = await ar.backend();
    const base = await ar.load();
    const model = await new AutoRound(out, { log: silentLogger, registry }).load();
    const k = folderKlDivergence(registry, model, base, backend, text, opts);
    expect(k.kld).toBeGreaterThan(0);
    expect(k.sameTop).toBeGreaterThan(0);
    expect(k.sameTop).toBeLessThanOrEqual(1);
    // as tools/quality/gguf-table measures the file
    const bench = new PerplexityBench(registry, base, backend, text, opts);
    const weights = readGgufWeights(ggufFileOf(out, readConfig(out)));
    const lm = (w: WeightSource) => registry.architecture(base.spec.architecture, base.dir).load(base.spec, w, backend);
    const t = new KlDivergence(lm(base.checkpoint), bench.ids, { seqlen: 128, bosTokenId: bench.tokenizer.bosTokenId! }).compare(lm(weights));
    expect(k.kld).toBeCloseTo(t.kld, 12);
    expect([k.sameTop, k.tokens]).toEqual([t.sameTop, t.tokens]);
    expect(k.perplexity).toBe(bench.run(weights).perplexity);
    expect(k.referencePerplexity).toBe(bench.run(base.checkpoint).perplexity);
    const self = folderKlDivergence(registry, base, base, backend, text, opts);
    expect([self.kld, self.sameTop]).toEqual([0, 1]);
    model.checkpoint.close();
  });
});
