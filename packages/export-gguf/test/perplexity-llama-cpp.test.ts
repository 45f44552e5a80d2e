// `auto-round eval --eval_protocol llama.cpp` (docs/perplexity-llama-cpp.md): our perplexity of the safetensors
// folder equals what llama.cpp computes on our F32 GGUF export. No llama-perplexity binary is installed, so its
// procedure (tools/perplexity/perplexity.cpp, `perplexity()`) is written out over node-llama-cpp's evaluation API
// (@autoround/testing's llamaCppPerplexity: the whole text tokenized by llama.cpp with BOS in front, chunks of n_ctx
// from an empty cache, BOS replacing each chunk's first token, the second half of each chunk scored).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AutoRound, folderPerplexity, silentLogger, tokenizerOf, openModel, type Registry, type KernelBackend } from '@autoround/autoround';
import gguf, { exportGguf } from '../src/index.js';
import { HAS_SHARED, LLAMA256, SHARED, STORIES, llamaCppPerplexity, loadNodeLlamaCpp, needsShared, tempDir, type NodeLlama } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());
const { nlc, why } = await loadNodeLlamaCpp();
const WIKI = join(SHARED, 'datasets/wikitext-2-raw/wiki.test.raw');
/** A prefix of wikitext-2's test split: about 19 chunks of 256 tokens for these 512-token vocabularies. */
const CHARS = 8_000;
const N_CTX = 256;

let llama: NodeLlama;
beforeAll(async () => {
  if (nlc && HAS_SHARED) llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error });
});

const report: string[] = [];
afterAll(() => {
  if (report.length) console.log(report.join('\n'));
});

describe.skipIf(!HAS_SHARED || !nlc)(needsShared(`eval --eval_protocol llama.cpp equals llama.cpp's perplexity on our F32 GGUF${nlc ? '' : ` (node-llama-cpp: ${why})`}`), () => {
  let registry: Registry;
  let backend: KernelBackend;
  beforeAll(async () => {
    const ar = new AutoRound(STORIES, { log: silentLogger, discoverPlugins: false, plugins: [gguf] });
    registry = await ar.registry();
    backend = await ar.backend();
  });

  for (const [name, dir] of [['stories260K', STORIES], ['llama-256', LLAMA256]] as const) {
    it(`${name}: same tokens, chunks and perplexity (0.1%) on ${CHARS} characters of wikitext-2 test, n_ctx ${N_CTX}`, async () => {
      const text = readFileSync(WIKI, 'utf8').slice(0, CHARS);
      const file = join(work.dir, `${name}-F32.gguf`);
      await exportGguf({ modelDir: dir, outFile: file, fileType: 'F32' });
      const want = await llamaCppPerplexity(llama, file, text, N_CTX);
      // our tokenization of the whole text, BOS in front, is llama.cpp's
      const model = openModel(registry, dir);
      const tok = tokenizerOf(registry, model);
      model.checkpoint.close();
      expect([tok.bosTokenId!, ...tok.encode(text, { addSpecialTokens: false })]).toEqual(want.tokens);
      const got = folderPerplexity(registry, dir, backend, text, { seqlen: N_CTX, protocol: 'llama.cpp' });
      expect(got.windows).toBe(want.chunks);
      expect(got.tokens).toBe(want.count);
      const rel = Math.abs(got.perplexity - want.perplexity) / want.perplexity;
      expect(rel).toBeLessThan(1e-3);
      // and the protocol differs from our windows' (the second half only, with context): not the same number
      const windows = folderPerplexity(registry, dir, backend, text, { seqlen: N_CTX });
      expect(Math.abs(windows.perplexity - got.perplexity) / got.perplexity).toBeGreaterThan(1e-3);
      report.push(`${name}: llama.cpp ${want.perplexity.toFixed(6)} (${want.chunks} chunks, ${want.count} tokens), ours ${got.perplexity.toFixed(6)}, relative difference ${rel.toExponential(2)}; windows protocol ${windows.perplexity.toFixed(4)}`);
    }, 300_000);
  }
});
