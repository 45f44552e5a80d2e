import { describe, expect, it } from 'vitest';
import type { CausalLM } from '@autoround/core';
import { KlDivergence, evalWindows, klDivergence, perplexity } from '../src/index.js';

/** A causal LM over 3 tokens whose logits at each position depend only on the current token. */
function lm(table: number[][]): CausalLM {
  return {
    spec: { vocabSize: 3 },
    forward(ids: Int32Array) {
      const out = new Float32Array(ids.length * 3);
      ids.forEach((id, t) => out.set(table[id]!, t * 3));
      return out;
    },
  } as unknown as CausalLM;
}

const softmax = (r: number[]) => {
  const e = r.map(Math.exp);
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

describe('KL divergence from a reference model', () => {
  const ref = lm([
    [2, 0, 0],
    [0, 1, 0],
    [0, 0, 3],
  ]);
  const ids = Int32Array.from([1, 2, 0, 1, 1, 2, 0, 2, 1]);
  const o = { seqlen: 4, bosTokenId: 0 };

  it('uses the perplexity windows: [BOS] + seqlen − 1 tokens, every token scored', () => {
    expect(evalWindows(ids, o).map((w) => [...w])).toEqual([
      [0, 1, 2, 0],
      [0, 1, 1, 2],
      [0, 0, 2, 1],
    ]);
    expect(perplexity(ref, ids, o).tokens).toBe(9);
  });

  it('is 0 with full top-1 agreement for the reference itself, and the mean KL(P_ref ‖ P) otherwise', () => {
    const k = new KlDivergence(ref, ids, o);
    expect(k.compare(ref)).toEqual({ kld: 0, sameTop: 1, tokens: 9 });
    const other = lm([
      [2, 0, 0],
      [0, 1, 2],
      [0, 0, 3],
    ]);
    // only positions whose input token is 1 differ: KL(softmax[0,1,0] ‖ softmax[0,1,2]), and the top token changes there
    const p = softmax([0, 1, 0]);
    const q = softmax([0, 1, 2]);
    const d = p.reduce((s, pi, i) => s + pi * Math.log(pi / q[i]!), 0);
    const ones = evalWindows(ids, o).reduce((n, w) => n + [...w.subarray(0, -1)].filter((x) => x === 1).length, 0);
    const r = k.compare(other);
    expect(r.tokens).toBe(9);
    expect(r.kld).toBeCloseTo((ones * d) / 9, 6);
    expect(r.sameTop).toBeCloseTo((9 - ones) / 9, 12);
  });
  it('klDivergence: the same numbers in one pass, with both perplexities as perplexity() gives them', () => {
    const other = lm([
      [2, 0, 0],
      [0, 1, 2],
      [1, 0, 3],
    ]);
    const r = klDivergence(ref, other, ids, o);
    const k = new KlDivergence(ref, ids, o).compare(other);
    expect(r.tokens).toBe(k.tokens);
    expect(r.kld).toBeCloseTo(k.kld, 12);
    expect(r.sameTop).toBe(k.sameTop);
    expect(r.perplexity).toBe(perplexity(other, ids, o).perplexity);
    expect(r.referencePerplexity).toBe(perplexity(ref, ids, o).perplexity);
    expect(klDivergence(ref, ref, ids, o)).toMatchObject({ kld: 0, sameTop: 1, tokens: 9 });
    expect(() => klDivergence(ref, { ...other, spec: { vocabSize: 4 } } as unknown as CausalLM, ids, o)).toThrow(/the model has 4 tokens, the reference 3/);
  });
});
