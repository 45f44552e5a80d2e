// The dense families beyond LLaMA (Gemma 2, Gemma 3) through the real consumer: our F32 GGUF of each small
// fixture loaded by node-llama-cpp (prebuilt llama.cpp) scores the same perplexity as our evaluation of the
// safetensors folder. There is no llama-perplexity binary here: llama.cpp's next-token probabilities
// (controlledEvaluate, temperature 1, no top-k/top-p/min-p) are read over the same windows of the same
// token ids (BOS + seqlen − 1, as @autoround/eval cuts them) and turned into a perplexity.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, folderPerplexity, openModel, PerplexityBench, type Registry } from '@autoround/autoround';
import { evalWindows } from '@autoround/eval';
import { HAS_SHARED, TINYSTORIES, loadNodeLlamaCpp, needsShared, tempDir, type NodeLlamaCpp, writeDenseFixture } from '@autoround/testing';
import { exportGguf, readGguf } from '../src/index.js';

const { nlc } = await loadNodeLlamaCpp();
const SEQLEN = 64; // longer than the fixtures' sliding window (24)
const MAX_TOKENS = 640;

let llama: Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;
let registry: Registry;
beforeAll(async () => {
  if (nlc && HAS_SHARED) llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error });
  registry = await createRegistry({ discover: true });
});

/** Log-probabilities llama.cpp gives each scored token of `windows` (each evaluated from an empty cache). */
async function llamaCppLogProbs(file: string, windows: Int32Array[]): Promise<number[]> {
  const model = await llama.loadModel({ modelPath: file });
  try {
    const ctx = await model.createContext({ contextSize: SEQLEN, threads: 1, batchSize: SEQLEN });
    try {
      const seq = ctx.getSequence();
      const lp: number[] = [];
      for (const w of windows) {
        await seq.clearHistory();
        const opts = { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } };
        const out = await seq.controlledEvaluate([...w].map((t) => [t, opts]) as never);
        for (let j = 0; j + 1 < w.length; j++) {
          const p = out[j]?.next.probabilities?.get(w[j + 1]! as never);
          if (p === undefined) throw new Error(`no probability for token ${w[j + 1]} at ${j}`);
          lp.push(Math.log(p));
        }
      }
      return lp;
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

const results: string[] = [];
afterAll(() => {
  if (results.length) console.log(`dense families, F32 GGUF in llama.cpp vs our safetensors eval:\n${results.join('\n')}`);
});

describe.skipIf(!HAS_SHARED || !nlc)(needsShared('Gemma 2 / Gemma 3 F32 GGUF in llama.cpp'), () => {
  const text = HAS_SHARED ? readFileSync(TINYSTORIES, 'utf8').slice(0, 6000) : '';
  for (const family of ['gemma2', 'gemma3'] as const) {
    it(`${family}: same perplexity in llama.cpp as our eval of the safetensors folder (0.1%)`, async () => {
      const { dir, cleanup } = tempDir(`${family}-gguf-`);
      try {
        const src = join(dir, 'model');
        writeDenseFixture(src, family);
        const file = join(dir, `${family}-F32.gguf`);
        await exportGguf({ modelDir: src, outFile: file, fileType: 'F32' });
        const md = readGguf(file);
        expect(md.metadata.get('general.architecture')?.value).toBe(family);
        expect(md.metadata.get(`${family}.attention.sliding_window`)?.value).toBe(24);
        const names = md.tensors.map((t) => t.name);
        expect(names).toContain('blk.0.post_attention_norm.weight');
        expect(names).toContain('blk.0.post_ffw_norm.weight');
        expect(names).not.toContain('output.weight'); // tied

        const loaded = openModel(registry, src);
        const bench = new PerplexityBench(registry, loaded, registry.kernelBackend(), text, { seqlen: SEQLEN, maxTokens: MAX_TOKENS });
        const windows = evalWindows(bench.ids, { seqlen: SEQLEN, bosTokenId: bench.tokenizer.bosTokenId!, maxTokens: MAX_TOKENS });
        loaded.checkpoint.close();
        const ours = folderPerplexity(registry, src, registry.kernelBackend(), text, { seqlen: SEQLEN, maxTokens: MAX_TOKENS }).perplexity;
        const lp = await llamaCppLogProbs(file, windows);
        const theirs = Math.exp(-lp.reduce((a, b) => a + b, 0) / lp.length);
        const rel = Math.abs(theirs - ours) / ours;
        // token by token too (a random model's perplexity is near its vocabulary size whatever it computes)
        const lm = registry.architecture(loaded.spec.architecture, src).load(loaded.spec, openModel(registry, src).checkpoint, registry.kernelBackend());
        let worst = 0;
        let k = 0;
        for (const w of windows) {
          const logits = lm.forward(w);
          const V = lm.spec.vocabSize;
          for (let j = 0; j + 1 < w.length; j++, k++) {
            const row = logits.subarray(j * V, (j + 1) * V);
            let mx = -Infinity;
            for (const v of row) mx = Math.max(mx, v);
            let sum = 0;
            for (const v of row) sum += Math.exp(v - mx);
            worst = Math.max(worst, Math.abs(row[w[j + 1]!]! - mx - Math.log(sum) - lp[k]!));
          }
        }
        results.push(`${family}: ours ${ours.toFixed(4)}, llama.cpp ${theirs.toFixed(4)} (${(rel * 100).toFixed(4)}%), ${windows.length} windows of ${SEQLEN}; max |Δ log p| per token ${worst.toExponential(2)}`);
        expect(rel).toBeLessThan(1e-3);
        expect(worst).toBeLessThan(1e-2);
      } finally {
        cleanup();
      }
    }, 120_000);
  }
});
