// `auto-round eval --eval_kld_base REFERENCE` and `--eval_kld` after quantizing: the KL divergence
// of a model's next-token distributions from a reference model's and the same-top-token rate, as
// llama-perplexity --kl-divergence reports them, beside perplexity.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDemoModel } from '@autoround/autoround';
import { runCli } from './run-cli.js';
import { HAS_SHARED, STORIES, TINYSTORIES, needsShared, tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

const run = runCli;

/** The JSON line an eval prints. */
function json(out: string): Record<string, number | string> {
  return JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as Record<string, number | string>;
}

describe.skipIf(!HAS_SHARED)(needsShared('KL divergence from a reference model (stories260K)'), () => {
  const text = join(work.dir, 'eval.txt');
  // auto_round (packed int4, read back through its reader); GGUF folders: packages/export-gguf/test/eval-kld.test.ts
  // (the gguf plugin is found by discovery, which loads built packages: not under vitest)
  const packed = join(work.dir, 'w4');
  const ev = ['--eval_ppl', text, '--eval_seqlen', '128'];
  const w4 = ['--model', STORIES, '--scheme', 'W4A16', '--group_size', '32', '--iters', '0', '--disable_opt_rtn', '--format', 'auto_round'];
  let quantized: { code: number; out: string; err: string };
  beforeAll(async () => {
    writeFileSync(text, readFileSync(TINYSTORIES, 'utf8').slice(-6000));
    // plain RTN, W4A16 g32, with the KL divergence of the QDQ model from the input after quantizing
    quantized = await run([...w4, '--output_dir', packed, ...ev, '--eval_kld']);
  });

  it('after quantizing, --eval_kld prints both perplexities (as without it) and the KL divergence from the input model', async () => {
    expect(quantized.code, quantized.err).toBe(0);
    const j = json(quantized.out);
    expect(j.kld as number).toBeGreaterThan(0);
    expect(j.same_top as number).toBeGreaterThan(0.5);
    expect(j.same_top as number).toBeLessThanOrEqual(1);
    expect(quantized.out).toMatch(/KL divergence from original\s+\d\.\d{6} \(same top token \d+\.\d\d%\)/);
    const again = await run([...w4, '--output_dir', join(work.dir, 'w4-b'), ...ev]);
    const p = json(again.out);
    expect([p.original, p.quantized]).toEqual([j.original, j.quantized]);
    expect(p.kld).toBeUndefined();
  });

  it('eval --eval_kld_base: the packed folder against its fp32 base gives kld > 0 and a same-top rate in (0, 1]; perplexity is the plain eval’s', async () => {
    const r = await run(['eval', '--model', packed, ...ev, '--eval_kld_base', STORIES]);
    expect(r.code, r.err).toBe(0);
    const j = json(r.out);
    expect(j.kld as number).toBeGreaterThan(0);
    expect(j.same_top as number).toBeGreaterThan(0);
    expect(j.same_top as number).toBeLessThanOrEqual(1);
    expect(j.base).toBe(STORIES);
    expect(r.out).toMatch(new RegExp(`KL divergence from ${STORIES} \\(perplexity \\d+\\.\\d{4}\\): mean \\d\\.\\d{6}, same top token \\d+\\.\\d\\d%`));
    const plain = json((await run(['eval', '--model', packed, ...ev])).out);
    expect(j.perplexity).toBe(plain.perplexity);
    expect(j.tokens).toBe(plain.tokens);
    const fp = json((await run(['eval', '--model', STORIES, ...ev])).out);
    expect(j.base_perplexity).toBe(fp.perplexity);
  });

  it('the fp32 model against itself: kld 0, same top 1', async () => {
    const r = await run(['eval', '--model', STORIES, ...ev, '--eval_kld_base', STORIES]);
    expect(r.code, r.err).toBe(0);
    const j = json(r.out);
    expect(j.kld as number).toBeLessThanOrEqual(1e-7);
    expect(j.same_top).toBe(1);
    expect(j.perplexity).toBe(j.base_perplexity);
  });

  it('a reference with another vocabulary or tokenizer is a clear error naming both folders', async () => {
    const demo = join(work.dir, 'demo');
    writeDemoModel(demo, { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 });
    const v = await run(['eval', '--model', STORIES, ...ev, '--eval_kld_base', demo]);
    expect(v.code).toBe(1);
    expect(v.err).toMatch(new RegExp(`--eval_kld_base: ${demo} has a vocabulary of \\d+ tokens, ${STORIES} one of 512; KL divergence compares next-token distributions over one vocabulary`));
    // the same vocabulary size, two tokens swapped
    const swapped = join(work.dir, 'stories-swapped');
    cpSync(STORIES, swapped, { recursive: true });
    const tj = JSON.parse(readFileSync(join(swapped, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
    [tj.model.vocab['▁the'], tj.model.vocab['▁a']] = [tj.model.vocab['▁a']!, tj.model.vocab['▁the']!];
    writeFileSync(join(swapped, 'tokenizer.json'), JSON.stringify(tj));
    const t = await run(['eval', '--model', STORIES, ...ev, '--eval_kld_base', swapped]);
    expect(t.code).toBe(1);
    expect(t.err).toMatch(new RegExp(`--eval_kld_base: ${swapped} and ${STORIES} tokenize differently \\(token \\d+ of the text is \\d+ for ${swapped}, \\d+ for ${STORIES}\\)`));
  });

  it('flag misuse: --eval_kld without --eval_ppl, --eval_kld with eval, --eval_kld_base when quantizing', async () => {
    expect((await run(['--model', STORIES, '--iters', '0', '--format', 'fake', '--output_dir', join(work.dir, 'x'), '--eval_kld'])).err).toMatch(/--eval_kld needs --eval_ppl TEXT_FILE/);
    expect((await run(['eval', '--model', STORIES, ...ev, '--eval_kld'])).err).toMatch(/--eval_kld compares a run with its input model; with eval, name the reference model: --eval_kld_base DIR/);
    expect((await run(['--model', STORIES, '--iters', '0', '--format', 'fake', '--output_dir', join(work.dir, 'y'), ...ev, '--eval_kld_base', STORIES])).err).toMatch(/--eval_kld_base is for `eval`/);
  });
});
