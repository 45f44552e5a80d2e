// The whole-run wall time of issue #3 at the Qwen3-0.6B block shape: a one-block Qwen3 checkpoint
// (hidden 1024, intermediate 3072, 16 query / 8 KV heads of 128, q/k norms, random weights, the
// llama-256 tokenizer and its 512-token vocabulary) is written to a temp folder, then the CLI
// quantizes it with the default recipe (W4G128 sym, 200 iterations, batch 8) on nsamples x seqlen
// calibration tokens of the C4 sample, from load to an auto_round folder.
//   npm run qwen3-block-run -- [--iters 200] [--nsamples 128] [--seqlen 512] [--keep]
// Runs the built CLI (packages/cli/bin/auto-round.js): `npm run build` first. Ends with one JSON line.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ShardedSafetensorsWriter } from '@autoround/core-tensor';
import { xorshiftRandom } from '@autoround/testing';

const HIDDEN = 1024;
const INTER = 3072;
const HEADS = 16;
const KV_HEADS = 8;
const HEAD_DIM = 128;
const SHARED = resolve(import.meta.dirname, '../../../shared');
const TOKENIZER_FROM = join(SHARED, 'models/llama-256');
const arg = (k: string, d: string) => (process.argv.includes(`--${k}`) ? process.argv[process.argv.indexOf(`--${k}`) + 1]! : d);

const work = mkdtempSync(join(tmpdir(), 'qwen3-block-'));
const model = join(work, 'model');
const out = join(work, 'out');
try {
  writeCheckpoint(model);
  const args = [
    resolve(import.meta.dirname, '../../packages/cli/bin/auto-round.js'),
    '--model', model,
    '--iters', arg('iters', '200'),
    '--nsamples', arg('nsamples', '128'),
    '--seqlen', arg('seqlen', '512'),
    '--seed', '42',
    '--dataset', join(SHARED, 'datasets/calibration/c4_sample_1480.text.jsonl'),
    '--format', 'auto_round',
    '--output_dir', out,
  ];
  const load0 = loadavg()[0]!;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`auto-round exited with ${r.status}`);
  console.log(`qwen3-block-run: ${seconds.toFixed(1)} s wall, load average ${load0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}`);
  console.log(JSON.stringify({ run: 'qwen3-block', iters: Number(arg('iters', '200')), nsamples: Number(arg('nsamples', '128')), seqlen: Number(arg('seqlen', '512')), seconds: +seconds.toFixed(1), load_average_start: +load0.toFixed(2), load_average_end: +loadavg()[0]!.toFixed(2) }));
} finally {
  if (!process.argv.includes('--keep')) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}

function writeCheckpoint(dir: string): void {
  const rand = xorshiftRandom(7);
  // approximately normal (sum of four uniforms), σ ≈ 0.02 like a trained projection's scale
  const fill = (n: number, scale = 0.035) => Float32Array.from({ length: n }, () => (rand() + rand() + rand() + rand() - 2) * scale);
  const ones = (n: number) => new Float32Array(n).fill(1);
  const vocab = 512;
  mkdirSync(dir, { recursive: true });
  const w = new ShardedSafetensorsWriter(dir, {});
  w.add('model.embed_tokens.weight', 'F32', [vocab, HIDDEN], fill(vocab * HIDDEN, 0.5));
  const p = 'model.layers.0';
  w.add(`${p}.input_layernorm.weight`, 'F32', [HIDDEN], ones(HIDDEN));
  w.add(`${p}.self_attn.q_proj.weight`, 'F32', [HEADS * HEAD_DIM, HIDDEN], fill(HEADS * HEAD_DIM * HIDDEN));
  w.add(`${p}.self_attn.k_proj.weight`, 'F32', [KV_HEADS * HEAD_DIM, HIDDEN], fill(KV_HEADS * HEAD_DIM * HIDDEN));
  w.add(`${p}.self_attn.v_proj.weight`, 'F32', [KV_HEADS * HEAD_DIM, HIDDEN], fill(KV_HEADS * HEAD_DIM * HIDDEN));
  w.add(`${p}.self_attn.q_norm.weight`, 'F32', [HEAD_DIM], ones(HEAD_DIM));
  w.add(`${p}.self_attn.k_norm.weight`, 'F32', [HEAD_DIM], ones(HEAD_DIM));
  w.add(`${p}.self_attn.o_proj.weight`, 'F32', [HIDDEN, HEADS * HEAD_DIM], fill(HIDDEN * HEADS * HEAD_DIM));
  w.add(`${p}.post_attention_layernorm.weight`, 'F32', [HIDDEN], ones(HIDDEN));
  w.add(`${p}.mlp.gate_proj.weight`, 'F32', [INTER, HIDDEN], fill(INTER * HIDDEN));
  w.add(`${p}.mlp.up_proj.weight`, 'F32', [INTER, HIDDEN], fill(INTER * HIDDEN));
  w.add(`${p}.mlp.down_proj.weight`, 'F32', [HIDDEN, INTER], fill(HIDDEN * INTER));
  w.add('model.norm.weight', 'F32', [HIDDEN], ones(HIDDEN));
  w.close();
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['Qwen3ForCausalLM'],
      model_type: 'qwen3',
      hidden_size: HIDDEN,
      intermediate_size: INTER,
      num_hidden_layers: 1,
      num_attention_heads: HEADS,
      num_key_value_heads: KV_HEADS,
      head_dim: HEAD_DIM,
      vocab_size: vocab,
      max_position_embeddings: 4096,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000,
      tie_word_embeddings: true,
      hidden_act: 'silu',
      bos_token_id: 1,
      eos_token_id: 2,
      torch_dtype: 'float32',
    }),
  );
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(TOKENIZER_FROM, f), join(dir, f));
}
