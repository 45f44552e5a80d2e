import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';
import { HAS_SHARED, STORIES, TINYSTORIES, needsShared, tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

const run = runCli;

describe('auto-round demo', () => {
  it('quantizes, exports and evaluates a random-weight model with nothing downloaded', async () => {
    const r = await run(['demo']);
    if (r.code !== 0) console.log(r.err);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/RANDOM WEIGHTS/);
    expect(r.out).toMatch(/original \(fp32\)\s+\d+\.\d{4}/);
    expect(r.out).toMatch(/auto_round W4A16 g32, read back\s+\d+\.\d{4}/);
  });
});

describe('auto-round list', () => {
  it('shows the built-in plugins', async () => {
    const r = await run(['--list']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/algorithms:\n\s+rtn/);
    expect(r.out).toMatch(/auto_round/);
    // one architecture plugin per folder of @autoround/models
    expect(r.out).toMatch(/llama\s+LlamaForCausalLM, MistralForCausalLM\n\s+qwen2\s+Qwen2ForCausalLM\n\s+qwen3\s+Qwen3ForCausalLM/);
    // scoring is @autoround/eval's contribution (the host does not import it)
    expect(r.out).toMatch(/evaluators:\n\s+perplexity/);
  });

  it('lists the subcommands plugins contribute, and --help shows them', async () => {
    expect((await run(['list', 'command'])).out).toMatch(/commands:\n\s+gguf-info\s+print the metadata/);
    expect((await run(['--help'])).out).toMatch(/auto-round gguf-info FILE\.gguf\s+print the metadata/);
  });

  it('--plugin NAME makes a plugin explicit; a name that is not installed is an error', async () => {
    const r = await run(['list', 'plugin', '--plugin', 'autoround-plugin-report']);
    expect(r.out).toMatch(/autoround-plugin-report {2}\(explicit\)/);
    const bad = await run(['list', '--plugin', 'autoround-plugin-nowhere,autoround-plugin-report']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/error: plugin autoround-plugin-nowhere \(--plugin\) is not installed/);
  });
});

describe.skipIf(!HAS_SHARED)(needsShared('stories260K end to end'), () => {
  it('quantizes to auto_round and fake, prints both perplexities, and eval of either folder agrees to the printed digit', async () => {
    const text = join(work.dir, 'eval.txt');
    writeFileSync(text, readFileSync(TINYSTORIES, 'utf8').slice(-8000));
    const out = join(work.dir, 'q');
    const r = await run(['--model', STORIES, '--scheme', 'W4A16', '--group_size', '32', '--iters', '0', '--disable_opt_rtn', '--format', 'auto_round,fake', '--output_dir', out, '--eval_ppl', text, '--eval_seqlen', '256']);
    expect(r.code).toBe(0);
    const orig = Number(/original\s+(\d+\.\d+)/.exec(r.out)![1]);
    const quant = Number(/quantized \(int4 sym g32\)\s+(\d+\.\d+)/.exec(r.out)![1]);
    expect(quant).toBeGreaterThan(orig);
    expect(quant).toBeLessThan(orig * 1.2);
    const a = await run(['eval', '--model', join(out, 'auto_round'), '--eval_ppl', text, '--eval_seqlen', '256']);
    const f = await run(['eval', '--model', join(out, 'fake'), '--eval_ppl', text, '--eval_seqlen', '256']);
    expect(a.code).toBe(0);
    const pa = /: (\d+\.\d{4})$/m.exec(a.out)![1];
    const pf = /: (\d+\.\d{4})$/m.exec(f.out)![1];
    expect(pa).toBe(pf);
    expect(Number(pa)).toBeCloseTo(quant, 4);
  });
});
