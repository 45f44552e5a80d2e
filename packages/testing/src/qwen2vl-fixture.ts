// A small Qwen2-VL-shaped checkpoint for tests (docs/vlm.md): the text tower is a LLaMA fixture's (stories260K's
// weights, which are in the Hugging Face rotate-half layout Qwen2 uses) plus seeded q/k/v biases, beside a small
// seeded vision tower and merger stored as BF16, a preprocessor_config.json and a chat_template.json. Deterministic:
// every random value comes from mulberry32.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint, ShardedSafetensorsWriter, f32ToBf16Bits, mulberry32 } from '@autoround/core-tensor';

export interface Qwen2VlFixtureOptions {
  /**
   * 'qwen2-vl': the text fields at the top of config.json, tensors model.layers.* and visual.* (the checkpoints as
   * released); 'text-config': the text fields under text_config, tensors model.language_model.* and model.visual.*
   * (as transformers ≥ 4.52 saves them).
   */
  layout: 'qwen2-vl' | 'text-config';
  /** The architectures[0] value (default Qwen2VLForConditionalGeneration). */
  architecture?: string;
  seed?: number;
}

/** The vision tower's tensors (BF16) by name within the tower: patch embedding, one block, the merger. */
function visionShapes(hidden: number): [string, number[]][] {
  const e = 16;
  return [
    ['patch_embed.proj.weight', [e, 3, 2, 2, 2]],
    ['blocks.0.norm1.weight', [e]],
    ['blocks.0.norm1.bias', [e]],
    ['blocks.0.attn.qkv.weight', [3 * e, e]],
    ['blocks.0.attn.qkv.bias', [3 * e]],
    ['blocks.0.attn.proj.weight', [e, e]],
    ['blocks.0.attn.proj.bias', [e]],
    ['blocks.0.norm2.weight', [e]],
    ['blocks.0.norm2.bias', [e]],
    ['blocks.0.mlp.fc1.weight', [2 * e, e]],
    ['blocks.0.mlp.fc1.bias', [2 * e]],
    ['blocks.0.mlp.fc2.weight', [e, 2 * e]],
    ['blocks.0.mlp.fc2.bias', [e]],
    ['merger.ln_q.weight', [e]],
    ['merger.ln_q.bias', [e]],
    ['merger.mlp.0.weight', [4 * e, 4 * e]],
    ['merger.mlp.0.bias', [4 * e]],
    ['merger.mlp.2.weight', [hidden, 4 * e]],
    ['merger.mlp.2.bias', [hidden]],
  ];
}

/**
 * Writes the checkpoint into `dir` from the LLaMA folder `source` (stories260K: hidden 64, head_dim 8, tied
 * embeddings). Returns the vision tensors' names as written.
 */
export function writeQwen2VlFixture(source: string, dir: string, options: Qwen2VlFixtureOptions): { visionTensors: string[] } {
  mkdirSync(dir, { recursive: true });
  const r = mulberry32(options.seed ?? 20251206);
  const src = JSON.parse(readFileSync(join(source, 'config.json'), 'utf8')) as Record<string, unknown>;
  const hidden = Number(src.hidden_size);
  const headDim = Number(src.head_dim ?? hidden / Number(src.num_attention_heads));
  const half = headDim / 2;
  const mropeSection = [half - 2 * Math.floor(half / 4), Math.floor(half / 4), Math.floor(half / 4)];
  const newer = options.layout === 'text-config';
  const textPrefix = newer ? 'model.language_model.' : 'model.';
  const visualPrefix = newer ? 'model.visual.' : 'visual.';
  const text: Record<string, unknown> = {
    hidden_size: hidden,
    intermediate_size: src.intermediate_size,
    num_hidden_layers: src.num_hidden_layers,
    num_attention_heads: src.num_attention_heads,
    num_key_value_heads: src.num_key_value_heads,
    vocab_size: src.vocab_size,
    max_position_embeddings: src.max_position_embeddings,
    rms_norm_eps: src.rms_norm_eps,
    rope_theta: src.rope_theta,
    rope_scaling: { type: 'mrope', mrope_section: mropeSection },
    hidden_act: 'silu',
    use_sliding_window: false,
    sliding_window: 4096,
    max_window_layers: 28,
    attention_dropout: 0,
    bos_token_id: src.bos_token_id,
    eos_token_id: src.eos_token_id,
  };
  if (src.head_dim !== undefined && headDim !== hidden / Number(src.num_attention_heads)) text.head_dim = headDim;
  const vision = { depth: 1, embed_dim: 16, hidden_size: hidden, mlp_ratio: 2, num_heads: 2, in_chans: 3, patch_size: 2, spatial_merge_size: 2, temporal_patch_size: 2 };
  const top = {
    architectures: [options.architecture ?? 'Qwen2VLForConditionalGeneration'],
    model_type: 'qwen2_vl',
    tie_word_embeddings: src.tie_word_embeddings === true,
    torch_dtype: 'float32',
    image_token_id: 151655,
    video_token_id: 151656,
    vision_start_token_id: 151652,
    vision_end_token_id: 151653,
    vision_config: vision,
  };
  const config = newer ? { ...top, text_config: { ...text, model_type: 'qwen2_vl_text' } } : { ...top, ...text };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json']) {
    if (existsSync(join(source, f))) copyFileSync(join(source, f), join(dir, f));
  }
  writeFileSync(
    join(dir, 'preprocessor_config.json'),
    JSON.stringify({ image_processor_type: 'Qwen2VLImageProcessor', patch_size: 2, temporal_patch_size: 2, merge_size: 2, min_pixels: 64, max_pixels: 4096, image_mean: [0.48145466, 0.4578275, 0.40821073], image_std: [0.26862954, 0.26130258, 0.27577711] }, null, 2) + '\n',
  );
  writeFileSync(join(dir, 'chat_template.json'), JSON.stringify({ chat_template: "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}" }, null, 2) + '\n');

  const ck = Checkpoint.open(source);
  const w = new ShardedSafetensorsWriter(dir);
  const randn = (n: number, std: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = std * Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r());
    return a;
  };
  try {
    for (const name of ck.names) {
      if (name.endsWith('rotary_emb.inv_freq')) continue;
      const t = ck.readFloat32(name);
      const out = name.startsWith('model.') ? `${textPrefix}${name.slice('model.'.length)}` : name;
      w.add(out, 'F32', t.shape, t.data);
      const m = /^model\.layers\.(\d+)\.self_attn\.([qkv])_proj\.weight$/.exec(name);
      if (m) w.add(out.replace(/\.weight$/, '.bias'), 'F32', [t.shape[0]!], randn(t.shape[0]!, 0.05));
    }
    const visionTensors: string[] = [];
    for (const [n, shape] of visionShapes(hidden)) {
      const count = shape.reduce((a, b) => a * b, 1);
      const f = randn(count, 0.1);
      const bits = new Uint16Array(count);
      for (let i = 0; i < count; i++) bits[i] = f32ToBf16Bits(f[i]!);
      w.add(`${visualPrefix}${n}`, 'BF16', shape, bits);
      visionTensors.push(`${visualPrefix}${n}`);
    }
    w.close();
    return { visionTensors };
  } finally {
    ck.close();
  }
}
