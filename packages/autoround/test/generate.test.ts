// generate (docs/generate.md): greedy decoding with the architecture's KV cache equals an independent float64
// reference's greedy continuation (@autoround/testing's ReferenceLlama), from the source folder and from each
// exported folder's read-back weights (the same readers `auto-round eval` uses); sampling is seeded.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import gguf from '@autoround/export-gguf';
import { AutoRound, type Registry, type KernelBackend, generateFromFolder, openModel, silentLogger, weightsOf, sampleRow, argmaxRow } from '../src/index.js';
import { HAS_SHARED, LLAMA256, STORIES, ReferenceLlama, type ReferenceLlamaConfig, mulberry32, needsShared, referenceGreedy, tempDir, thrown } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

const N = 40;
/** A reference step whose top-2 logit gap is below this is a near tie float32 may break either way. */
const TIE = 1e-4;

/** The reference's greedy continuation on the weights `auto-round eval` would read from `dir`. */
function reference(registry: Registry, dir: string, promptIds: number[], eos: number | undefined): { ids: number[]; gaps: number[] } {
  const model = openModel(registry, dir);
  try {
    const ws = weightsOf(registry, model);
    const read = (n: string) => (ws.has(n) ? ws.readFloat32(n).data : undefined);
    const ref = new ReferenceLlama(model.config as unknown as ReferenceLlamaConfig, read, 'model.', 'lm_head.weight', ws.separateOutput === true);
    return referenceGreedy(ref, promptIds, N, eos);
  } finally {
    model.checkpoint.close();
  }
}

/** Our ids equal the reference's up to its first near tie (and that tie, if any, comes late enough to mean something). */
function expectSameGreedy(label: string, got: number[], want: { ids: number[]; gaps: number[] }, report: string[]): void {
  const tie = want.gaps.findIndex((g) => g < TIE);
  const upto = tie < 0 ? want.ids.length : tie;
  expect(got.slice(0, upto), label).toEqual(want.ids.slice(0, upto));
  if (tie < 0) expect(got, label).toEqual(want.ids);
  expect(upto, `${label}: a near tie at step ${tie}`).toBeGreaterThanOrEqual(16);
  report.push(`${label}: ${upto}/${want.ids.length} greedy tokens equal the float64 reference${tie < 0 ? '' : ` (near tie at step ${tie})`}`);
}

const report: string[] = [];
afterAll(() => {
  if (report.length) console.log(report.join('\n'));
});

for (const [name, src, prompt] of [
  ['stories260K', STORIES, 'Once upon a time, there was a little girl named Lily.'],
  ['llama-256', LLAMA256, 'Once upon a time'],
] as const) {
  describe.skipIf(!HAS_SHARED)(needsShared(`generate on ${name}: greedy equals the float64 reference`), () => {
    let registry: Registry;
    let backend: KernelBackend;
    const ints = join(work.dir, `${name}-int`);
    const ggufDir = join(work.dir, `${name}-gguf`);
    beforeAll(async () => {
      const base = { iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false, plugins: [gguf], skipSanityCheck: true };
      const ar = new AutoRound(src, { ...base, scheme: 'W4A16', groupSize: 32 });
      await ar.quantizeAndSave(ints, { format: ['auto_round', 'auto_gptq', 'auto_awq', 'llm_compressor', 'fake'] });
      await new AutoRound(src, base).quantizeAndSave(ggufDir, { format: 'gguf:q4_k_m' });
      registry = await ar.registry();
      backend = await ar.backend();
    }, 120_000);

    it('from the source folder and from every exported folder', () => {
      const folders: [string, string][] = [
        ['source', src],
        ...['auto_round', 'auto_gptq', 'auto_awq', 'llm_compressor', 'fake'].map((f): [string, string] => [f, join(ints, f)]),
        ['gguf:q4_k_m', ggufDir],
      ];
      for (const [label, dir] of folders) {
        const r = generateFromFolder(registry, dir, backend, prompt, { maxNewTokens: N });
        if (name === 'stories260K') {
          const gen = JSON.parse(readFileSync(join(STORIES, 'reference/reference_generation.json'), 'utf8')) as { input_ids: number[]; greedy_ids: number[] };
          expect(r.promptIds).toEqual(gen.input_ids);
          // the story the original llama2.c weights tell (shared/models/stories260K/reference)
          if (label === 'source') expect(r.ids).toEqual(gen.greedy_ids.slice(gen.input_ids.length, gen.input_ids.length + N));
        }
        const want = reference(registry, dir, r.promptIds, 2);
        expectSameGreedy(`${name} ${label}`, r.ids, want, report);
        expect(r.stoppedAtEos).toBe(r.ids.at(-1) === 2);
      }
    }, 300_000);

    it('sampling: a seed gives the same tokens, another seed other tokens, and temperature → 0 tends to greedy', () => {
      const a = generateFromFolder(registry, src, backend, prompt, { maxNewTokens: 24, temperature: 1, seed: 7 });
      const b = generateFromFolder(registry, src, backend, prompt, { maxNewTokens: 24, temperature: 1, seed: 7 });
      const c = generateFromFolder(registry, src, backend, prompt, { maxNewTokens: 24, temperature: 1, seed: 8 });
      expect(b.ids).toEqual(a.ids);
      expect(c.ids).not.toEqual(a.ids);
      const greedy = generateFromFolder(registry, src, backend, prompt, { maxNewTokens: 24 });
      const cold = generateFromFolder(registry, src, backend, prompt, { maxNewTokens: 24, temperature: 1e-4, seed: 7 });
      expect(cold.ids).toEqual(greedy.ids);
    });

    it('bad options name their flag', () => {
      expect(thrown(() => generateFromFolder(registry, src, backend, prompt, { maxNewTokens: 0 })).message).toMatch(/--max_new_tokens/);
      expect(thrown(() => generateFromFolder(registry, src, backend, prompt, { maxNewTokens: 4, temperature: -1 })).message).toMatch(/--temperature/);
      expect(thrown(() => generateFromFolder(registry, src, backend, prompt, { maxNewTokens: 100_000 })).message).toMatch(/max_position_embeddings/);
    });
  });
}

describe('sampleRow', () => {
  it('draws each token with its softmax(logits / T) probability (float64 inverse CDF)', () => {
    const logits = Float32Array.of(0, 1, 2, -1);
    const T = 0.7;
    const p = [...logits].map((l) => Math.exp(l / T));
    const z = p.reduce((s, x) => s + x, 0);
    const counts = [0, 0, 0, 0];
    const r = mulberry32(3);
    const n = 40_000;
    for (let i = 0; i < n; i++) counts[sampleRow(logits, 0, 4, T, r())]!++;
    for (let i = 0; i < 4; i++) expect(Math.abs(counts[i]! / n - p[i]! / z)).toBeLessThan(0.01);
    // the CDF boundaries exactly: u just below the first token's mass picks token 0, at it token 1
    expect(sampleRow(logits, 0, 4, T, 0)).toBe(0);
    expect(sampleRow(logits, 0, 4, T, 0.999999)).toBe(3);
    expect(argmaxRow(Float32Array.of(1, 3, 3, 2), 0, 4)).toBe(1);
  });
});
