// Time and memory of AutoScheme's scoring (one option: the block-wise forward and backward of the LM loss) on a
// Qwen3-0.6B-shaped block stack (hidden 1024, intermediate 3072, 16 query / 8 KV heads of 128, q/k norms, random
// weights, a 512-token vocabulary) and on llama-256 (issue #17, docs/autoscheme.md#figures).
//   npm run autoscheme-scoring-bench -- [--model qwen3|llama256] [--blocks 4] [--nsamples 4] [--seqlen 256] [--option W4A16]
//                                       [--vocab 512] [--threads N]
// (--blocks 28 --vocab 151936: a whole Qwen3-0.6B, its real vocabulary and tied embeddings.)
// Peak memory is the process's maximum resident set (the float model, the block inputs, one block's graph).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Checkpoint, ShardedSafetensorsWriter } from '@autoround/core-tensor';
import { fullName, isBlockTunable, presetScheme, readConfig } from '@autoround/core';
import { nativeBackend } from '@autoround/kernels-cpu';
import { llamaArchitecture, qwen3Architecture } from '@autoround/models';
import { deltaLossScores, rtnQdq } from '@autoround/autoscheme';
import { mulberry32, xorshiftRandom } from '@autoround/testing';
import { peakRssMiB } from '../bench/peak-rss.js';

const SHARED = resolve(import.meta.dirname, '../../../shared');
const arg = (k: string, d: string) => (process.argv.includes(`--${k}`) ? process.argv[process.argv.indexOf(`--${k}`) + 1]! : d);
const which = arg('model', 'qwen3');
const blocks = Number(arg('blocks', '4'));
const nsamples = Number(arg('nsamples', '4'));
const seqlen = Number(arg('seqlen', '256'));
const scheme = presetScheme(arg('option', 'W4A16'));
const vocab = Number(arg('vocab', '512'));
const threads = arg('threads', '');
const work = mkdtempSync(join(tmpdir(), 'as-bench-'));
try {
  const dir = which === 'qwen3' ? writeQwen3(join(work, 'model'), blocks, vocab) : join(SHARED, 'models/llama-256');
  const arch = which === 'qwen3' ? qwen3Architecture : llamaArchitecture;
  const backend = nativeBackend.create(threads ? { threads: Number(threads) } : {});
  const spec = arch.describe(readConfig(dir), join(dir, 'config.json'));
  const ckpt = Checkpoint.open(dir);
  const model = arch.load(spec, ckpt, backend);
  if (!isBlockTunable(model)) throw new Error('not block-tunable');
  const rssLoaded = process.memoryUsage().rss;
  const r = mulberry32(3);
  const samples = Array.from({ length: nsamples }, () => Int32Array.from({ length: seqlen }, () => Math.floor(r() * spec.vocabSize)));
  const layers = new Set(spec.blocks.flatMap((b) => b.linears.map((l) => fullName(b, l))));
  const load0 = loadavg()[0]!;
  const t0 = performance.now();
  const res = await deltaLossScores(
    { model, spec, backend, weight: (n) => ckpt.readFloat32(`${n}.weight`).data, qdq: (n, w, out, inF) => (layers.has(n) ? rtnQdq(n, scheme, w, out, inF) : undefined) },
    { samples, batchSize: 1 },
  );
  const seconds = (performance.now() - t0) / 1000;
  const peak = peakRssMiB() * 2 ** 20;
  const params = spec.blocks.reduce((a, b) => a + b.linears.reduce((c, l) => c + l.outFeatures * l.inFeatures, 0), 0);
  const out = {
    bench: 'autoscheme-scoring', model: which, blocks: spec.blocks.length, vocab: spec.vocabSize, nsamples, seqlen, option: arg('option', 'W4A16'), seconds: +seconds.toFixed(1),
    seconds_per_block_per_1k_tokens: +(seconds / spec.blocks.length / ((nsamples * seqlen) / 1000)).toFixed(2),
    linear_params_mib: +((params * 4) / 2 ** 20).toFixed(1), rss_after_load_mib: +(rssLoaded / 2 ** 20).toFixed(0), peak_rss_mib: +(peak / 2 ** 20).toFixed(0),
    block_inputs_mib: +((res.activationFloats * 4) / 2 ** 20).toFixed(1), threads: backend.threads, load_average: [+load0.toFixed(1), +loadavg()[0]!.toFixed(1)],
  };
  console.log(JSON.stringify(out));
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** A Qwen3-0.6B-shaped checkpoint of `n` blocks (random weights, tied embeddings, a vocabulary of V tokens). */
function writeQwen3(dir: string, n: number, V: number): string {
  const [H, I, HEADS, KV, HD] = [1024, 3072, 16, 8, 128];
  const rand = xorshiftRandom(7);
  const fill = (k: number, scale = 0.035) => Float32Array.from({ length: k }, () => (rand() + rand() + rand() + rand() - 2) * scale);
  const ones = (k: number) => new Float32Array(k).fill(1);
  mkdirSync(dir, { recursive: true });
  const w = new ShardedSafetensorsWriter(dir, {});
  w.add('model.embed_tokens.weight', 'F32', [V, H], fill(V * H, 0.5));
  for (let i = 0; i < n; i++) {
    const p = `model.layers.${i}`;
    w.add(`${p}.input_layernorm.weight`, 'F32', [H], ones(H));
    w.add(`${p}.self_attn.q_proj.weight`, 'F32', [HEADS * HD, H], fill(HEADS * HD * H));
    w.add(`${p}.self_attn.k_proj.weight`, 'F32', [KV * HD, H], fill(KV * HD * H));
    w.add(`${p}.self_attn.v_proj.weight`, 'F32', [KV * HD, H], fill(KV * HD * H));
    w.add(`${p}.self_attn.q_norm.weight`, 'F32', [HD], ones(HD));
    w.add(`${p}.self_attn.k_norm.weight`, 'F32', [HD], ones(HD));
    w.add(`${p}.self_attn.o_proj.weight`, 'F32', [H, HEADS * HD], fill(H * HEADS * HD));
    w.add(`${p}.post_attention_layernorm.weight`, 'F32', [H], ones(H));
    w.add(`${p}.mlp.gate_proj.weight`, 'F32', [I, H], fill(I * H));
    w.add(`${p}.mlp.up_proj.weight`, 'F32', [I, H], fill(I * H));
    w.add(`${p}.mlp.down_proj.weight`, 'F32', [H, I], fill(H * I));
  }
  w.add('model.norm.weight', 'F32', [H], ones(H));
  w.close();
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: H, intermediate_size: I, num_hidden_layers: n, num_attention_heads: HEADS, num_key_value_heads: KV, head_dim: HD, vocab_size: V, max_position_embeddings: 4096, rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true, hidden_act: 'silu', bos_token_id: 1, eos_token_id: 2, torch_dtype: 'float32' }));
  return dir;
}
