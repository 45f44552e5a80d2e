import { describe, expect, it } from 'vitest';
import { presetScheme, type QuantScheme } from '@autoround/core';
import { ggufLayerOverrides, ggufLayerTypes } from '../src/index.js';
import { fileTypeByName } from '../src/ftype.js';
import { ggufTypeOfLayerScheme } from '../src/overrides.js';
import { planTensors } from '../src/export.js';
import { GGMLType, ggmlTypeName } from '@autoround/quant-types';

const ft = (n: string) => fileTypeByName(n)!;
const name = (s: QuantScheme, file: string) => ggmlTypeName(ggufTypeOfLayerScheme(s, ft(file)));

/** A LLaMA config and tensor list (hidden 256, 8 layers, ffn 768, 8 heads / 4 kv heads, untied). */
function llama(layers = 8) {
  const config = { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 256, intermediate_size: 768, num_hidden_layers: layers, num_attention_heads: 8, num_key_value_heads: 4, vocab_size: 512, max_position_embeddings: 512, rms_norm_eps: 1e-5, tie_word_embeddings: false };
  const sourceTensors: { name: string; shape: number[] }[] = [
    { name: 'model.embed_tokens.weight', shape: [512, 256] },
    { name: 'model.norm.weight', shape: [256] },
    { name: 'lm_head.weight', shape: [512, 256] },
  ];
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}`;
    sourceTensors.push(
      { name: `${p}.input_layernorm.weight`, shape: [256] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [256] },
      { name: `${p}.self_attn.q_proj.weight`, shape: [256, 256] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [128, 256] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [128, 256] },
      { name: `${p}.self_attn.o_proj.weight`, shape: [256, 256] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [768, 256] },
      { name: `${p}.mlp.up_proj.weight`, shape: [768, 256] },
      { name: `${p}.mlp.down_proj.weight`, shape: [256, 768] },
    );
  }
  return { config, sourceTensors };
}

describe('per-layer types from the layer selection', () => {
  it('a GGUF preset names its type; other schemes are read by their bits with the file type suffix, as the original reads layer_config', () => {
    expect(name(presetScheme('GGUF:Q8_0'), 'Q4_K_M')).toBe('Q8_0');
    expect(name(presetScheme('GGUF:Q4_1'), 'Q4_K_M')).toBe('Q4_1');
    expect(name(presetScheme('GGUF:Q6_K'), 'Q4_0')).toBe('Q6_K');
    expect(name(presetScheme('GGUF:Q2_K_S'), 'Q8_0')).toBe('Q2_K');
    const q4km = presetScheme('GGUF:Q4_K_M');
    expect(name({ ...q4km, bits: 6 }, 'Q4_K_M')).toBe('Q6_K');
    expect(name({ ...q4km, bits: 8 }, 'Q4_K_M')).toBe('Q8_0');
    expect(name({ ...q4km, bits: 5 }, 'Q4_K_M')).toBe('Q5_K');
    expect(name({ ...presetScheme('GGUF:Q4_0'), bits: 5 }, 'Q4_0')).toBe('Q5_0');
    expect(name({ ...presetScheme('GGUF:Q4_1'), bits: 5 }, 'Q4_1')).toBe('Q5_1');
    expect(name({ ...presetScheme('GGUF:Q4_0'), bits: 3 }, 'Q4_0')).toBe('Q3_K');
    expect(name(presetScheme('W8A16'), 'Q4_K_M')).toBe('Q8_0');
    expect(name(presetScheme('W4A16'), 'Q2_K_S')).toBe('Q4_K');
    // float files have no suffix: super-block fields → K, else sym → _0, asym → _1
    expect(name({ ...presetScheme('W4A16'), group_size: 128 }, 'F16')).toBe('Q4_0');
    expect(name({ ...presetScheme('W4A16'), sym: false }, 'F16')).toBe('Q4_1');
    expect(name({ ...q4km, bits: 5 }, 'F16')).toBe('Q5_K');
    expect(() => ggufTypeOfLayerScheme({ ...q4km, bits: 7 }, ft('Q4_K_M'), 'model.layers.0.mlp.up_proj')).toThrow(/--layer_config model\.layers\.0\.mlp\.up_proj: no GGUF type stores 7-bit weights/);
  });

  it('full-precision layers become F16 (BF16 for BF16 sources) in quantized files; layers with the run scheme are left to the mix', () => {
    const g = presetScheme('GGUF:Q4_K_M');
    const layerSchemes = new Map<string, QuantScheme | null>([
      ['model.layers.0.self_attn.q_proj', g],
      ['model.layers.0.mlp.down_proj', null],
      ['model.layers.1.mlp.down_proj', null],
      ['model.layers.1.self_attn.q_proj', presetScheme('GGUF:Q8_0')],
      ['model.layers.2.self_attn.v_proj', { ...g }],
    ]);
    const o = ggufLayerOverrides({ layerSchemes, scheme: g, fileType: ft('Q4_K_M'), dtypeOf: (n) => (n.startsWith('model.layers.1.') ? 'BF16' : 'F32') });
    expect(Object.fromEntries([...o].map(([k, t]) => [k, ggmlTypeName(t)]))).toEqual({
      'model.layers.0.mlp.down_proj.weight': 'F16',
      'model.layers.1.mlp.down_proj.weight': 'BF16',
      'model.layers.1.self_attn.q_proj.weight': 'Q8_0',
    });
    // a float file keeps every full-precision layer at its own type; only quantized entries are listed
    expect([...ggufLayerOverrides({ layerSchemes, scheme: presetScheme('BF16'), fileType: ft('F16') }).keys()]).toEqual(['model.layers.0.self_attn.q_proj.weight', 'model.layers.1.self_attn.q_proj.weight', 'model.layers.2.self_attn.v_proj.weight']);
    // without the run's scheme, a layer whose scheme names the file's type is left to the mix
    expect([...ggufLayerOverrides({ layerSchemes, scheme: undefined, fileType: ft('Q4_K_M') }).keys()].sort()).toEqual(['model.layers.0.mlp.down_proj.weight', 'model.layers.1.mlp.down_proj.weight', 'model.layers.1.self_attn.q_proj.weight']);
  });

  it('the plan takes the overrides (row fallback included) and keeps the mix of every other tensor, as llama-quantize --tensor-type does', () => {
    const m = llama(8);
    const base = ggufLayerTypes({ ...m, fileType: 'Q4_K_M', hasImatrix: false });
    const overrides = new Map<string, GGMLType>([
      ['model.layers.0.self_attn.v_proj.weight', GGMLType.F16],
      ['model.layers.3.mlp.down_proj.weight', GGMLType.Q8_0],
      ['model.layers.4.self_attn.q_proj.weight', GGMLType.Q2_K],
      ['lm_head.weight', GGMLType.F16],
    ]);
    const types = ggufLayerTypes({ ...m, fileType: 'Q4_K_M', hasImatrix: false, overrides });
    const changed = [...types].filter(([k, t]) => base.get(k) !== t).map(([k, t]) => `${k} ${ggmlTypeName(base.get(k)!)}->${ggmlTypeName(t)}`);
    expect(changed.sort()).toEqual([
      'lm_head Q6_K->F16',
      'model.layers.0.self_attn.v_proj Q6_K->F16',
      'model.layers.3.mlp.down_proj Q6_K->Q8_0',
      'model.layers.4.self_attn.q_proj Q4_K->Q2_K',
    ]);
    // a K type on rows that are not multiples of 256 takes llama-quantize's fallback
    const narrow = { ...m, sourceTensors: m.sourceTensors.map((t) => (t.name === 'model.layers.2.mlp.down_proj.weight' ? { ...t, shape: [256, 96] } : t)) };
    const plan = planTensors({ ...narrow, fileType: 'Q8_0', overrides: new Map([['model.layers.2.mlp.down_proj.weight', GGMLType.Q4_K]]) });
    const t = plan.tensors.find((x) => x.name === 'blk.2.ffn_down.weight')!;
    expect([ggmlTypeName(t.type), t.overridden, t.fallback]).toEqual(['Q5_0', true, '96 columns are not a multiple of 256: Q4_K -> Q5_0']);
    // norms and other 1-D tensors are never overridden
    const norm = planTensors({ ...m, fileType: 'Q4_K_M', overrides: new Map([['model.norm.weight', GGMLType.Q8_0]]) }).tensors.find((x) => x.name === 'output_norm.weight')!;
    expect(ggmlTypeName(norm.type)).toBe('F32');
  });
  it('the token embedding: an override types token_embd.weight (F16/BF16 for full precision); tied, it replaces the output rule', () => {
    const m = llama(4);
    const g = presetScheme('GGUF:Q4_K_M');
    const typeOf = (plan: ReturnType<typeof planTensors>, n: string) => ggmlTypeName(plan.tensors.find((x) => x.name === n)!.type);
    const base = planTensors({ ...m, fileType: 'Q4_K_M' });
    expect([typeOf(base, 'token_embd.weight'), typeOf(base, 'output.weight')]).toEqual(['Q4_K', 'Q6_K']);
    for (const [s, dtype, want] of [
      [null, 'F32', 'F16'],
      [null, 'BF16', 'BF16'],
      [presetScheme('GGUF:Q8_0'), 'F32', 'Q8_0'],
      [{ ...g, bits: 6 }, 'F32', 'Q6_K'],
    ] as const) {
      const overrides = ggufLayerOverrides({ layerSchemes: new Map([['model.embed_tokens', s]]), scheme: g, fileType: ft('Q4_K_M'), dtypeOf: () => dtype });
      expect([...overrides.keys()]).toEqual(['model.embed_tokens.weight']);
      const plan = planTensors({ ...m, fileType: 'Q4_K_M', overrides });
      const changed = plan.tensors.filter((t, i) => t.type !== base.tensors[i]!.type).map((t) => `${t.name} ${ggmlTypeName(t.type)}`);
      expect(changed).toEqual([`token_embd.weight ${want}`]);
    }
    // tied (no lm_head.weight): token_embd is the output matrix, typed by the output rule unless the selection names it
    const tied = { config: { ...m.config, tie_word_embeddings: true }, sourceTensors: m.sourceTensors.filter((t) => t.name !== 'lm_head.weight') };
    expect(typeOf(planTensors({ ...tied, fileType: 'Q4_K_M' }), 'token_embd.weight')).toBe('Q6_K');
    expect(typeOf(planTensors({ ...tied, fileType: 'Q4_K_M', overrides: new Map([['model.embed_tokens.weight', GGMLType.Q4_0]]) }), 'token_embd.weight')).toBe('Q4_0');
    expect(typeOf(planTensors({ ...tied, fileType: 'Q4_K_M', overrides: new Map([['model.embed_tokens.weight', GGMLType.F16]]) }), 'token_embd.weight')).toBe('F16');
  });
});
