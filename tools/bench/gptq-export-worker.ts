// Child process of gptq-export.bench.ts: generates the checkpoint, or does one measured run
// (plain read, fake export or auto_gptq export) in its own process so its peak RSS is its own.
// Prints one JSON line.
import { closeSync, mkdirSync, openSync, readdirSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AutoRound, silentLogger } from '@autoround/autoround';
import { ShardedSafetensorsWriter, f32ToBf16Bits } from '@autoround/core-tensor';
import { peakRssMiB } from './peak-rss.js';

const [mode, src, out, shardBytes, ...dims] = process.argv.slice(2) as [string, string, string, string, ...string[]];

/** A LLaMA-shaped bf16 checkpoint with random weights, in 400 MB shards. */
function generate(layers: number, hidden: number, inter: number, vocab: number, kvHeads: number): void {
  const heads = 16;
  const hd = hidden / heads;
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: hidden,
    intermediate_size: inter,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: hd,
    vocab_size: vocab,
    max_position_embeddings: 2048,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
  };
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'config.json'), JSON.stringify(config, null, 2));
  // a table of gaussian bf16 values, copied from a moving offset: cheap, and no group is constant
  const table = new Uint16Array(1 << 20);
  let seed = 12345;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < table.length; i++) table[i] = f32ToBf16Bits(Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand()) * 0.02);
  let off = 0;
  const randn = (n: number) => {
    const a = new Uint16Array(n);
    for (let i = 0; i < n; ) {
      off = (off + 7919) % table.length;
      const k = Math.min(table.length - off, n - i);
      a.set(table.subarray(off, off + k), i);
      i += k;
    }
    return a;
  };
  const ones = (n: number) => new Uint16Array(n).fill(f32ToBf16Bits(1));
  const w = new ShardedSafetensorsWriter(src, { maxShardBytes: 400e6 });
  let total = 0;
  let blockBytes = 0;
  const add = (name: string, shape: number[], data: Uint16Array) => {
    w.add(name, 'BF16', shape, data);
    total += data.byteLength;
  };
  process.stderr.write(`writing a ${layers}-layer LLaMA (hidden ${hidden}, intermediate ${inter}, vocab ${vocab}) in bf16 to ${src}\n`);
  add('model.embed_tokens.weight', [vocab, hidden], randn(vocab * hidden));
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    const before = total;
    add(`${p}.input_layernorm.weight`, [hidden], ones(hidden));
    add(`${p}.self_attn.q_proj.weight`, [hidden, hidden], randn(hidden * hidden));
    add(`${p}.self_attn.k_proj.weight`, [kvHeads * hd, hidden], randn(kvHeads * hd * hidden));
    add(`${p}.self_attn.v_proj.weight`, [kvHeads * hd, hidden], randn(kvHeads * hd * hidden));
    add(`${p}.self_attn.o_proj.weight`, [hidden, hidden], randn(hidden * hidden));
    add(`${p}.post_attention_layernorm.weight`, [hidden], ones(hidden));
    add(`${p}.mlp.gate_proj.weight`, [inter, hidden], randn(inter * hidden));
    add(`${p}.mlp.up_proj.weight`, [inter, hidden], randn(inter * hidden));
    add(`${p}.mlp.down_proj.weight`, [hidden, inter], randn(hidden * inter));
    blockBytes = total - before;
  }
  add('model.norm.weight', [hidden], ones(hidden));
  add('lm_head.weight', [vocab, hidden], randn(vocab * hidden));
  w.close();
  process.stdout.write(JSON.stringify({ total, blockBytes }) + '\n');
}

if (mode === 'generate') {
  const [layers, hidden, inter, vocab, kvHeads] = dims.map(Number) as [number, number, number, number, number];
  generate(layers, hidden, inter, vocab, kvHeads);
  process.exit(0);
}

const sourceBytes = readdirSync(src)
  .filter((f) => f.endsWith('.safetensors'))
  .reduce((n, f) => n + statSync(join(src, f)).size, 0);
const t0 = process.hrtime.bigint();
if (mode === 'plain') {
  // the ceiling: one sequential pass over every shard with a reused 64 MiB buffer
  const buf = Buffer.allocUnsafe(64 << 20);
  let checksum = 0;
  for (const f of readdirSync(src).filter((x) => x.endsWith('.safetensors')).sort()) {
    const fd = openSync(join(src, f), 'r');
    const size = statSync(join(src, f)).size;
    for (let pos = 0; pos < size; ) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      checksum = (checksum + buf[0]!) | 0;
      pos += n;
    }
    closeSync(fd);
  }
  if (checksum === 0.5) process.stderr.write('\n');
} else {
  const ar = new AutoRound(src, { scheme: 'W4A16', groupSize: 128, iters: 0, disableOptRtn: true, maxShardSize: Number(shardBytes), overwrite: true, log: silentLogger, discoverPlugins: false, skipSanityCheck: true });
  await ar.quantizeAndSave(out, { format: mode });
}
const sec = Number(process.hrtime.bigint() - t0) / 1e9;
const shards = mode === 'plain' ? [] : readdirSync(out).filter((f) => f.endsWith('.safetensors')).map((f) => statSync(join(out, f)).size);
process.stdout.write(
  JSON.stringify({
    mode,
    sec,
    cpuSec: (process.resourceUsage().userCPUTime + process.resourceUsage().systemCPUTime) / 1e6,
    sourceBytes,
    outBytes: shards.reduce((a, b) => a + b, 0),
    largestOutShard: Math.max(0, ...shards),
    maxRssBytes: peakRssMiB() * 2 ** 20,
  }) + '\n',
);
