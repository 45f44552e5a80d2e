import { describe, expect, it } from 'vitest';
import { Checkpoint } from '@autoround/core-tensor';
import { LlamaDecoder, LlamaModel, describeLlama, readConfig } from '@autoround/models';
import { nativeBackend, jsBackend } from '@autoround/kernels-cpu';
import { sampleTokenBatch, sampleTokens } from '../src/index.js';
import { HAS_SHARED, STORIES, needsShared } from '@autoround/testing';

describe.skipIf(!HAS_SHARED)(needsShared('--dataset self: batched sampling'), () => {
  for (const make of [() => jsBackend.create({}), () => nativeBackend.create({ threads: 2 })]) {
    const be = (() => {
      try {
        return make();
      } catch {
        return null;
      }
    })();
    it.skipIf(!be)(`gives each seed the tokens it gets alone (${be?.name ?? 'unavailable'} backend)`, () => {
      const lm = new LlamaModel(describeLlama(readConfig(STORIES), STORIES), Checkpoint.open(STORIES), be!);
      const seeds = [42, 43, 7, 1000];
      const batch = sampleTokenBatch(lm, 1, 48, seeds);
      expect(batch).toHaveLength(seeds.length);
      seeds.forEach((s, i) => expect(batch[i], `seed ${s}`).toEqual(sampleTokens(lm, 1, 48, s)));
      // different seeds, different texts
      expect(batch[0]).not.toEqual(batch[1]);
    });
  }

  it('the batched decoder refuses a wrong token count and decoding past its length', () => {
    const lm = new LlamaModel(describeLlama(readConfig(STORIES), STORIES), Checkpoint.open(STORIES), jsBackend.create({}));
    const dec = new LlamaDecoder(lm, 2, 3);
    expect(() => dec.stepBatch(Int32Array.of(1, 1))).toThrow(/2 tokens for a decoder of batch 3/);
    dec.stepBatch(Int32Array.of(1, 1, 1));
    dec.stepBatch(Int32Array.of(1, 1, 1));
    expect(() => dec.stepBatch(Int32Array.of(1, 1, 1))).toThrow(/decoding past 2 positions/);
  });
});
