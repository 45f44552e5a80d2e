// npm run bench -- gguf-export [--layers N] [--type Q4_K_M] [--threads N] [--keep]
//
// Generates a ≥ 1 GB float32 LLaMA-shaped checkpoint (hidden 2048, intermediate 5632, vocab 32000,
// 32 heads / 4 KV heads, random weights) in a temp folder, then measures, each in its own child
// process so that peak RSS is per phase:
//   baseline: reading every tensor as float32 through Checkpoint (the exporter's input path);
//   export:   exportGguf to Q4_K_M (llama.cpp reference quantizers, tensor mix, streaming writer).
// Prints MB/s of input weights and peak RSS for both and ends with one JSON line; the ratio is
// export MB/s ÷ read MB/s. The temp folder is deleted afterwards.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Checkpoint, ShardedSafetensorsWriter } from '@autoround/core-tensor';
import { exportGguf, readGguf } from '@autoround/export-gguf';

const HIDDEN = 2048;
const INTER = 5632;
const VOCAB = 32000;
const HEADS = 32;
const KV_HEADS = 4;
const HEAD_DIM = HIDDEN / HEADS;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

/** Fast approximately-normal values (sum of four uniforms), σ ≈ 0.02. */
function fill(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  for (let i = 0; i < n; i++) x[i] = (u() + u() + u() + u() - 2) * 0.035;
  return x;
}

function generate(dir: string, layers: number): number {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: HIDDEN,
      intermediate_size: INTER,
      num_hidden_layers: layers,
      num_attention_heads: HEADS,
      num_key_value_heads: KV_HEADS,
      vocab_size: VOCAB,
      max_position_embeddings: 2048,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: false,
      bos_token_id: 1,
      eos_token_id: 2,
      torch_dtype: 'float32',
    }),
  );
  // a SentencePiece-style vocabulary: specials, 256 byte tokens, then pieces
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  for (let i = 259; i < VOCAB; i++) vocab[`\u2581p${i}`] = i;
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  writeFileSync(
    join(dir, 'tokenizer.json'),
    JSON.stringify({
      version: '1.0',
      added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
      model: { type: 'BPE', unk_token: '<unk>', byte_fallback: true, fuse_unk: true, vocab, merges: [] },
    }),
  );
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true }));
  const w = new ShardedSafetensorsWriter(dir, { maxShardBytes: 400_000_000 });
  let seed = 1;
  let bytes = 0;
  const add = (name: string, shape: number[], ones = false) => {
    const n = shape.reduce((a, b) => a * b, 1);
    w.add(name, 'F32', shape, ones ? new Float32Array(n).fill(1) : fill(n, seed++));
    bytes += n * 4;
  };
  add('model.embed_tokens.weight', [VOCAB, HIDDEN]);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [HIDDEN], true);
    add(`${p}.self_attn.q_proj.weight`, [HEADS * HEAD_DIM, HIDDEN]);
    add(`${p}.self_attn.k_proj.weight`, [KV_HEADS * HEAD_DIM, HIDDEN]);
    add(`${p}.self_attn.v_proj.weight`, [KV_HEADS * HEAD_DIM, HIDDEN]);
    add(`${p}.self_attn.o_proj.weight`, [HIDDEN, HEADS * HEAD_DIM]);
    add(`${p}.post_attention_layernorm.weight`, [HIDDEN], true);
    add(`${p}.mlp.gate_proj.weight`, [INTER, HIDDEN]);
    add(`${p}.mlp.up_proj.weight`, [INTER, HIDDEN]);
    add(`${p}.mlp.down_proj.weight`, [HIDDEN, INTER]);
  }
  add('model.norm.weight', [HIDDEN], true);
  add('lm_head.weight', [VOCAB, HIDDEN]);
  w.close();
  return bytes;
}

interface PhaseResult {
  seconds: number;
  bytes: number;
  maxRssMB: number;
  fileBytes?: number;
  tensors?: number;
}

/** Child-process side: run one phase and print its figures as JSON. */
async function runPhase(phase: string, dir: string): Promise<void> {
  const t0 = performance.now();
  let bytes = 0;
  let fileBytes: number | undefined;
  let tensors: number | undefined;
  if (phase === 'read') {
    const ck = Checkpoint.open(dir);
    for (const [shard, names] of ck.namesByShard()) {
      for (const n of names) bytes += ck.readFloat32(n).data.byteLength;
      ck.release(shard);
    }
    ck.close();
  } else {
    const out = join(dir, 'out.gguf');
    const threads = Number(arg('threads', String(availableParallelism())));
    const r = await exportGguf({ modelDir: dir, outFile: out, fileType: arg('type', 'Q4_K_M'), threads });
    const ck = Checkpoint.open(dir);
    for (const n of ck.names) bytes += ck.info(n).end - ck.info(n).begin;
    ck.close();
    fileBytes = statSync(out).size;
    tensors = readGguf(out).tensors.length;
    void r;
  }
  const seconds = (performance.now() - t0) / 1000;
  const res: PhaseResult = { seconds, bytes, maxRssMB: process.resourceUsage().maxRSS / 1024, fileBytes, tensors };
  process.stdout.write(`PHASE ${JSON.stringify(res)}\n`);
}

function phase(name: string, dir: string): PhaseResult {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [...process.execArgv, self, '--phase', name, '--dir', dir, ...process.argv.slice(2)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('PHASE '));
  if (r.status !== 0 || !line) throw new Error(`phase ${name} failed (${r.status}):\n${r.stderr}`);
  return JSON.parse(line.slice(6)) as PhaseResult;
}

async function main(): Promise<void> {
  const p = process.argv.indexOf('--phase');
  if (p >= 0) return runPhase(process.argv[p + 1]!, arg('dir', ''));
  const layers = Number(arg('layers', '3'));
  const type = arg('type', 'Q4_K_M');
  const threads = Number(arg('threads', String(availableParallelism())));
  const root = mkdtempSync(join(tmpdir(), 'gguf-export-bench-'));
  const dir = join(root, 'model');
  try {
    console.log(`generating a LLaMA-shaped float32 checkpoint: hidden ${HIDDEN}, intermediate ${INTER}, vocab ${VOCAB}, ${layers} layers …`);
    const tg = performance.now();
    const bytes = generate(dir, layers);
    console.log(`  ${(bytes / 1e9).toFixed(3)} GB of weights in ${((performance.now() - tg) / 1000).toFixed(1)} s (${dir})`);
    console.log('baseline: read every tensor as float32 through Checkpoint …');
    const read = phase('read', dir);
    const readMBs = read.bytes / 1e6 / read.seconds;
    console.log(`  ${read.seconds.toFixed(1)} s, ${readMBs.toFixed(1)} MB/s, peak RSS ${read.maxRssMB.toFixed(0)} MB`);
    console.log(`export: exportGguf → ${type}, ${threads} thread(s) …`);
    const exp = phase('export', dir);
    const expMBs = exp.bytes / 1e6 / exp.seconds;
    console.log(`  ${exp.seconds.toFixed(1)} s, ${expMBs.toFixed(1)} MB/s of input weights, peak RSS ${exp.maxRssMB.toFixed(0)} MB, file ${(exp.fileBytes! / 1e6).toFixed(1)} MB, ${exp.tensors} tensors`);
    const result = {
      bench: 'gguf-export',
      type,
      threads,
      input_mb: Math.round(bytes / 1e6),
      file_mb: Math.round(exp.fileBytes! / 1e6),
      export_s: Number(exp.seconds.toFixed(2)),
      export_mb_per_s: Number(expMBs.toFixed(2)),
      read_mb_per_s: Number(readMBs.toFixed(1)),
      peak_rss_mb_export: Math.round(exp.maxRssMB),
      peak_rss_mb_read: Math.round(read.maxRssMB),
      rss_ratio: Number((exp.maxRssMB / read.maxRssMB).toFixed(2)),
      ratio: Number((expMBs / readMBs).toFixed(4)),
    };
    console.log(JSON.stringify(result));
  } finally {
    if (!process.argv.includes('--keep')) rmSync(root, { recursive: true, force: true });
  }
}

await main();
