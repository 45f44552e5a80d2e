import { describe, expect, it } from 'vitest';
import { Tensor } from '@autoround/core-tensor';
import type { BlockForwardOptions, BlockwiseCausalLM, ModelSpec, WeightSource } from '@autoround/core';
import { klDivergence, perplexity } from '../src/index.js';

// A non-finite score is an error naming the first layer that produced the NaN (issue #13, item 10),
// never a perplexity of NaN (printed as null) with exit 0.

const V = 4;
const Hd = 2;

/**
 * Two blocks of two "modules" (attn: a then b; mlp: c then d) over hidden size 2; `nanAt` makes the
 * output of that linear NaN at token position 1 (block 0 or 1).
 */
function model(nanAt?: { block: number; linear: string }): BlockwiseCausalLM {
  const blocks = [0, 1].map((index) => ({ index, prefix: `model.layers.${index}`, linears: [], tensors: [`model.layers.${index}.attn.a.weight`, `model.layers.${index}.mlp.d.weight`] }));
  const spec = { vocabSize: V, hiddenSize: Hd, blockListName: 'model.layers', blocks, embedding: 'model.embed_tokens.weight', finalNorm: 'model.norm.weight', lmHead: 'lm_head.weight', tiedEmbeddings: false } as unknown as ModelSpec;
  const m: BlockwiseCausalLM = {
    spec,
    numBlocks: 2,
    embedTokens: (ids) => Float32Array.from({ length: ids.length * Hd }, (_, i) => 0.1 * (ids[i >> 1]! + 1) + 0.01 * (i & 1)),
    blockForward(index: number, x: Float32Array, T: number, o?: BlockForwardOptions) {
      let y = x.slice();
      for (const linear of ['attn.a', 'attn.b', 'mlp.c', 'mlp.d']) {
        o?.onLinearInput?.(linear, y, T, Hd);
        y = y.map((v) => v * 0.9 + 0.05);
        if (nanAt && nanAt.block === index && nanAt.linear === linear) y[1 * Hd] = Number.NaN;
      }
      return y;
    },
    forward(ids) {
      let x = m.embedTokens(ids);
      for (let i = 0; i < 2; i++) x = m.blockForward(i, x, ids.length);
      const logits = new Float32Array(ids.length * V);
      for (let t = 0; t < ids.length; t++) for (let v = 0; v < V; v++) logits[t * V + v] = x[t * Hd]! * (v + 1) - x[t * Hd + 1]!;
      return logits;
    },
  };
  return m;
}

const ids = Int32Array.from([1, 2, 3, 0, 1, 2, 3, 0, 1]);
const o = { seqlen: 4, bosTokenId: 0 };

describe('a non-finite score names where the NaN comes from', () => {
  it('a finite model has a finite perplexity', () => {
    expect(Number.isFinite(perplexity(model(), ids, o).perplexity)).toBe(true);
  });

  it('NaN made inside a module (between its linears): that module output', () => {
    expect(() => perplexity(model({ block: 1, linear: 'attn.a' }), ids, o)).toThrow(
      'perplexity is not finite: model.layers.1.attn output (the input of model.layers.1.attn.b) is NaN at window 0 (token position 1)',
    );
  });

  it('NaN out of the last linear of a module: that linear, as the next module sees it', () => {
    expect(() => perplexity(model({ block: 0, linear: 'attn.b' }), ids, o)).toThrow(
      'perplexity is not finite: model.layers.0.attn.b output (the input of model.layers.0.mlp.c) is NaN at window 0',
    );
  });

  it("NaN out of the block's last linear: the block output", () => {
    expect(() => perplexity(model({ block: 1, linear: 'mlp.d' }), ids, o)).toThrow('perplexity is not finite: model.layers.1.mlp.d output is NaN at window 0');
  });

  it('with the weights, the tensor that holds the NaN is named too', () => {
    const weights: WeightSource = {
      has: () => true,
      readFloat32: (n) => Tensor.f32([2], n === 'model.layers.1.mlp.d.weight' ? Float32Array.of(1, Number.NaN) : Float32Array.of(1, 2)),
    };
    expect(() => perplexity(model({ block: 1, linear: 'mlp.d' }), ids, { ...o, weights })).toThrow(
      /model\.layers\.1\.mlp\.d output is NaN at window 0 \(token position 1\); model\.layers\.1\.mlp\.d\.weight holds NaN at element 1$/,
    );
  });

  it('KL divergence: either model', () => {
    expect(() => klDivergence(model(), model({ block: 0, linear: 'mlp.c' }), ids, o)).toThrow(/^perplexity is not finite: model\.layers\.0\.mlp output \(the input of model\.layers\.0\.mlp\.d\) is NaN at window 0/);
    expect(() => klDivergence(model({ block: 0, linear: 'mlp.c' }), model(), ids, o)).toThrow(/^the reference model's perplexity is not finite: model\.layers\.0\.mlp output/);
  });
});

describe('KlDivergence (reference computed once, many models compared)', () => {
  it('names the reference or the model that computes a NaN', async () => {
    const { KlDivergence } = await import('../src/index.js');
    expect(() => new KlDivergence(model({ block: 1, linear: 'attn.a' }), ids, o)).toThrow(/^the reference model's perplexity is not finite: model\.layers\.1\.attn output/);
    const kl = new KlDivergence(model(), ids, o);
    expect(Number.isFinite(kl.compare(model()).kld)).toBe(true);
    expect(() => kl.compare(model({ block: 0, linear: 'attn.b' }))).toThrow(/^KL divergence is not finite: model\.layers\.0\.attn\.b output \(the input of model\.layers\.0\.mlp\.c\) is NaN at window 0/);
  });
});
