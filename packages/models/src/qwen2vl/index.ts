// Qwen2-VL and Qwen2.5-VL: the text tower (Qwen2's block) of a vision-language checkpoint. The vision tower and its
// merger are not part of the spec, so no algorithm touches them and every exporter copies them as they are
// (docs/vlm.md). Text-only input, which calibration, evaluation and generation use, reduces M-RoPE to 1-D RoPE.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { Checkpoint } from '@autoround/core-tensor';
import { type ArchitecturePlugin, AutoRoundError, type HFConfig } from '@autoround/core';
import type { LlamaVariant } from '../llama/dims.js';
import { LlamaModel } from '../llama/model.js';
import { describeLlama } from '../llama/spec.js';
import { loadTokenizer } from '../tokenizer.js';

/** Qwen2-VL's language model: Qwen2's block (q/k/v biases, none on o_proj). */
export const QWEN2_VL: LlamaVariant = {
  name: 'qwen2_vl',
  hfArchitectures: ['Qwen2VLForConditionalGeneration', 'Qwen2_5_VLForConditionalGeneration'],
  adjust: (d) => ({ ...d, qkvBias: true, oBias: false }),
};

/** The rope_scaling keys of a Qwen2-VL config that text-only decoding implements. */
const ROPE_KEYS = new Set(['type', 'rope_type', 'mrope_section']);

/**
 * The text model's config: config.json's top-level fields (Qwen2-VL, Qwen2.5-VL as released) overlaid with
 * `text_config` (newer transformers), with rope_scaling checked and removed: M-RoPE rotates sections of each head by
 * the temporal, height and width position ids, which for text are all the token's position, so every section gets
 * the angle of 1-D RoPE and the sections do not matter (docs/vlm.md). Anything else is refused, naming the field.
 */
export function qwen2VlTextConfig(config: HFConfig, file: string): HFConfig {
  const tc = config.text_config;
  if (tc !== undefined && tc !== null && (typeof tc !== 'object' || Array.isArray(tc))) {
    throw new AutoRoundError('E_BAD_CONFIG', `${file}: text_config must be an object`, { subject: 'text_config' });
  }
  const { text_config: _text, vision_config: _vision, ...top } = config;
  const text: HFConfig = { ...top, ...((tc as HFConfig | undefined) ?? {}), architectures: config.architectures };
  const where = tc ? 'text_config.' : '';
  if (text.use_sliding_window === true) {
    throw new AutoRoundError('E_UNSUPPORTED', `${file}: ${where}use_sliding_window true is not implemented (sliding-window attention); only full attention`, { subject: `${where}use_sliding_window` });
  }
  const rs = text.rope_scaling;
  if (rs !== undefined && rs !== null) {
    if (typeof rs !== 'object' || Array.isArray(rs)) throw new AutoRoundError('E_BAD_CONFIG', `${file}: ${where}rope_scaling must be an object`, { subject: `${where}rope_scaling` });
    const r = rs as Record<string, unknown>;
    for (const k of Object.keys(r)) {
      if (!ROPE_KEYS.has(k)) throw new AutoRoundError('E_UNSUPPORTED', `${file}: ${where}rope_scaling.${k} is not implemented for ${QWEN2_VL.name} (implemented: M-RoPE with mrope_section, no scaling)`, { subject: `${where}rope_scaling.${k}` });
    }
    for (const k of ['type', 'rope_type']) {
      const t = r[k];
      if (t !== undefined && t !== 'mrope' && t !== 'default') {
        throw new AutoRoundError('E_UNSUPPORTED', `${file}: ${where}rope_scaling.${k} "${String(t)}" is not implemented for ${QWEN2_VL.name} (mrope or default)`, { subject: `${where}rope_scaling.${k}` });
      }
    }
    const sec = r.mrope_section;
    if (sec !== undefined) {
      const heads = Number(text.num_attention_heads);
      const headDim = typeof text.head_dim === 'number' ? text.head_dim : Number(text.hidden_size) / heads;
      if (!Array.isArray(sec) || !sec.every((x) => Number.isInteger(x) && (x as number) >= 0) || sec.reduce((a: number, b) => a + (b as number), 0) !== headDim / 2) {
        throw new AutoRoundError('E_BAD_CONFIG', `${file}: ${where}rope_scaling.mrope_section ${JSON.stringify(sec)} must be non-negative integers summing to head_dim / 2 = ${headDim / 2}`, {
          subject: `${where}rope_scaling.mrope_section`,
        });
      }
    }
    delete text.rope_scaling;
  }
  return text;
}

/**
 * Where the text tower's tensors are: "model.language_model." (newer transformers) when the folder's checkpoint has
 * model.language_model.embed_tokens.weight, "model." when it has model.embed_tokens.weight; without a readable
 * checkpoint, what the config's shape implies (text_config: newer transformers).
 */
export function qwen2VlTextPrefix(config: HFConfig, file: string): string {
  const dir = dirname(file);
  const hasWeights = existsSync(dir) && (existsSync(`${dir}/model.safetensors`) || existsSync(`${dir}/model.safetensors.index.json`));
  if (hasWeights) {
    const ck = Checkpoint.open(dir);
    try {
      if (ck.has('model.language_model.embed_tokens.weight')) return 'model.language_model.';
      if (ck.has('model.embed_tokens.weight')) return 'model.';
    } finally {
      ck.close();
    }
  }
  return config.text_config ? 'model.language_model.' : 'model.';
}

export const qwen2VlArchitecture: ArchitecturePlugin = {
  name: QWEN2_VL.name,
  hfArchitectures: QWEN2_VL.hfArchitectures,
  describe: (config, file) => describeLlama(qwen2VlTextConfig(config, file), file, QWEN2_VL, qwen2VlTextPrefix(config, file)),
  load: (spec, weights, backend, options) => new LlamaModel(spec, weights, backend, QWEN2_VL, options),
  tokenizer: loadTokenizer,
};
