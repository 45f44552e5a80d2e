// Small mixture-of-experts checkpoints for the tests (docs/models/moe.md#fixtures): the real families' config.json
// fields and tensor names, built deterministically from llama-256 (a trained 4-block LLaMA): its embeddings,
// attention, norms and head are kept; each expert of a sparse block is a random subset of the trained dense MLP's
// intermediate channels (gate/up rows, down columns scaled by intermediate/subset, so that an expert is an unbiased
// estimate of the dense MLP), each weight perturbed by 5%, so SignRound tunes trained-looking weights; the router is
// seeded random. Written through core-tensor's safetensors writer; llama-256's tokenizer is copied.

import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint, mulberry32, ShardedSafetensorsWriter } from '@autoround/core-tensor';
import { LLAMA256 } from './fixtures.js';

export type MoeFamily = 'qwen3_moe' | 'qwen2_moe' | 'mixtral';

export interface MoeFixtureOptions {
  readonly family: MoeFamily;
  /** Decoder blocks (llama-256's four, repeated in turn beyond them); default 4. */
  readonly layers?: number;
  readonly experts?: number;
  readonly topK?: number;
  /** Each expert's intermediate size (a divisor of 768 is not needed); default 128. */
  readonly expertIntermediate?: number;
  /** Qwen2-MoE's shared expert; default 256. */
  readonly sharedIntermediate?: number;
  /** Qwen: blocks with the dense MLP. */
  readonly mlpOnlyLayers?: readonly number[];
  readonly normTopK?: boolean;
  readonly seed?: number;
  /** Shard size of the safetensors (bytes); default one file. */
  readonly maxShardBytes?: number;
}

const ARCH: Record<MoeFamily, string> = { qwen3_moe: 'Qwen3MoeForCausalLM', qwen2_moe: 'Qwen2MoeForCausalLM', mixtral: 'MixtralForCausalLM' };

function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r());
}

/** Writes config.json, model.safetensors (or shards) and llama-256's tokenizer files into `dir`. */
export function writeMoeFixture(dir: string, o: MoeFixtureOptions): void {
  const src = Checkpoint.open(LLAMA256);
  const base = JSON.parse(readFileSync(join(LLAMA256, 'config.json'), 'utf8')) as Record<string, unknown>;
  const H = 256;
  const D = 768;
  const layers = o.layers ?? 4;
  const E = o.experts ?? 8;
  const K = o.topK ?? 2;
  const I = o.expertIntermediate ?? 128;
  const S = o.sharedIntermediate ?? 256;
  const mlpOnly = o.mlpOnlyLayers ?? [];
  const r = mulberry32(o.seed ?? 1234);
  const mix = o.family === 'mixtral';
  const module = mix ? 'block_sparse_moe' : 'mlp';
  const [gn, un, dn] = mix ? ['w1', 'w3', 'w2'] : ['gate_proj', 'up_proj', 'down_proj'];
  const config: Record<string, unknown> = {
    ...base,
    architectures: [ARCH[o.family]],
    model_type: o.family,
    num_hidden_layers: layers,
    num_experts_per_tok: K,
    router_aux_loss_coef: 0.001,
    output_router_logits: false,
    sliding_window: null,
  };
  delete config.mlp_bias;
  delete config.pretraining_tp;
  if (mix) Object.assign(config, { num_local_experts: E, intermediate_size: I, router_jitter_noise: 0 });
  else {
    Object.assign(config, { num_experts: E, moe_intermediate_size: I, decoder_sparse_step: 1, mlp_only_layers: [...mlpOnly], norm_topk_prob: o.normTopK ?? o.family === 'qwen3_moe', use_sliding_window: false });
    if (o.family === 'qwen2_moe') {
      config.shared_expert_intermediate_size = S;
      delete config.attention_bias;
    }
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json']) if (existsSync(join(LLAMA256, f))) copyFileSync(join(LLAMA256, f), join(dir, f));

  const w = new ShardedSafetensorsWriter(dir, o.maxShardBytes ? { maxShardBytes: o.maxShardBytes, metadata: { format: 'pt' } } : { metadata: { format: 'pt' } });
  const put = (name: string, shape: number[], data: Float32Array) => w.add(name, 'F32', shape, data);
  const read = (name: string) => src.readFloat32(name).data;
  const perturbed = (x: Float32Array, scale = 1) => Float32Array.from(x, (v) => v * scale * (1 + 0.05 * normal(r)));
  const randn = (n: number, sigma: number) => Float32Array.from({ length: n }, () => sigma * normal(r));
  put('model.embed_tokens.weight', [512, H], read('model.embed_tokens.weight'));
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}`;
    const s = `model.layers.${i % 4}`;
    put(`${p}.input_layernorm.weight`, [H], read(`${s}.input_layernorm.weight`));
    put(`${p}.post_attention_layernorm.weight`, [H], read(`${s}.post_attention_layernorm.weight`));
    for (const [n, out] of [['q_proj', 256], ['k_proj', 128], ['v_proj', 128], ['o_proj', 256]] as const) {
      put(`${p}.self_attn.${n}.weight`, [out, n === 'o_proj' ? 256 : H], read(`${s}.self_attn.${n}.weight`));
      if (o.family === 'qwen2_moe' && n !== 'o_proj') put(`${p}.self_attn.${n}.bias`, [out], randn(out, 0.02));
    }
    if (o.family === 'qwen3_moe') for (const n of ['q_norm', 'k_norm']) put(`${p}.self_attn.${n}.weight`, [32], Float32Array.from({ length: 32 }, () => 1 + 0.05 * normal(r)));
    const gate = read(`${s}.mlp.gate_proj.weight`);
    const up = read(`${s}.mlp.up_proj.weight`);
    const down = read(`${s}.mlp.down_proj.weight`);
    if (!mix && mlpOnly.includes(i)) {
      put(`${p}.mlp.gate_proj.weight`, [D, H], gate);
      put(`${p}.mlp.up_proj.weight`, [D, H], up);
      put(`${p}.mlp.down_proj.weight`, [H, D], down);
      continue;
    }
    // an expert: `n` of the dense MLP's channels drawn without replacement
    const expert = (prefix: string, n: number, names: readonly [string, string, string]) => {
      const perm = Array.from({ length: D }, (_, k) => k);
      for (let k = D - 1; k > 0; k--) {
        const j = Math.floor(r() * (k + 1));
        [perm[k], perm[j]] = [perm[j]!, perm[k]!];
      }
      const ch = perm.slice(0, n);
      const g = new Float32Array(n * H);
      const u = new Float32Array(n * H);
      const d = new Float32Array(H * n);
      ch.forEach((c, k) => {
        g.set(gate.subarray(c * H, (c + 1) * H), k * H);
        u.set(up.subarray(c * H, (c + 1) * H), k * H);
        for (let h = 0; h < H; h++) d[h * n + k] = down[h * D + c]!;
      });
      put(`${prefix}.${names[0]}.weight`, [n, H], perturbed(g));
      put(`${prefix}.${names[1]}.weight`, [n, H], perturbed(u));
      put(`${prefix}.${names[2]}.weight`, [H, n], perturbed(d, D / n));
    };
    put(`${p}.${module}.gate.weight`, [E, H], randn(E * H, 0.08));
    for (let e = 0; e < E; e++) expert(`${p}.${module}.experts.${e}`, I, [gn, un, dn]);
    if (o.family === 'qwen2_moe') {
      expert(`${p}.mlp.shared_expert`, S, ['gate_proj', 'up_proj', 'down_proj']);
      put(`${p}.mlp.shared_expert_gate.weight`, [1, H], randn(H, 0.05));
    }
  }
  put('model.norm.weight', [H], read('model.norm.weight'));
  put('lm_head.weight', [512, H], read('lm_head.weight'));
  w.close();
}
