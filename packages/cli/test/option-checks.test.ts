// Issue #13 items 12, 13 and 15c through the CLI: out-of-range numbers, options that were silently ignored,
// and messages that blamed the wrong thing. Each case exited 0 or said something misleading before.
// Under vitest the CLI has only its built-in plugins (discovered ones load from dist/, which imports the
// sources' .ts): the GGUF warning, a tuning --algorithm with --iters 0, the default --seqlen and a missing
// --dataset file (items 13 and 15a-b) are tested at the API, in packages/autoround/test/options.test.ts and
// packages/calib-datasets/test/missing-file.test.ts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { demoModel } from './demo-model.js';
import { runCli as run } from './run-cli.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

// max_position_embeddings 512 (writeDemoModel's default), less than the default --seqlen 2048
const { demo, text: evalText } = demoModel(work.dir);

const base = (out: string, extra: string[] = []) => ['--model', demo, '--iters', '0', '--disable_opt_rtn', '--output_dir', out, ...extra];

/** The `error: …` line (plugin discovery may warn before it). */
const errorLine = (err: string): string => err.split('\n').find((l) => l.startsWith('error: ')) ?? `(no error line in: ${err})`;

function noOutput(out: string): void {
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(work.dir).some((f) => f.includes('.partial'))).toBe(false);
}

describe('item 12: every numeric flag is range-checked before anything is read', () => {
  const cases: [string[], RegExp][] = [
    [['--iters', '2', '--gradient_accumulate_steps', '0'], /^error: --gradient_accumulate_steps must be an integer ≥ 1 and ≤ 1000000, got 0$/],
    [['--iters', '2', '--lr', '-1'], /^error: --lr must be a number > 0 and finite, got -1$/],
    [['--iters', '2', '--minmax_lr', '0'], /^error: --minmax_lr must be a number > 0 and finite, got 0$/],
    [['--threads', '0'], /^error: --threads must be an integer ≥ 1 and ≤ 4096, got 0$/],
    [['--threads', '-3'], /^error: --threads must be an integer ≥ 1/],
    [['--iters', '100000000'], /^error: --iters must be an integer ≥ 0 and ≤ 1000000, got 100000000$/],
    [['--eval_ppl', evalText, '--eval_max_tokens', '-1'], /^error: --eval_max_tokens must be an integer ≥ 1, got -1$/],
    [['--eval_ppl', evalText, '--eval_max_tokens', '0'], /^error: --eval_max_tokens must be an integer ≥ 1, got 0$/],
    [['--eval_ppl', evalText, '--eval_seqlen', '1'], /^error: --eval_seqlen must be an integer ≥ 2/],
    [['--bits', '0'], /^error: --bits must be an integer ≥ 1 and ≤ 16, got 0$/],
    [['--group_size', '-7'], /^error: --group_size must be an integer ≥ 1 and ≤ 1048576, or 0 \(one group per tensor\) or -1 \(one group per output channel\), got -7$/],
    [['--nsamples', '0'], /^error: --nsamples must be an integer ≥ 1/],
    [['--seqlen', '0'], /^error: --seqlen must be an integer ≥ 1/],
    [['--batch_size', '0'], /^error: --batch_size must be an integer ≥ 1/],
    [['--seed', '-1'], /^error: --seed must be an integer ≥ 0 and ≤ 4294967295, got -1$/],
    [['--nblocks', '0'], /^error: --nblocks must be an integer ≥ 1/],
    [['--momentum', '1'], /^error: --momentum must be a number ≥ 0 and < 1, got 1$/],
    [['--max_shard_size', '0MB'], /^error: --max_shard_size must be a size of at least one byte \(e\.g\. 5GB, 500MB, 1048576\), got "0MB"$/],
  ];
  cases.forEach(([flags, message], i) => {
    it(flags.join(' '), async () => {
      const out = join(work.dir, `out-range-${i}`);
      const r = await run(base(out, flags));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(message);
      noOutput(out);
    });
  });

  it('eval checks --eval_max_tokens and --threads too', async () => {
    expect((await run(['eval', '--model', demo, '--eval_ppl', evalText, '--eval_max_tokens', '-1'])).err).toBe('error: --eval_max_tokens must be an integer ≥ 1, got -1');
    expect((await run(['eval', '--model', demo, '--eval_ppl', evalText, '--threads', '0'])).err).toMatch(/^error: --threads must be an integer ≥ 1/);
  });
});

describe('item 13: options that were silently ignored', () => {
  it('--ignore_layers naming no layer is an error naming the pattern', async () => {
    const out = join(work.dir, 'out-ignore');
    const r = await run(base(out, ['--ignore_layers', 'mlp.down_proj,mlp.dwn_proj']));
    expect(r.code).toBe(1);
    expect(errorLine(r.err)).toBe('error: --ignore_layers / --fp_layers: "mlp.dwn_proj" names no layer of the model (layers are named like model.layers.0.self_attn.q_proj)');
    noOutput(out);
  });

  it('--fp_layers lm_head (not quantized anyway) is accepted', async () => {
    const r = await run(base(join(work.dir, 'out-lmhead'), ['--fp_layers', 'lm_head,layers.0.mlp.down_proj', '--group_size', '32']));
    expect(r.code, r.err).toBe(0);
  });

  it('an unknown key in a --layer_config entry, and an entry matching no layer, are errors naming the entry', async () => {
    const out = join(work.dir, 'out-lc');
    const r = await run(base(out, ['--layer_config', '{"mlp.down_proj": {"bits": 8, "gruop_size": 32}}']));
    expect(r.code).toBe(1);
    expect(errorLine(r.err)).toMatch(/^error: --layer_config "mlp\.down_proj": unknown key "gruop_size" \(known: bits, group_size, sym, data_type, act_bits/);
    const none = await run(base(out, ['--layer_config', '{"mlp.up_prj": {"bits": 8}}']));
    expect(errorLine(none.err)).toMatch(/^error: --layer_config: "mlp\.up_prj" matches no quantizable layer/);
    noOutput(out);
  });

  it('--algorithm awq: a clear error listing the installed algorithms, before the model is read', async () => {
    const out = join(work.dir, 'out-awq');
    const r = await run(['--model', join(work.dir, 'no-model'), '--algorithm', 'awq', '--output_dir', out]);
    expect(r.code).toBe(1);
    expect(errorLine(r.err)).toMatch(/^error: unknown algorithm "awq" \(--algorithm\); installed algorithms: .*\brtn\b.*"awq" is not implemented as an algorithm here: --format auto_awq/);
    noOutput(out);
  });

  it('--algorithm rtn --iters 5 is an error (rtn does not tune)', async () => {
    const rtn = await run(['--model', demo, '--algorithm', 'rtn', '--iters', '5', '--output_dir', join(work.dir, 'out-rtn5')]);
    expect(rtn.code).toBe(1);
    expect(errorLine(rtn.err)).toMatch(/^error: --algorithm rtn does not tune, but --iters 5 asks for 5 tuning iterations/);
  });

  it('--algorithm rtn without --iters runs RTN (the recipe’s 200 iterations give way)', async () => {
    const out = join(work.dir, 'out-rtn');
    const r = await run(['--model', demo, '--algorithm', 'rtn', '--disable_opt_rtn', '--group_size', '32', '--output_dir', out]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/with rtn,/);
    // the recorded run is the RTN it was (before: iters 200 and lr 0.005 of a tuning run that never happened)
    const qc = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).quantization_config;
    expect(qc.iters).toBe(0);
    expect(qc.lr).toBeUndefined();
  });
});

describe('item 15c: messages that blamed the wrong thing', () => {
  it('(c) --bits 16 and --data_type nf4 name the field at fault, not act_bits', async () => {
    const b16 = await run(base(join(work.dir, 'out-b16'), ['--bits', '16']));
    expect(b16.code).toBe(1);
    expect(errorLine(b16.err)).toBe('error: --format auto_round: the auto_round exporter writes integer weight-only schemes and the floating-point ones (mx_fp, mx_int, nv_fp, fp 8): bits 16 quantizes nothing (every layer stays in full precision), so there is nothing to pack; use bits 2 to 8');
    const nf4 = await run(base(join(work.dir, 'out-nf4'), ['--data_type', 'nf4']));
    expect(errorLine(nf4.err)).toBe('error: --format auto_round: the auto_round exporter writes integer weight-only schemes and the floating-point ones (mx_fp, mx_int, nv_fp, fp 8): data_type "nf4" is not supported (supported: "int", "mx_fp", "mx_int", "nv_fp", "fp")');
    const gptq = await run(base(join(work.dir, 'out-nf4-gptq'), ['--data_type', 'nf4', '--format', 'auto_gptq']));
    expect(errorLine(gptq.err)).toMatch(/^error: --format auto_gptq: auto_gptq stores integer weight-only schemes \(W2\/W3\/W4\/W8A16\): data_type "nf4" is not supported \(only "int"\)/);
    for (const r of [b16, nf4, gptq]) expect(r.err).not.toMatch(/act_bits/);
  });
});
