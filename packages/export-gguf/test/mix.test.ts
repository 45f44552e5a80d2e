import { describe, expect, it } from 'vitest';
import { fallback } from '../src/index.js';
import { TensorTypeSelector, fileTypeByName, useMoreBits } from '../src/ftype.js';
import { compareGgufOrder } from '../src/tensor-map.js';
import { GGMLType, ggmlTypeName } from '@autoround/quant-types';

interface Model {
  nLayer: number;
  nEmbd: number;
  nFf: number;
  nHead: number;
  nHeadKv: number;
  nVocab: number;
  tied?: boolean;
}

/** Every tensor of a LLaMA-shaped model with its GGUF dims, in llama-quantize order. */
function tensors(m: Model): [string, number[]][] {
  const hd = m.nEmbd / m.nHead;
  const out: [string, number[]][] = [
    ['token_embd.weight', [m.nEmbd, m.nVocab]],
    ['output_norm.weight', [m.nEmbd]],
  ];
  if (!m.tied) out.push(['output.weight', [m.nEmbd, m.nVocab]]);
  for (let l = 0; l < m.nLayer; l++) {
    out.push(
      [`blk.${l}.attn_norm.weight`, [m.nEmbd]],
      [`blk.${l}.attn_q.weight`, [m.nEmbd, m.nEmbd]],
      [`blk.${l}.attn_k.weight`, [m.nEmbd, m.nHeadKv * hd]],
      [`blk.${l}.attn_v.weight`, [m.nEmbd, m.nHeadKv * hd]],
      [`blk.${l}.attn_output.weight`, [m.nEmbd, m.nEmbd]],
      [`blk.${l}.ffn_norm.weight`, [m.nEmbd]],
      [`blk.${l}.ffn_gate.weight`, [m.nEmbd, m.nFf]],
      [`blk.${l}.ffn_up.weight`, [m.nEmbd, m.nFf]],
      [`blk.${l}.ffn_down.weight`, [m.nFf, m.nEmbd]],
    );
  }
  return out.sort((a, b) => compareGgufOrder(a[0], b[0]));
}

function mix(m: Model, ft: string, hasImatrix = false): Map<string, string> {
  const sel = new TensorTypeSelector(fileTypeByName(ft)!, { arch: 'llama', nLayer: m.nLayer, nHead: m.nHead, nHeadKv: m.nHeadKv, hasOutput: !m.tied, hasImatrix });
  return new Map(tensors(m).map(([n, ne]) => [n, ggmlTypeName(sel.choose(n, ne).type)]));
}

const LLAMA32: Model = { nLayer: 32, nEmbd: 4096, nFf: 11008, nHead: 32, nHeadKv: 8, nVocab: 32000 };
const STORIES: Model = { nLayer: 5, nEmbd: 64, nFf: 172, nHead: 8, nHeadKv: 4, nVocab: 512 };

describe('llama_tensor_get_type port', () => {
  it('use_more_bits: n = 32 and n = 5 as in docs/formats/gguf.md#use_more_bits', () => {
    expect([...Array(32).keys()].filter((i) => useMoreBits(i, 32))).toEqual([0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
    expect([...Array(5).keys()].filter((i) => useMoreBits(i, 5))).toEqual([2, 4]);
  });

  it('llama-quantize order: non-layer tensors first, then by layer, then by name bytes', () => {
    expect(tensors({ ...STORIES, nLayer: 2 }).map((t) => t[0]).slice(0, 8)).toEqual([
      'output.weight',
      'output_norm.weight',
      'token_embd.weight',
      'blk.0.attn_k.weight',
      'blk.0.attn_norm.weight',
      'blk.0.attn_output.weight',
      'blk.0.attn_q.weight',
      'blk.0.attn_v.weight',
    ]);
    expect(compareGgufOrder('blk.10.attn_q.weight', 'blk.9.attn_q.weight')).toBeGreaterThan(0);
  });

  it('Q4_K_M on a 32-layer LLaMA: Q6_K output, attn_v/ffn_down Q6_K on the use_more_bits layers', () => {
    const t = mix(LLAMA32, 'Q4_K_M');
    expect(t.get('output.weight')).toBe('Q6_K');
    expect(t.get('token_embd.weight')).toBe('Q4_K');
    expect(t.get('output_norm.weight')).toBe('F32');
    const more = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];
    for (let l = 0; l < 32; l++) {
      const want = more.includes(l) ? 'Q6_K' : 'Q4_K';
      expect(t.get(`blk.${l}.attn_v.weight`)).toBe(want);
      expect(t.get(`blk.${l}.ffn_down.weight`)).toBe(want);
      for (const n of ['attn_q', 'attn_k', 'attn_output', 'ffn_gate', 'ffn_up']) expect(t.get(`blk.${l}.${n}.weight`)).toBe('Q4_K');
      expect(t.get(`blk.${l}.attn_norm.weight`)).toBe('F32');
    }
  });

  it('the other mixes on the same model', () => {
    const s = mix(LLAMA32, 'Q3_K_M');
    expect([s.get('blk.0.attn_v.weight'), s.get('blk.1.attn_v.weight'), s.get('blk.2.attn_v.weight')]).toEqual(['Q5_K', 'Q5_K', 'Q4_K']);
    expect([s.get('blk.1.ffn_down.weight'), s.get('blk.2.ffn_down.weight')]).toEqual(['Q5_K', 'Q4_K']);
    expect([s.get('blk.5.attn_output.weight'), s.get('blk.5.attn_q.weight'), s.get('output.weight')]).toEqual(['Q4_K', 'Q3_K', 'Q6_K']);
    const l = mix(LLAMA32, 'Q3_K_L');
    expect([l.get('blk.9.attn_v.weight'), l.get('blk.9.ffn_down.weight'), l.get('blk.9.attn_output.weight'), l.get('blk.9.ffn_up.weight')]).toEqual(['Q5_K', 'Q5_K', 'Q5_K', 'Q3_K']);
    const ks = mix(LLAMA32, 'Q4_K_S');
    expect([ks.get('blk.3.attn_v.weight'), ks.get('blk.4.attn_v.weight'), ks.get('blk.3.ffn_down.weight'), ks.get('blk.4.ffn_down.weight')]).toEqual(['Q5_K', 'Q4_K', 'Q5_K', 'Q4_K']);
    const q2s = mix(LLAMA32, 'Q2_K_S'); // n_gqa = 4
    expect([q2s.get('blk.7.attn_v.weight'), q2s.get('blk.3.ffn_down.weight'), q2s.get('blk.4.ffn_down.weight'), q2s.get('blk.4.attn_q.weight')]).toEqual(['Q4_K', 'Q4_K', 'Q2_K', 'Q2_K']);
    const q2 = mix(LLAMA32, 'Q2_K');
    expect([q2.get('blk.7.attn_v.weight'), q2.get('blk.7.ffn_down.weight'), q2.get('blk.7.attn_output.weight')]).toEqual(['Q4_K', 'Q3_K', 'Q3_K']);
    const k5m = mix(LLAMA32, 'Q5_K_M');
    expect([k5m.get('blk.6.attn_v.weight'), k5m.get('blk.7.ffn_down.weight'), k5m.get('blk.6.ffn_down.weight')]).toEqual(['Q6_K', 'Q5_K', 'Q6_K']);
    for (const ft of ['Q3_K_S', 'Q5_K_S', 'Q6_K', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0']) {
      const m = mix(LLAMA32, ft);
      const def = ggmlTypeName(fileTypeByName(ft)!.defaultType);
      expect(m.get('blk.0.attn_v.weight')).toBe(def);
      expect(m.get('blk.0.ffn_down.weight')).toBe(def);
      expect(m.get('token_embd.weight')).toBe(def);
      expect(m.get('output.weight')).toBe(ft === 'Q8_0' ? 'Q8_0' : 'Q6_K');
    }
    // Q4_0 with an imatrix protects the first eighth of ffn_down with Q4_1
    const q40i = mix(LLAMA32, 'Q4_0', true);
    expect([q40i.get('blk.3.ffn_down.weight'), q40i.get('blk.4.ffn_down.weight')]).toEqual(['Q4_1', 'Q4_0']);
  });

  it('float file types convert every matrix and keep 1-D tensors F32', () => {
    for (const ft of ['F16', 'BF16', 'F32']) {
      const m = mix(STORIES, ft);
      expect(m.get('blk.0.ffn_down.weight')).toBe(ft);
      expect(m.get('output.weight')).toBe(ft);
      expect(m.get('blk.0.ffn_norm.weight')).toBe('F32');
    }
  });

  it('tied embeddings: token_embd takes the output rule', () => {
    expect(mix({ ...LLAMA32, tied: true }, 'Q4_K_M').get('token_embd.weight')).toBe('Q6_K');
    expect(mix({ ...LLAMA32, tied: true }, 'Q8_0').get('token_embd.weight')).toBe('Q8_0');
  });

  it('stories260K (rows of 64 and 172): the fallbacks docs/formats/gguf.md#checked-against-llamacpp lists', () => {
    const t = mix(STORIES, 'Q4_K_M');
    expect(t.get('output.weight')).toBe('Q8_0'); // 64 % 256 → Q8_0 by the output rule
    expect(t.get('token_embd.weight')).toBe('Q5_0'); // Q4_K → Q5_0
    expect(t.get('blk.0.attn_q.weight')).toBe('Q5_0');
    expect([0, 1, 2, 3, 4].map((l) => t.get(`blk.${l}.attn_v.weight`))).toEqual(['Q5_0', 'Q5_0', 'Q8_0', 'Q5_0', 'Q8_0']); // Q6_K → Q8_0 on {2, 4}
    expect(t.get('blk.2.ffn_down.weight')).toBe('F16'); // 172 columns fit no block
    expect(t.get('blk.0.ffn_gate.weight')).toBe('Q5_0');
    const q3 = mix(STORIES, 'Q3_K_S');
    expect([q3.get('blk.0.attn_q.weight'), q3.get('blk.0.ffn_down.weight')]).toEqual(['Q4_0', 'F16']);
    const q5 = mix(STORIES, 'Q5_K_S');
    expect(q5.get('blk.0.attn_q.weight')).toBe('Q5_1');
    const q6 = mix(STORIES, 'Q6_K');
    expect(q6.get('blk.0.attn_q.weight')).toBe('Q8_0');
    // llama-quantize aborts Q4_0/Q8_0 here ("no tensor type fallback"); we store F16 instead
    expect(mix(STORIES, 'Q8_0').get('blk.0.ffn_down.weight')).toBe('F16');
    expect(fallback(GGMLType.Q4_0, 172).fallback).toMatch(/Q4_0 -> F16/);
  });

  it('Qwen2.5-0.5B-like rows of 896 (3.5·256)', () => {
    const qwen: Model = { nLayer: 24, nEmbd: 896, nFf: 4864, nHead: 14, nHeadKv: 2, nVocab: 151936, tied: true };
    const t = mix(qwen, 'Q4_K_M');
    expect(t.get('token_embd.weight')).toBe('Q8_0'); // tied: output rule, 896 % 256 → Q8_0
    expect(t.get('blk.5.attn_q.weight')).toBe('Q5_0');
    // n = 24: use_more_bits holds for layer 5 ((5 − 3) % 3 = 2), not for layer 4
    expect(t.get('blk.4.ffn_down.weight')).toBe('Q4_K'); // 4864 = 19·256 keeps the K type
    expect(t.get('blk.5.ffn_down.weight')).toBe('Q6_K');
    expect(t.get('blk.4.attn_v.weight')).toBe('Q5_0');
    expect(t.get('blk.5.attn_v.weight')).toBe('Q8_0'); // Q6_K → Q8_0
  });
});
