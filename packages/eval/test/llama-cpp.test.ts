// llama-perplexity's chunks and scoring (docs/perplexity-llama-cpp.md) on a toy model whose logits are known.
import { describe, expect, it } from 'vitest';
import type { CausalLM, ModelSpec } from '@autoround/core';
import { llamaCppChunks, llamaCppPerplexity } from '../src/index.js';
import { thrown } from '@autoround/testing';

const V = 5;
/** Logits of position t: token (input[t] + 1) mod V scores 2, the rest 0, whatever the context. */
const toy: CausalLM = {
  spec: { vocabSize: V } as ModelSpec,
  forward(ids: Int32Array): Float32Array {
    const out = new Float32Array(ids.length * V);
    ids.forEach((id, t) => (out[t * V + ((id + 1) % V)] = 2));
    return out;
  },
};

describe('llama.cpp perplexity protocol', () => {
  it('chunks of n_ctx, BOS replacing each first token, the tail dropped, at most maxChunks', () => {
    const tokens = Int32Array.from({ length: 21 }, (_, i) => 10 + i);
    const c = llamaCppChunks(tokens, { nCtx: 8, bosTokenId: 1 });
    expect(c.map((x) => [...x])).toEqual([
      [1, 11, 12, 13, 14, 15, 16, 17],
      [1, 19, 20, 21, 22, 23, 24, 25],
    ]);
    expect(llamaCppChunks(tokens, { nCtx: 8 }).map((x) => x[0])).toEqual([10, 18]);
    expect(llamaCppChunks(tokens, { nCtx: 8, bosTokenId: 1, maxChunks: 1 })).toHaveLength(1);
    expect(thrown(() => llamaCppChunks(tokens.subarray(0, 15), { nCtx: 8 })).message).toMatch(/at least 16 tokens/);
  });

  it('scores positions n_ctx/2 … n_ctx−2 of each chunk (the next token of each), in float64', () => {
    // tokens alternate between a predicted successor and not: position j predicts (x_j + 1) mod V
    const tokens = Int32Array.from([0, 1, 2, 4, 0, 1, 3, 4, 0, 2, 3, 4, 1, 2, 3, 0]);
    const r = llamaCppPerplexity(toy, tokens, { nCtx: 8, bosTokenId: 0 });
    // scored pairs (x_j → x_{j+1}) for j = 4, 5, 6 of each chunk; chunk 2 starts with BOS 0 in place of 0
    const pairs = [[0, 1], [1, 3], [3, 4], [1, 2], [2, 3], [3, 0]];
    const hit = -Math.log(Math.exp(2) / (Math.exp(2) + 4));
    const miss = -Math.log(1 / (Math.exp(2) + 4));
    const want = pairs.reduce((s, [a, b]) => s + ((a! + 1) % V === b ? hit : miss), 0) / pairs.length;
    expect(r.tokens).toBe(6);
    expect(r.windows).toBe(2);
    expect(r.nll).toBeCloseTo(want, 12);
    expect(r.perplexity).toBeCloseTo(Math.exp(want), 10);
  });
});
