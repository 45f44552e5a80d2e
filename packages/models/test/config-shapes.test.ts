// Issue #13 item 8: describe() records the shape config.json implies for every tensor the forward
// reads (Qwen2's q/k/v biases and Qwen3's q/k norms included), with the fields it comes from;
// checkTensorShape turns a disagreement into an error naming tensor, both shapes and the fields.
import { describe, expect, it } from 'vitest';
import { checkTensorShape } from '@autoround/core';
import { QWEN2, QWEN3, describeLlama } from '../src/index.js';

const base = { hidden_size: 64, intermediate_size: 96, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 100 };

describe('the shapes config.json implies', () => {
  it('Qwen2: q/k/v biases of num_(key_value_)heads × head_dim, no o_proj bias', () => {
    const s = describeLlama({ architectures: ['Qwen2ForCausalLM'], ...base }, 'config.json', QWEN2).shapes!;
    expect(s['model.layers.0.self_attn.q_proj.bias']).toEqual({ shape: [64], from: 'num_attention_heads 4 × head_dim 16 = hidden_size / num_attention_heads' });
    expect(s['model.layers.0.self_attn.k_proj.bias']!.shape).toEqual([32]);
    expect(s['model.layers.0.self_attn.v_proj.bias']!.shape).toEqual([32]);
    expect(s['model.layers.0.self_attn.o_proj.bias']).toBeUndefined();
    expect(s['model.layers.0.mlp.down_proj.weight']).toEqual({ shape: [64, 96], from: 'hidden_size 64, intermediate_size 96' });
  });

  it('Qwen3: q_norm and k_norm of head_dim (given explicitly here)', () => {
    const spec = describeLlama({ architectures: ['Qwen3ForCausalLM'], ...base, head_dim: 32 }, 'config.json', QWEN3);
    const s = spec.shapes!;
    expect(s['model.layers.0.self_attn.q_norm.weight']).toEqual({ shape: [32], from: 'head_dim 32' });
    expect(s['model.layers.0.self_attn.k_norm.weight']!.shape).toEqual([32]);
    expect(s['model.layers.0.self_attn.q_proj.weight']!.shape).toEqual([128, 64]);
    expect(s['model.layers.0.self_attn.o_proj.weight']!.shape).toEqual([64, 128]);
    expect(() => checkTensorShape(spec, 'model.layers.0.self_attn.k_norm.weight', [16], 'm/model.safetensors')).toThrow(
      'm/model.safetensors: tensor model.layers.0.self_attn.k_norm.weight has shape [16], but config.json implies [32] (head_dim 32)',
    );
    expect(() => checkTensorShape(spec, 'lm_head.weight', [100, 64], 'x')).not.toThrow();
    expect(() => checkTensorShape(spec, 'lm_head.weight', [64, 100], 'x')).toThrow(/\[100, 64\] \(vocab_size 100, hidden_size 64\)/);
  });
});
