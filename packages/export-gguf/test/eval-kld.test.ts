// `auto-round eval --eval_kld_base` on a GGUF folder: folderKlDivergence reads the file through the
// gguf plugin and gives the numbers of tools/quality/gguf-table (KlDivergence against the fp32 model,
// perplexity of the file read back).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, PerplexityBench, folderKlDivergence, silentLogger } from '@autoround/autoround';
import type { WeightSource } from '@autoround/core';
import { KlDivergence } from '@autoround/eval';
import { readConfig } from '@autoround/core';
import gguf, { ggufFileOf, readGgufWeights } from '../src/index.js';
import { HAS_SHARED, STORIES, TINYSTORIES, needsShared, tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

describe.skipIf(!HAS_SHARED)(needsShared('KL divergence of a GGUF folder from its fp32 base (stories260K Q4_0, plain RTN)'), () => {
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

describe.skipIf(!HAS_SHARED)(needsShared('the output matrix of a GGUF file read back (llama.cpp: output.weight whenever the file has one)'), () => {
  it('stories260K (config ties the embeddings, the checkpoint also holds lm_head.weight): logits come from output.weight, not token_embd', async () => {
    const ar = new AutoRound(STORIES, { iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false, plugins: [gguf] });
    const out = join(work.dir, 'q4_0-output');
    await ar.quantizeAndSave(out, { format: 'gguf:q4_0' });
    const registry = await ar.registry();
    const base = await ar.load();
    expect(base.spec.tiedEmbeddings).toBe(true);
    const weights = readGgufWeights(ggufFileOf(out, readConfig(out)));
    // the Q4_0 file stores token_embd as Q4_0 and output as Q8_0 (its row of 64 does not fit Q6_K)
    const types = new Map(weights.file.tensors.map((t) => [t.name, t.type]));
    expect(types.get('token_embd.weight')).not.toBe(types.get('output.weight'));
    const lm = registry.architecture(base.spec.architecture, base.dir).load(base.spec, weights, await ar.backend()) as unknown as { lmHead: Float32Array; embed: Float32Array };
    const output = weights.readFloat32('lm_head.weight').data;
    expect(lm.lmHead).toEqual(output);
    expect(lm.embed).not.toEqual(output);
    // the Hugging Face checkpoint itself stays tied: embed_tokens is the output matrix
    const fp = registry.architecture(base.spec.architecture, base.dir).load(base.spec, base.checkpoint, await ar.backend()) as unknown as { lmHead: Float32Array; embed: Float32Array };
    expect(fp.lmHead).toBe(fp.embed);
  });
});
