// Inputs found by tools/fuzz (npm run fuzz): each must be an AutoRoundError naming the file, never a hang.
import { describe, expect, it } from 'vitest';
import { isAutoRoundError } from '@autoround/core';
import { describeLlama } from '../src/index.js';

const config = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 2,
  vocab_size: 64,
};

describe('config.json layer count', () => {
  it('num_hidden_layers 4294967296 is refused at once instead of describing four billion blocks', () => {
    const t0 = performance.now();
    let err: unknown;
    try {
      describeLlama({ ...config, num_hidden_layers: 4294967296 }, 'm/config.json');
    } catch (e) {
      err = e;
    }
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(isAutoRoundError(err), String(err)).toBe(true);
    expect((err as Error).message).toBe('m/config.json: "num_hidden_layers" 4294967296 is not a plausible layer count (at most 10000)');
  });

  it('an ordinary layer count is described', () => {
    expect(describeLlama({ ...config, num_hidden_layers: 3 }, 'm/config.json').blocks).toHaveLength(3);
  });
});
