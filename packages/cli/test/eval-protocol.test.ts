// `auto-round eval --eval_protocol llama.cpp` (docs/perplexity-llama-cpp.md): llama-perplexity's number for a
// folder; the comparison with llama.cpp itself is packages/export-gguf/test/perplexity-llama-cpp.test.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';
import { HAS_SHARED, STORIES, TINYSTORIES, needsShared, tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

describe.skipIf(!HAS_SHARED)(needsShared('eval --eval_protocol llama.cpp (stories260K)'), () => {
  const text = join(work.dir, 'eval.txt');
  // written when the suite runs, not when it is collected (a skipped suite is still collected)
  beforeAll(() => writeFileSync(text, readFileSync(TINYSTORIES, 'utf8').slice(0, 5000)));

  it('prints the chunks, the scored tokens and the perplexity; --eval_max_tokens limits whole chunks', async () => {
    const r = await runCli(['eval', '--model', STORIES, '--eval_ppl', text, '--eval_seqlen', '128', '--eval_protocol', 'llama.cpp']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out.split('\n').find((l) => l.startsWith('{'))!) as { chunks: number; tokens: number; n_ctx: number; perplexity: number; protocol: string };
    expect(j.protocol).toBe('llama.cpp');
    expect(j.n_ctx).toBe(128);
    expect(j.tokens).toBe(j.chunks * 63);
    expect(j.perplexity).toBeGreaterThan(1);
    expect(r.out).toMatch(/as llama-perplexity -c 128 computes it/);
    const two = await runCli(['eval', '--model', STORIES, '--eval_ppl', text, '--eval_seqlen', '128', '--eval_protocol', 'llama.cpp', '--eval_max_tokens', '130']);
    expect(JSON.parse(two.out.split('\n').find((l) => l.startsWith('{'))!)).toMatchObject({ chunks: 2, tokens: 126 });
  });

  it('bad input names the flag', async () => {
    const bad = await runCli(['eval', '--model', STORIES, '--eval_ppl', text, '--eval_protocol', 'lm-eval']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--eval_protocol must be one of windows, llama\.cpp/);
    const kld = await runCli(['eval', '--model', STORIES, '--eval_ppl', text, '--eval_protocol', 'llama.cpp', '--eval_kld_base', STORIES]);
    expect(kld.code).toBe(1);
    expect(kld.err).toMatch(/--eval_protocol llama\.cpp with --eval_kld_base/);
    const shortText = join(work.dir, 'short.txt');
    writeFileSync(shortText, readFileSync(TINYSTORIES, 'utf8').slice(0, 600));
    const short = await runCli(['eval', '--model', STORIES, '--eval_ppl', shortText, '--eval_seqlen', '512', '--eval_protocol', 'llama.cpp']);
    expect(short.code).toBe(1);
    expect(short.err).toMatch(/needs at least 1024 tokens/);
  });
});
