// AutoScheme with GGUF options against our byte-identical stand-in for llama.cpp's Q3_K_M (docs/formats/gguf.md,
// ADR 0015/0016), plain and with an importance matrix, on llama-256 (issue #17, docs/autoscheme.md#figures).
// The target is the Q3_K_M file's own bits per weight over every 2-D weight (the blocks' linears, output and
// token_embd), which all-GGUF options are counted in (the GGUF count); the AutoScheme file pins output and token_embd
// to the types llama.cpp's rule gives them in the reference (user --layer_config entries: fixed, counted) and is written with --format gguf:q5_k_m (gguf:q4_0 when q5_k is an
// option; a file type whose quantizer takes the importance matrix, or --iters 0 would not collect one), whose own type is
// none of the options, so that every planned layer gets exactly its chosen type (and --iters 0 runs optimized RTN,
// llama.cpp's quantizers with the importance matrix, for a k-quant file). Each file is read back from the
// .gguf and scored on wiki.test.raw as the GGUF quality table (windows of BOS + 255 tokens, 100,000 tokens).
// --llamacpp also has llama.cpp itself score each written .gguf (node-llama-cpp 3.21.1, llama-perplexity's loop:
// docs/perplexity-llama-cpp.md) with -c 256 over the first 390 chunks (99,840 tokens, 49,530 of them scored), and
// our evaluator with the same protocol beside it.
//   npm run autoscheme-gguf -- [--options gguf:q2_k_s,gguf:q3_k_s,gguf:q4_k_s,gguf:q6_k] [--llamacpp] [--verbose]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AutoRound, createLogger, folderPerplexity, silentLogger } from '@autoround/autoround';
import { layerBits } from '@autoround/autoscheme';
import { presetScheme, readConfig } from '@autoround/core';
import { ggufFileOf, readGguf } from '@autoround/export-gguf';
import { ggmlTypeName } from '@autoround/quant-types';
import { llamaCppPerplexity, loadNodeLlamaCpp, type NodeLlama } from '@autoround/testing';

const SHARED = resolve(import.meta.dirname, '../../../shared');
const arg = (k: string, d: string) => (process.argv.includes(`--${k}`) ? process.argv[process.argv.indexOf(`--${k}`) + 1]! : d);
const model = join(SHARED, 'models/llama-256');
const dataset = join(SHARED, 'datasets/calibration/c4_sample_1480.text.jsonl');
const text = readFileSync(join(SHARED, 'datasets/wikitext-2-raw/wiki.test.raw'), 'utf8');
const options = arg('options', 'gguf:q2_k_s,gguf:q3_k_s,gguf:q4_k_s,gguf:q6_k');
const log = process.argv.includes('--verbose') ? createLogger('info') : silentLogger;
const TYPE_SCHEME: Record<string, string> = { Q2_K: 'GGUF:Q2_K_S', Q3_K: 'GGUF:Q3_K_S', Q4_K: 'GGUF:Q4_K_S', Q5_K: 'GGUF:Q5_K_S', Q6_K: 'GGUF:Q6_K', Q8_0: 'GGUF:Q8_0', Q4_0: 'GGUF:Q4_0', Q5_0: 'GGUF:Q5_0' };

/** The 2-D weights of a GGUF folder: AutoScheme's bit count, the file's bits, and the types of output and token_embd. */
function fileBits(dir: string): { counted: number; file: number; bits: number; numel: number; types: Map<string, string> } {
  const f = readGguf(ggufFileOf(dir, readConfig(dir)));
  let counted = 0;
  let gguf = 0;
  let bytes = 0;
  let numel = 0;
  const types = new Map<string, string>();
  for (const t of f.tensors) {
    if (t.ne.length !== 2) continue;
    const type = ggmlTypeName(t.type);
    types.set(t.name, type);
    const scheme = TYPE_SCHEME[type];
    if (!scheme) throw new Error(`${t.name}: type ${type} has no scheme here`);
    counted += layerBits(presetScheme(scheme), t.ne[1]!, t.ne[0]!);
    gguf += layerBits(presetScheme(scheme), t.ne[1]!, t.ne[0]!, false, 'gguf');
    bytes += t.nbytes;
    numel += t.ne[0]! * t.ne[1]!;
  }
  if (gguf !== bytes * 8) throw new Error(`${dir}: the GGUF block count (${gguf}) is not the file's ${bytes * 8} bits`);
  return { counted: counted / numel, file: (bytes * 8) / numel, bits: bytes * 8, numel, types };
}

/** llama.cpp's own perplexity of a folder's .gguf (--llamacpp), -c 256, the first 390 chunks. */
const LLAMA_CTX = 256;
const LLAMA_CHUNKS = 390;
let llama: NodeLlama | undefined;
if (process.argv.includes('--llamacpp')) {
  const { nlc, why } = await loadNodeLlamaCpp();
  if (!nlc) throw new Error(`--llamacpp needs node-llama-cpp: ${why}`);
  llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error });
}

const work = mkdtempSync(join(tmpdir(), 'as-gguf-'));
const rows: string[] = [];
try {
  for (const method of ['plain', 'imatrix'] as const) {
    const common = { iters: 0, disableOptRtn: method === 'plain', dataset, nsamples: 128, seqlen: 256, seed: 42, batchSize: 8, skipSanityCheck: true, log };
    const ref = new AutoRound(model, common);
    const refDir = join(work, `q3_k_m-${method}`);
    await ref.quantizeAndSave(refDir, { format: 'gguf:q3_k_m' });
    const rb = fileBits(refDir);
    const t0 = Date.now();
    const as = new AutoRound(model, {
      ...common,
      layerConfig: { lm_head: TYPE_SCHEME[rb.types.get('output.weight')!]!, embed_tokens: TYPE_SCHEME[rb.types.get('token_embd.weight')!]! },
      autoScheme: { avgBits: (rb.bits + 0.5) / rb.numel, options: [options], cacheDir: join(work, 'cache') },
    });
    const asDir = join(work, `autoscheme-${method}`);
    await as.quantizeAndSave(asDir, { format: /q5_k/i.test(options) ? 'gguf:q4_0' : 'gguf:q5_k_m' });
    const seconds = (Date.now() - t0) / 1000;
    const ab = fileBits(asDir);
    const registry = await ref.registry();
    const backend = await ref.backend();
    const ppl = (dir: string) => folderPerplexity(registry, dir, backend, text, { seqlen: 256, maxTokens: 100_000 }).perplexity;
    const pr = ppl(refDir);
    const pa = ppl(asDir);
    // llama.cpp on the written file, and our evaluator with llama.cpp's protocol on the same file and chunks
    const lcpp = async (dir: string) => {
      if (!llama) return '';
      const file = ggufFileOf(dir, readConfig(dir));
      const theirs = await llamaCppPerplexity(llama, file, text, LLAMA_CTX, { maxChunks: LLAMA_CHUNKS });
      const ours = folderPerplexity(registry, dir, backend, text, { seqlen: LLAMA_CTX, protocol: 'llama.cpp', maxTokens: LLAMA_CHUNKS * (LLAMA_CTX - LLAMA_CTX / 2 - 1) });
      if (ours.windows !== theirs.chunks || ours.tokens !== theirs.count) throw new Error(`${file}: llama.cpp scored ${theirs.chunks} chunks / ${theirs.count} tokens, ours ${ours.windows} / ${ours.tokens}`);
      return ` ${theirs.perplexity.toFixed(4)} | ${ours.perplexity.toFixed(4)} |`;
    };
    const lr = await lcpp(refDir);
    const la = await lcpp(asDir);
    const mix = [...ab.types.values()].reduce((m, t) => m.set(t, (m.get(t) ?? 0) + 1), new Map<string, number>());
    rows.push(`| Q3_K_M ${method} | ${rb.counted.toFixed(4)} | ${rb.file.toFixed(4)} | ${pr.toFixed(4)} |${lr} |`);
    rows.push(`| AutoScheme ${method} | ${ab.counted.toFixed(4)} | ${ab.file.toFixed(4)} | ${pa.toFixed(4)} |${la} ${[...mix].map(([t, n]) => `${n}×${t}`).join(' ')}; ${seconds.toFixed(1)} s |`);
    console.error(rows.slice(-2).join('\n'));
  }
  console.log(`\nllama-256 GGUF, options ${options}: perplexity of the .gguf read back, wiki.test.raw (BOS + 255, 100,000 tokens)`);
  const lhead = llama ? ` llama.cpp, -c ${LLAMA_CTX}, ${LLAMA_CHUNKS} chunks | ours, llama.cpp's protocol |` : '';
  console.log(`| file | bits (original count) | bits per weight (file, 2-D weights) | perplexity |${lhead} mix, time |\n|---|---:|---:|---:|${llama ? '---:|---:|' : ''}---|`);
  for (const r of rows) console.log(r);
} finally {
  rmSync(work, { recursive: true, force: true });
}
