// Inputs found by tools/fuzz (npm run fuzz): each must be an AutoRoundError naming the field, not a TypeError.
import { describe, expect, it } from 'vitest';
import { isAutoRoundError } from '@autoround/core';
import { llmcLayerArgs } from '../src/llmc.js';
import { thrown } from '@autoround/testing';

const weights = { num_bits: 4, group_size: 32, strategy: 'group', symmetric: true, type: 'int' };

describe('compressed-tensors config_groups', () => {
  for (const targets of [[0], 5, null, 'Linear', [null]]) {
    it(`targets ${JSON.stringify(targets)} is refused, naming the field`, () => {
      const e = thrown(() => llmcLayerArgs({ config_groups: { group_0: { targets, weights } } } as never)('model.layers.0.self_attn.q_proj'));
      expect(isAutoRoundError(e), String(e)).toBe(true);
      expect(e.message).toBe(`compressed-tensors config: quantization_config.config_groups.group_0.targets is ${JSON.stringify(targets)}, expected a list of layer names`);
    });
  }

  for (const group of [null, 1, [weights]]) {
    it(`a config group that is ${JSON.stringify(group)} is refused, naming the field`, () => {
      const e = thrown(() => llmcLayerArgs({ config_groups: { group_0: group } } as never));
      expect(isAutoRoundError(e), String(e)).toBe(true);
      expect(e.message).toBe(`compressed-tensors config: quantization_config.config_groups.group_0 is ${JSON.stringify(group)}, expected an object with targets and weights`);
    });
  }

  it('a "re:" target that is not a regular expression is refused, naming the field', () => {
    const e = thrown(() => llmcLayerArgs({ config_groups: { group_0: { targets: ['re:model.(layers'], weights } } } as never)('model.layers.0.self_attn.q_proj'));
    expect(isAutoRoundError(e), String(e)).toBe(true);
    expect(e.message).toMatch(/^compressed-tensors config: quantization_config\.config_groups\.group_0\.targets has "re:model\.\(layers", not a valid regular expression \(/);
  });

  it('valid targets still resolve', () => {
    const args = llmcLayerArgs({ config_groups: { group_0: { targets: ['re:.*_proj'], weights } } } as never);
    expect(args('model.layers.0.self_attn.q_proj').bits).toBe(4);
  });
});
