// The dense families beyond LLaMA (Gemma 2, Gemma 3, Phi-3) through the real consumer: our F32 GGUF of each small
// fixture loaded by node-llama-cpp (prebuilt llama.cpp) scores the same perplexity as our evaluation of the
// safetensors folder. There is no llama-perplexity binary here: llama.cpp's next-token probabilities
// (controlledEvaluate, temperature 1, no top-k/top-p/min-p) are read over the same windows of the same
// token ids (BOS + seqlen − 1, as @autoround/eval cuts them) and turned into a perplexity.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, folderPerplexity, openModel, PerplexityBench, type Registry } from '@autoround/autoround';
import { evalWindows } from '@autoround/eval';
import { HAS_SHARED, TINYSTORIES, llamaCppLogProbs, loadNodeLlamaCpp, worstLogProbGap, needsShared, tempDir, type NodeLlama, writeDenseFixture } from '@autoround/testing';
import { exportGguf, readGguf } from '../src/index.js';

const { nlc } = await loadNodeLlamaCpp();
// longer than the Gemma fixtures' sliding window (24)
const SEQLEN = 64;
const MAX_TOKENS = 640;

let llama: NodeLlama;
let registry: Registry;
beforeAll(async () => {
  if (nlc && HAS_SHARED) llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error });
  registry = await createRegistry({ discover: true });
});

const results: string[] = [];
afterAll(() => {
  if (results.length) console.log(`dense families, F32 GGUF in llama.cpp vs our safetensors eval:\n${results.join('\n')}`);
});

describe.skipIf(!HAS_SHARED || !nlc)(needsShared('Gemma 2 / Gemma 3 / Phi-3 F32 GGUF in llama.cpp'), () => {
  const text = HAS_SHARED ? readFileSync(TINYSTORIES, 'utf8').slice(0, 6000) : '';
  // Phi-3 twice: llama.cpp picks LongRoPE's factors by its context size (padded to a multiple of 256), transformers by
  // the sequence length; windows of 64 use the short factors in both, full windows of 320 the long ones (the fixture's
  // original_max_position_embeddings is 256)
  const runs = [['gemma2', SEQLEN, MAX_TOKENS], ['gemma3', SEQLEN, MAX_TOKENS], ['phi3', SEQLEN, MAX_TOKENS], ['phi3', 320, 2 * 319]] as const;
  for (const [family, seqlen, maxTokens] of runs) {
    it(`${family}, windows of ${seqlen}: same perplexity in llama.cpp as our eval of the safetensors folder (0.1%)`, async () => {
      const { dir, cleanup } = tempDir(`${family}-gguf-`);
      try {
        const src = join(dir, 'model');
        writeDenseFixture(src, family);
        const file = join(dir, `${family}-F32.gguf`);
        await exportGguf({ modelDir: src, outFile: file, fileType: 'F32' });
        const md = readGguf(file);
        expect(md.metadata.get('general.architecture')?.value).toBe(family);
        const names = md.tensors.map((t) => t.name);
        if (family === 'phi3') {
          expect(md.metadata.get('phi3.rope.dimension_count')?.value).toBe(24);
          expect(md.metadata.get('phi3.rope.scaling.original_context_length')?.value).toBe(256);
          expect(names).toEqual(expect.arrayContaining(['blk.0.attn_qkv.weight', 'blk.0.ffn_up.weight', 'rope_factors_long.weight', 'rope_factors_short.weight', 'output.weight']));
        } else {
          expect(md.metadata.get(`${family}.attention.sliding_window`)?.value).toBe(24);
          expect(names).toEqual(expect.arrayContaining(['blk.0.post_attention_norm.weight', 'blk.0.post_ffw_norm.weight']));
          expect(names).not.toContain('output.weight'); // tied
        }

        const loaded = openModel(registry, src);
        const bench = new PerplexityBench(registry, loaded, registry.kernelBackend(), text, { seqlen, maxTokens });
        const windows = evalWindows(bench.ids, { seqlen, bosTokenId: bench.tokenizer.bosTokenId!, maxTokens });
        loaded.checkpoint.close();
        const ours = folderPerplexity(registry, src, registry.kernelBackend(), text, { seqlen, maxTokens }).perplexity;
        const lp = await llamaCppLogProbs(llama, file, windows, seqlen);
        const theirs = Math.exp(-lp.reduce((a, b) => a + b, 0) / lp.length);
        const rel = Math.abs(theirs - ours) / ours;
        // token by token too (a random model's perplexity is near its vocabulary size whatever it computes)
        const lm = registry.architecture(loaded.spec.architecture, src).load(loaded.spec, openModel(registry, src).checkpoint, registry.kernelBackend());
        const { worst } = worstLogProbGap((ids) => lm.forward(ids), lm.spec.vocabSize, windows, lp);
        results.push(`${family}: ours ${ours.toFixed(4)}, llama.cpp ${theirs.toFixed(4)} (${(rel * 100).toFixed(4)}%), ${windows.length} windows of ${seqlen}; max |Δ log p| per token ${worst.toExponential(2)}`);
        expect(rel).toBeLessThan(1e-3);
        expect(worst).toBeLessThan(1e-2);
      } finally {
        cleanup();
      }
    }, 120_000);
  }
});

describe("Phi-3's fused attn_qkv in llama-quantize's mixes", () => {
  it('Q3_K_M/Q3_K_L → Q4_K, Q4_K_M → Q5_K, Q5_K_M → Q6_K, others keep the default', async () => {
    const { TensorTypeSelector } = await import('../src/ftype.js');
    const { fileTypeOfFormat } = await import('../src/index.js');
    const want: Record<string, string> = { Q3_K_M: 'Q4_K', Q3_K_L: 'Q4_K', Q4_K_M: 'Q5_K', Q5_K_M: 'Q6_K', Q4_K_S: 'Q4_K', Q8_0: 'Q8_0' };
    const { ggmlTypeName } = await import('@autoround/quant-types');
    for (const [ft, type] of Object.entries(want)) {
      const sel = new TensorTypeSelector(fileTypeOfFormat(`gguf:${ft.toLowerCase()}`)!, { arch: 'phi3', nLayer: 4, nHead: 4, nHeadKv: 2, hasOutput: true, hasImatrix: false });
      expect(ggmlTypeName(sel.choose('blk.0.attn_qkv.weight', [256, 768]).type), ft).toBe(type);
    }
  });
});
