// Architecture hyper-parameters (docs/formats/gguf.md#hyper-parameters) with the exact key types llama.cpp checks.

import { AutoRoundError } from '@autoround/core-tensor';
import { type HFConfig, llama3FreqBand, type RopeScalingFields, ropeScalingOf, transformerDims } from '@autoround/core';
import type { GgufMetadata } from './gguf/metadata.js';
import type { GgufArch } from './tensor-map.js';

/** GGML_QNT_VERSION, written as general.quantization_version. */
export const GGML_QNT_VERSION = 2;

function need(config: HFConfig, key: string, source: string): number {
  const v = config[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new AutoRoundError('E_BAD_CONFIG', `${source}: "${key}" is missing or not a number (needed for GGUF)`, { subject: key });
  return v;
}

export interface ModelDims {
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly headDim: number;
  readonly nFf: number;
}

/** The sizes GGUF's metadata names, from core's one reading of config.json (transformerDims). */
export function modelDims(config: HFConfig, source = 'config.json'): ModelDims {
  const d = transformerDims(config, source);
  return { nLayer: d.layers, nEmbd: d.hidden, nHead: d.heads, nHeadKv: d.kvHeads, headDim: d.headDim, nFf: d.intermediate };
}

/** The experts of a mixture-of-experts config (Qwen-MoE: num_experts, Mixtral: num_local_experts); 0 for a dense model. */
export function nExpertOf(config: HFConfig): number {
  const n = config.num_experts ?? config.num_local_experts;
  return typeof n === 'number' && n > 0 ? n : 0;
}

/**
 * What llama.cpp's MoE graphs cannot express is an error naming the field (docs/models/moe.md#gguf): qwen3moe and
 * qwen2moe have a sparse block in every layer (no mlp_only_layers, decoder_sparse_step 1); qwen3moe and Mixtral
 * renormalize the top-k weights, qwen2moe does not (build_moe_ffn's norm_w, fixed per architecture).
 */
export function checkMoeConfig(arch: GgufArch, config: HFConfig, source = 'config.json'): void {
  const bad = (field: string, why: string): never => {
    throw new AutoRoundError('E_UNSUPPORTED', `${source}: ${JSON.stringify(field)} ${why}`, { subject: field });
  };
  if (arch !== 'qwen3moe' && arch !== 'qwen2moe' && arch !== 'llama') bad('num_experts', `: experts are not supported by the GGUF exporter for ${arch}`);
  if (arch === 'llama') return;
  const only = config.mlp_only_layers;
  if (Array.isArray(only) && only.length > 0) bad('mlp_only_layers', `${JSON.stringify(only)} cannot be written to GGUF: llama.cpp's ${arch} has a sparse block in every layer`);
  const step = config.decoder_sparse_step;
  if (step !== undefined && step !== null && step !== 1) bad('decoder_sparse_step', `${JSON.stringify(step)} cannot be written to GGUF: llama.cpp's ${arch} has a sparse block in every layer`);
  const norm = config.norm_topk_prob;
  const llamaCpp = arch === 'qwen3moe';
  if (norm !== undefined && norm !== null && norm !== llamaCpp) bad('norm_topk_prob', `${JSON.stringify(norm)} cannot be written to GGUF: llama.cpp's ${arch} ${llamaCpp ? 'always' : 'never'} renormalizes the top-k routing weights`);
}

/** Writes `<arch>.*` hyper-parameters. */
export function writeArchMetadata(md: GgufMetadata, arch: GgufArch, config: HFConfig, nVocab: number, source = 'config.json'): void {
  const d = modelDims(config, source);
  const p = arch;
  md.u32(`${p}.vocab_size`, nVocab);
  md.u32(`${p}.context_length`, need(config, 'max_position_embeddings', source));
  md.u32(`${p}.embedding_length`, d.nEmbd);
  md.u32(`${p}.block_count`, d.nLayer);
  md.u32(`${p}.feed_forward_length`, d.nFf);
  md.u32(`${p}.attention.head_count`, d.nHead);
  md.u32(`${p}.attention.head_count_kv`, d.nHeadKv);
  md.f32(`${p}.attention.layer_norm_rms_epsilon`, typeof config.rms_norm_eps === 'number' ? config.rms_norm_eps : 1e-6);
  md.f32(`${p}.rope.freq_base`, typeof config.rope_theta === 'number' ? config.rope_theta : 10000);
  const nExpert = nExpertOf(config);
  if (nExpert > 0) {
    // llama.cpp's generic keys (llama-model.cpp), then what its qwen3moe / qwen2moe loaders read; Mixtral's experts
    // are feed_forward_length wide
    md.u32(`${p}.expert_count`, nExpert);
    md.u32(`${p}.expert_used_count`, need(config, 'num_experts_per_tok', source));
    if (arch === 'qwen3moe' || arch === 'qwen2moe') md.u32(`${p}.expert_feed_forward_length`, need(config, 'moe_intermediate_size', source));
    if (arch === 'qwen2moe') md.u32(`${p}.expert_shared_feed_forward_length`, need(config, 'shared_expert_intermediate_size', source));
  }
  if (arch === 'llama') md.u32(`${p}.rope.dimension_count`, d.headDim);
  if (arch === 'phi3') {
    writePhi3Metadata(md, config, d, source);
    return;
  }
  if (arch === 'gemma2' || arch === 'gemma3') writeGemmaMetadata(md, arch, config, d, source);
  if (arch === 'qwen3' || arch === 'qwen3moe' || arch === 'gemma2' || arch === 'gemma3' || d.headDim !== Math.floor(d.nEmbd / d.nHead) || typeof config.head_dim === 'number') {
    md.u32(`${p}.attention.key_length`, d.headDim);
    md.u32(`${p}.attention.value_length`, d.headDim);
  }
  const rs = ropeScalingOf(config);
  const kind = (rs?.rope_type ?? rs?.type ?? '').toLowerCase();
  if (arch === 'qwen2vl') {
    writeRopeSections(md, config, d.headDim, source);
    return;
  }
  if (rs && kind !== 'llama3' && kind !== 'default' && kind !== '') {
    if (kind === 'linear' || kind === 'yarn') {
      md.str(`${p}.rope.scaling.type`, kind);
      md.f32(`${p}.rope.scaling.factor`, Number(rs.factor ?? 1));
      if (kind === 'yarn' && rs.original_max_position_embeddings) md.u32(`${p}.rope.scaling.original_context_length`, rs.original_max_position_embeddings);
    } else {
      throw new AutoRoundError('E_BAD_CONFIG', `${source}: rope_scaling type "${kind}" is not supported by the GGUF exporter (linear, yarn, llama3 are)`, { subject: 'rope_scaling' });
    }
  }
}

/** Phi-3's rotated dims per head: partial_rotary_factor · hidden_size / num_attention_heads, as the converter computes them. */
function phi3RopeDims(config: HFConfig, d: ModelDims): number {
  const partial = typeof config.partial_rotary_factor === 'number' ? config.partial_rotary_factor : 1;
  return Math.floor(Math.floor(partial * d.nEmbd) / d.nHead);
}

/** LongRoPE's fields of a Phi-3 config, or null for none; anything else but no scaling is an error naming rope_scaling. */
function phi3LongRope(config: HFConfig, source: string): { short: number[]; long: number[]; original: number } | null {
  const rs = ropeScalingOf(config) as (RopeScalingFields & { short_factor?: unknown; long_factor?: unknown; attention_factor?: unknown }) | null;
  if (!rs) return null;
  const kind = (rs.rope_type ?? rs.type ?? '').toLowerCase();
  if (kind === 'default' || kind === '') return null;
  if (kind !== 'longrope' && kind !== 'su') throw new AutoRoundError('E_BAD_CONFIG', `${source}: rope_scaling type "${kind}" is not supported by the GGUF exporter for Phi-3 (longrope is)`, { subject: 'rope_scaling' });
  if (rs.attention_factor !== undefined && rs.attention_factor !== null) throw new AutoRoundError('E_UNSUPPORTED', `${source}: "rope_scaling.attention_factor" is not supported by the GGUF exporter (llama.cpp's converter derives the factor)`, { subject: 'rope_scaling.attention_factor' });
  const orig = config.original_max_position_embeddings ?? rs.original_max_position_embeddings;
  if (typeof orig !== 'number') throw new AutoRoundError('E_BAD_CONFIG', `${source}: longrope needs "original_max_position_embeddings"`, { subject: 'original_max_position_embeddings' });
  const list = (k: 'short_factor' | 'long_factor'): number[] => {
    const v = rs[k];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new AutoRoundError('E_BAD_CONFIG', `${source}: "rope_scaling.${k}" must be a list of numbers`, { subject: `rope_scaling.${k}` });
    return v as number[];
  };
  return { short: list('short_factor'), long: list('long_factor'), original: orig };
}

/**
 * Phi-3's keys (docs/models/phi3.md#gguf), as llama.cpp's converter writes them: the rotated dims, LongRoPE's
 * original context length and attention factor √(1 + ln(s)/ln(original)), s = max_position_embeddings / original,
 * and the sliding window (0 for none; llama.cpp currently disables Phi-3's sliding window).
 */
function writePhi3Metadata(md: GgufMetadata, config: HFConfig, d: ModelDims, source: string): void {
  const p = 'phi3';
  md.u32(`${p}.rope.dimension_count`, phi3RopeDims(config, d));
  const lr = phi3LongRope(config, source);
  if (lr) {
    const s = need(config, 'max_position_embeddings', source) / lr.original;
    md.u32(`${p}.rope.scaling.original_context_length`, lr.original);
    md.f32(`${p}.rope.scaling.attn_factor`, s > 1 ? Math.sqrt(1 + Math.log(s) / Math.log(lr.original)) : 1);
  }
  md.u32(`${p}.attention.sliding_window`, typeof config.sliding_window === 'number' ? config.sliding_window : 0);
}

/** Phi-3's rope_factors_long.weight / rope_factors_short.weight (rotated dims / 2 values each); none without LongRoPE. */
export function longRopeFactors(config: HFConfig, source = 'config.json'): [string, Float32Array][] {
  const lr = phi3LongRope(config, source);
  if (!lr) return [];
  const half = phi3RopeDims(config, modelDims(config, source)) / 2;
  for (const [k, v] of [['short_factor', lr.short], ['long_factor', lr.long]] as const) {
    if (v.length !== half) throw new AutoRoundError('E_BAD_CONFIG', `${source}: "rope_scaling.${k}" has ${v.length} values, the rotated dims need ${half}`, { subject: `rope_scaling.${k}` });
  }
  return [
    ['rope_factors_long.weight', Float32Array.from(lr.long)],
    ['rope_factors_short.weight', Float32Array.from(lr.short)],
  ];
}

/**
 * Gemma 2 / Gemma 3's keys (docs/models/gemma.md#gguf): soft-caps, the sliding window and, for Gemma 3, the
 * sliding layers' RoPE base and their period. What llama.cpp cannot express is an error naming the field:
 * it scales queries by 1/√head_dim (1/√(hidden/heads) for 46- and 62-layer models), not by
 * query_pre_attn_scalar; it places sliding layers by a period; Gemma 3's rope scaling is not verified here.
 */
function writeGemmaMetadata(md: GgufMetadata, arch: 'gemma2' | 'gemma3', config: HFConfig, d: ModelDims, source: string): void {
  const p = arch;
  const qpas = config.query_pre_attn_scalar;
  const llamaCppScalar = (arch === 'gemma2' && d.nLayer === 46) || (arch === 'gemma3' && d.nLayer === 62) ? Math.floor(d.nEmbd / d.nHead) : d.headDim;
  if (qpas !== undefined && qpas !== null && qpas !== llamaCppScalar) {
    throw new AutoRoundError('E_UNSUPPORTED', `${source}: "query_pre_attn_scalar" ${JSON.stringify(qpas)} cannot be written to GGUF: llama.cpp scales queries by 1/√${llamaCppScalar} for this model`, { subject: 'query_pre_attn_scalar' });
  }
  const num = (k: string): number | null => (typeof config[k] === 'number' ? (config[k] as number) : null);
  const attnCap = num('attn_logit_softcapping');
  const finalCap = num('final_logit_softcapping');
  if (arch === 'gemma2') {
    // llama.cpp's Gemma 2 always soft-caps (hparams.attn_soft_cap = true)
    if (attnCap === null) throw new AutoRoundError('E_UNSUPPORTED', `${source}: a Gemma 2 without "attn_logit_softcapping" cannot be written to GGUF (llama.cpp always soft-caps its attention)`, { subject: 'attn_logit_softcapping' });
    md.f32(`${p}.attn_logit_softcapping`, attnCap);
  } else if (attnCap !== null) {
    throw new AutoRoundError('E_UNSUPPORTED', `${source}: "attn_logit_softcapping" on Gemma 3 cannot be written to GGUF (llama.cpp's Gemma 3 does not soft-cap attention)`, { subject: 'attn_logit_softcapping' });
  }
  if (finalCap !== null) md.f32(`${p}.final_logit_softcapping`, finalCap);
  else if (arch === 'gemma2') throw new AutoRoundError('E_UNSUPPORTED', `${source}: a Gemma 2 without "final_logit_softcapping" cannot be written to GGUF (llama.cpp always soft-caps its logits)`, { subject: 'final_logit_softcapping' });
  const layerTypes = Array.isArray(config.layer_types) ? (config.layer_types as unknown[]) : null;
  const period = arch === 'gemma2' ? 2 : typeof config.sliding_window_pattern === 'number' ? config.sliding_window_pattern : 6;
  if (layerTypes) {
    // llama.cpp: layer il slides when il % period < period − 1
    layerTypes.forEach((t, il) => {
      if ((t === 'sliding_attention') !== (il % period < period - 1)) {
        throw new AutoRoundError('E_UNSUPPORTED', `${source}: "layer_types"[${il}] ${JSON.stringify(t)} does not follow the period ${period} llama.cpp places sliding layers by`, { subject: 'layer_types' });
      }
    });
  }
  md.u32(`${p}.attention.sliding_window`, need(config, 'sliding_window', source));
  if (arch === 'gemma3') {
    md.u32(`${p}.attention.sliding_window_pattern`, period);
    md.f32(`${p}.rope.freq_base_swa`, typeof config.rope_local_base_freq === 'number' ? config.rope_local_base_freq : 10000);
    if (config.rope_scaling !== undefined && config.rope_scaling !== null) {
      throw new AutoRoundError('E_UNSUPPORTED', `${source}: "rope_scaling" on Gemma 3 is not supported by the GGUF exporter`, { subject: 'rope_scaling' });
    }
  }
}

/**
 * qwen2vl's M-RoPE sections (llama.cpp's `<arch>.rope.dimension_sections`, four int32: temporal, height, width and
 * a fourth llama.cpp pads with 0), from rope_scaling.mrope_section as convert_hf_to_gguf.py writes them. A
 * rope_scaling other than M-RoPE without scaling is refused, naming the field.
 */
function writeRopeSections(md: GgufMetadata, config: HFConfig, headDim: number, source: string): void {
  const rs = config.rope_scaling as Record<string, unknown> | null | undefined;
  const sec = rs?.mrope_section;
  const extra = rs ? Object.keys(rs).find((k) => k !== 'type' && k !== 'rope_type' && k !== 'mrope_section') : undefined;
  if (extra !== undefined) throw new AutoRoundError('E_BAD_CONFIG', `${source}: rope_scaling.${extra} is not supported by the GGUF exporter for qwen2vl (M-RoPE sections only)`, { subject: `rope_scaling.${extra}` });
  if (!Array.isArray(sec) || sec.length > 4 || !sec.every((x) => Number.isInteger(x) && (x as number) >= 0) || sec.reduce((a: number, b) => a + (b as number), 0) !== headDim / 2) {
    throw new AutoRoundError('E_BAD_CONFIG', `${source}: qwen2vl needs rope_scaling.mrope_section, at most 4 non-negative integers summing to head_dim / 2 = ${headDim / 2}; got ${JSON.stringify(sec)}`, { subject: 'rope_scaling.mrope_section' });
  }
  const four = [...(sec as number[]), 0, 0, 0, 0].slice(0, 4);
  md.i32s('qwen2vl.rope.dimension_sections', four);
}

/**
 * Llama-3.1-style rope scaling ("rope_type": "llama3") becomes an F32 tensor rope_freqs.weight of
 * head_dim/2 correction factors, computed as the converter does. Null when not applicable.
 */
export function llama3RopeFactors(config: HFConfig): Float32Array | null {
  const rs = ropeScalingOf(config);
  if (!rs || (rs.rope_type ?? rs.type ?? '').toLowerCase() !== 'llama3') return null;
  const d = modelDims(config);
  const base = typeof config.rope_theta === 'number' ? config.rope_theta : 10000;
  const out = new Float32Array(d.headDim / 2);
  for (let i = 0; i < out.length; i++) {
    // torch: 1 / base ** (arange(0, dim, 2, float32) / dim), in float32
    const freq = Math.fround(1 / Math.fround(base ** Math.fround((2 * i) / d.headDim)));
    const { band, factor, smooth } = llama3FreqBand(rs, freq);
    out[i] = band === 'high' ? 1 : band === 'low' ? factor : 1 / ((1 - smooth) / factor + smooth);
  }
  return out;
}
