// npm run bench -- gguf-export [--layers N] [--type Q4_K_M,Q6_K,…] [--threads N] [--no-llama] [--keep]
//
// Generates a ≥ 1 GB float32 LLaMA-shaped checkpoint (hidden 2048, intermediate 5632, vocab 32000,
// 32 heads / 4 KV heads, random weights) in a temp folder, then measures, each in its own child
// process so that peak RSS is per phase:
//   baseline: reading every tensor as float32 through Checkpoint (the exporter's input path);
//   export:   exportGguf to each file type (default Q4_K_M, Q6_K, Q3_K_M, Q2_K, Q8_0: llama.cpp reference
//             quantizers, tensor mix, streaming writer), wall-clock of the whole call;
//   quantize: our quantizeRows alone over the same tensors (float32 already in memory);
//   llama.cpp: ggml_quantize_chunk of node-llama-cpp's libggml-base.so (tools/bench/ggml-reference.py,
//             python ctypes, the same thread count, llama-quantize's row chunks) over the same float32
//             tensors (our exporter's F32 GGUF of the checkpoint: same names, permutations, rows), each
//             to the type our file gave it; its bytes are compared with our file's tensor data.
// Prints MB/s of input weights and peak RSS and ends with one JSON line per file type; vs_llama is
// our export seconds ÷ llama.cpp's quantize seconds (≤ 1: ours is at least as fast), vs_llama_total the same
// against llama.cpp reading + quantizing + writing, and *_cpu the same in CPU seconds of all threads (what
// to compare on a loaded machine, where wall clock mostly measures the scheduler). The temp folder
// is deleted afterwards. docs/perf/gguf-export.md has the method and the figures.

import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Checkpoint, ShardedSafetensorsWriter } from '@autoround/core-tensor';
import { exportGguf, type GgufFile, readGguf, readGgufTensorF32 } from '@autoround/export-gguf';
import { GGMLType, quantBackendOf, quantizeRows } from '@autoround/quant-types';
import { peakRssMiB } from './peak-rss.js';

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
  backend?: string;
  /** CPU seconds of every thread of the phase's process over the timed part (robust to a loaded machine). */
  cpuSeconds?: number;
}

const DEFAULT_TYPES = 'Q4_K_M,Q6_K,Q3_K_M,Q2_K,Q8_0';
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The tensors of `file` that llama.cpp would quantize (all but F32), in file order. */
function quantizedTensors(file: GgufFile): GgufFile['tensors'] {
  return file.tensors.filter((t) => t.type !== GGMLType.F32);
}

/** node-llama-cpp's libggml-base.so, as the byte-identity tests find it (x64 Linux prebuilt). */
function findGgmlBase(): string | null {
  const p = join(repoRoot, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so');
  return process.arch === 'x64' && existsSync(p) ? p : null;
}

/** Reads `n` bytes at `pos` of an open file. */
function readAt(fd: number, pos: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let done = 0; done < n; ) {
    const r = readSync(fd, b, done, Math.min(1 << 30, n - done), pos + done);
    if (r <= 0) throw new Error(`short read at ${pos + done}`);
    done += r;
  }
  return b;
}

interface LlamaResult {
  quantize_s: number;
  total_s: number;
  quantize_cpu_s: number;
  total_cpu_s: number;
  identical: boolean;
  firstDiff: string | null;
}

/**
 * llama.cpp's quantizer over the F32 file's tensors, each to the type `ours` gave it, on `threads` threads;
 * then its bytes against `ours`' tensor data.
 */
function llamaReference(lib: string, f32Path: string, oursPath: string, threads: number, root: string): LlamaResult {
  const f32 = readGguf(f32Path);
  const ours = readGguf(oursPath);
  const byName = new Map(f32.tensors.map((t) => [t.name, t]));
  const jobs = quantizedTensors(ours).map((t) => {
    const src = byName.get(t.name);
    if (!src || src.type !== GGMLType.F32) throw new Error(`${f32Path}: no F32 tensor "${t.name}"`);
    const ne0 = t.ne[0]!;
    const nrows = t.ne.reduce((a, b) => a * b, 1) / ne0;
    return { t, line: `${t.type} ${ne0} ${nrows} ${f32Path} ${f32.dataOffset + src.offset}` };
  });
  const jobsFile = join(root, 'llama-jobs.txt');
  const outFile = join(root, 'llama-out.bin');
  writeFileSync(jobsFile, jobs.map((j) => j.line).join('\n') + '\n');
  const out = execFileSync('python3', [join(repoRoot, 'tools/bench/ggml-reference.py'), lib, String(threads), jobsFile, outFile], { encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').pop()!) as Omit<LlamaResult, 'identical' | 'firstDiff'>;
  // compare tensor by tensor: the reference file holds the tensors' bytes back to back
  const fa = openSync(oursPath, 'r');
  const fb = openSync(outFile, 'r');
  let pos = 0;
  let firstDiff: string | null = null;
  try {
    for (const { t } of jobs) {
      const a = readAt(fa, ours.dataOffset + t.offset, t.nbytes);
      const b = readAt(fb, pos, t.nbytes);
      pos += t.nbytes;
      if (!a.equals(b)) {
        let i = 0;
        while (a[i] === b[i]) i++;
        firstDiff = `${t.name} byte ${i}`;
        break;
      }
    }
    if (!firstDiff && statSync(outFile).size !== pos) firstDiff = `llama.cpp wrote ${statSync(outFile).size} bytes, ours ${pos}`;
  } finally {
    closeSync(fa);
    closeSync(fb);
    rmSync(outFile, { force: true });
  }
  return { ...r, identical: firstDiff === null, firstDiff };
}

/** Child-process side: run one phase and print its figures as JSON. */
async function runPhase(phase: string, dir: string): Promise<void> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let exportCpu: number | undefined;
  let bytes = 0;
  let fileBytes: number | undefined;
  let tensors: number | undefined;
  let backend: string | undefined;
  let exportSeconds: number | undefined;
  if (phase === 'quantize') {
    // our quantizers alone: the same tensors as the llama.cpp reference, float32 read before the clock runs
    const threads = Number(arg('threads', String(availableParallelism())));
    const f32 = readGguf(arg('f32', ''));
    const ours = readGguf(arg('ours', ''));
    const byName = new Map(f32.tensors.map((t) => [t.name, t]));
    let q = 0;
    let cpu = 0;
    for (const t of quantizedTensors(ours)) {
      const x = readGgufTensorF32(f32, byName.get(t.name)!.name);
      const t1 = performance.now();
      const c1 = process.cpuUsage();
      quantizeRows(t.type, x, t.ne[0]!, null, threads);
      const c2 = process.cpuUsage(c1);
      q += performance.now() - t1;
      cpu += (c2.user + c2.system) / 1e6;
      bytes += x.byteLength;
      backend ??= quantBackendOf(t.type);
    }
    process.stdout.write(`PHASE ${JSON.stringify({ seconds: q / 1000, cpuSeconds: cpu, bytes, maxRssMB: peakRssMiB(), backend })}\n`);
    return;
  }
  if (phase === 'read') {
    const ck = Checkpoint.open(dir);
    for (const [shard, names] of ck.namesByShard()) {
      for (const n of names) bytes += ck.readFloat32(n).data.byteLength;
      ck.release(shard);
    }
    ck.close();
  } else {
    const out = arg('out', join(dir, 'out.gguf'));
    const threads = Number(arg('threads', String(availableParallelism())));
    const r = await exportGguf({ modelDir: dir, outFile: out, fileType: arg('ftype', 'Q4_K_M'), threads });
    exportSeconds = (performance.now() - t0) / 1000; // the export alone (not the checks below)
    const c = process.cpuUsage(cpu0);
    exportCpu = (c.user + c.system) / 1e6;
    const ck = Checkpoint.open(dir);
    for (const n of ck.names) bytes += ck.info(n).end - ck.info(n).begin;
    ck.close();
    fileBytes = statSync(out).size;
    tensors = readGguf(out).tensors.length;
    void r;
  }
  const seconds = exportSeconds ?? (performance.now() - t0) / 1000;
  const res: PhaseResult = { seconds, cpuSeconds: exportCpu, bytes, maxRssMB: peakRssMiB(), fileBytes, tensors, backend };
  process.stdout.write(`PHASE ${JSON.stringify(res)}\n`);
}

function phase(name: string, dir: string, extra: string[] = []): PhaseResult {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [...process.execArgv, self, '--phase', name, '--dir', dir, ...extra, ...process.argv.slice(2)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('PHASE '));
  if (r.status !== 0 || !line) throw new Error(`phase ${name} failed (${r.status}):\n${r.stderr}`);
  return JSON.parse(line.slice(6)) as PhaseResult;
}

async function main(): Promise<void> {
  const p = process.argv.indexOf('--phase');
  if (p >= 0) return runPhase(process.argv[p + 1]!, arg('dir', ''));
  const layers = Number(arg('layers', '3'));
  const types = arg('type', DEFAULT_TYPES).split(',').map((t) => t.trim().toUpperCase()).filter(Boolean);
  const results: Record<string, unknown>[] = [];
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
    const lib = process.argv.includes('--no-llama') ? null : findGgmlBase();
    const f32Path = join(root, 'f32.gguf');
    if (lib) {
      console.log('llama.cpp input: our exporter\'s F32 GGUF of the checkpoint (the same tensors, names and rows) …');
      phase('export', dir, ['--ftype', 'F32', '--out', f32Path]);
    } else console.log('llama.cpp reference skipped (--no-llama, or no node-llama-cpp linux-x64 libggml-base.so)');
    for (const type of types) {
      const out = join(root, `${type}.gguf`);
      console.log(`export: exportGguf → ${type}, ${threads} thread(s) …`);
      const exp = phase('export', dir, ['--ftype', type, '--out', out]);
      const expMBs = exp.bytes / 1e6 / exp.seconds;
      console.log(`  ${exp.seconds.toFixed(2)} s, ${expMBs.toFixed(1)} MB/s of input weights, peak RSS ${exp.maxRssMB.toFixed(0)} MB, file ${(exp.fileBytes! / 1e6).toFixed(1)} MB, ${exp.tensors} tensors`);
      const result: Record<string, unknown> = {
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
      if (lib) {
        const q = phase('quantize', dir, ['--f32', f32Path, '--ours', out]);
        console.log(`  export CPU time (all threads): ${exp.cpuSeconds!.toFixed(2)} s`);
        console.log(`  our quantizers alone (${q.backend}): ${q.seconds.toFixed(2)} s, ${q.cpuSeconds!.toFixed(2)} CPU s`);
        const ll = llamaReference(lib, f32Path, out, threads, root);
        console.log(
          `  llama.cpp ggml_quantize_chunk: ${ll.quantize_s.toFixed(2)} s, ${ll.quantize_cpu_s.toFixed(2)} CPU s (with reading and writing ${ll.total_s.toFixed(2)} s, ${ll.total_cpu_s.toFixed(2)} CPU s); bytes ${ll.identical ? 'identical' : `DIFFER at ${ll.firstDiff}`}`,
        );
        const r3 = (v: number) => Number(v.toFixed(3));
        Object.assign(result, {
          backend: q.backend,
          export_cpu_s: r3(exp.cpuSeconds!),
          quantize_s: r3(q.seconds),
          quantize_cpu_s: r3(q.cpuSeconds!),
          llama_quantize_s: r3(ll.quantize_s),
          llama_quantize_cpu_s: r3(ll.quantize_cpu_s),
          llama_total_s: r3(ll.total_s),
          llama_total_cpu_s: r3(ll.total_cpu_s),
          // our whole export against llama.cpp's quantization alone: wall clock, and CPU seconds (robust to load)
          vs_llama: r3(exp.seconds / ll.quantize_s),
          vs_llama_cpu: r3(exp.cpuSeconds! / ll.quantize_cpu_s),
          // against llama.cpp reading, quantizing and writing, as llama-quantize does
          vs_llama_total: r3(exp.seconds / ll.total_s),
          vs_llama_total_cpu: r3(exp.cpuSeconds! / ll.total_cpu_s),
          quantize_vs_llama_cpu: r3(q.cpuSeconds! / ll.quantize_cpu_s),
          identical: ll.identical,
        });
      }
      result.load_avg = Number(loadavg()[0]!.toFixed(2));
      results.push(result);
      rmSync(out, { force: true });
    }
    for (const r of results) console.log(JSON.stringify(r));
  } finally {
    if (!process.argv.includes('--keep')) rmSync(root, { recursive: true, force: true });
  }
}

await main();
