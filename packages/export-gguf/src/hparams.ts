// Architecture hyper-parameters (docs/formats/gguf.md#hyper-parameters) with the exact key types llama.cpp checks.

import { AutoRoundError } from '@autoround/core-tensor';
import { type HFConfig, llama3FreqBand, ropeScalingOf, transformerDims } from '@autoround/core';
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
  if (arch === 'llama') md.u32(`${p}.rope.dimension_count`, d.headDim);
  if (arch === 'qwen3' || d.headDim !== Math.floor(d.nEmbd / d.nHead) || typeof config.head_dim === 'number') {
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
