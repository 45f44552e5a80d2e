// AutoScheme's flags (docs/autoscheme.md): --avg_bits / --target_bits with --options run the planner of
// @autoround/autoscheme; a half-given pair, a stray AutoScheme flag and an unreachable budget exit 1 with one line.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '@autoround/testing';
import { demoModel } from './demo-model.js';
import { runCli } from './run-cli.js';

const work = tempDir();
afterAll(() => work.cleanup());
const { demo, text } = demoModel(work.dir);
const base = (out: string, extra: string[]) => ['--model', demo, '--iters', '0', '--disable_opt_rtn', '--dataset', text, '--output_dir', out, ...extra];
const errorLine = (err: string) => err.split('\n').find((l) => l.startsWith('error:')) ?? '';

describe('AutoScheme flags', () => {
  it('--avg_bits without --options, --options without --avg_bits and a stray --ignore_scale_zp_bits are errors naming the flag', async () => {
    for (const [args, msg] of [
      [['--avg_bits', '3'], /^error: --avg_bits needs --options/],
      [['--options', 'W2A16,W4A16'], /^error: --options needs --avg_bits/],
      [['--ignore_scale_zp_bits'], /^error: --ignore_scale_zp_bits is an AutoScheme flag/],
    ] as const) {
      const out = join(work.dir, 'out-pair');
      const r = await runCli(base(out, [...args]));
      expect(r.code).toBe(1);
      expect(errorLine(r.err)).toMatch(msg);
      expect(r.err).not.toMatch(/\n\s+at /);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('an unreachable --target_bits states the reachable range', async () => {
    const out = join(work.dir, 'out-range');
    const r = await runCli(base(out, ['--target_bits', '1', '--options', 'W2A16,W4A16']));
    expect(r.code).toBe(1);
    expect(errorLine(r.err)).toMatch(/^error: --avg_bits 1 cannot be met with --options W2A16,W4A16: the reachable average is 2\.\d+ to 4\.\d+ bits \(scale and zero-point bits included\)$/);
    expect(existsSync(out)).toBe(false);
  });

  it('a run prints the plan, writes it beside the output and records the achieved bits', async () => {
    const out = join(work.dir, 'out-ok');
    const r = await runCli(base(out, ['--avg_bits', '3', '--options', 'W2A16,W4A16', '--ignore_scale_zp_bits', '--shared_layers', 'q_proj,k_proj,v_proj;gate_proj,up_proj', '--format', 'auto_gptq']));
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/AutoScheme plan:/);
    expect(r.err).toMatch(/model\.layers\.0\.\{self_attn\.q_proj,self_attn\.k_proj,self_attn\.v_proj\}\s+W[24]A16/);
    const qc = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).quantization_config as { autoscheme: { achieved_bits: number; ignore_scale_zp_bits: boolean }; dynamic?: Record<string, { bits?: number }> };
    // auto_gptq writes the layers whose bits differ from the run's in `dynamic`
    expect(Object.values(qc.dynamic ?? {}).some((v) => v.bits === 2)).toBe(true);
    expect(qc.autoscheme.ignore_scale_zp_bits).toBe(true);
    expect(qc.autoscheme.achieved_bits).toBeLessThanOrEqual(3);
    expect(qc.autoscheme.achieved_bits).toBeGreaterThan(2);
    expect(existsSync(join(out, 'autoscheme_plan.json'))).toBe(true);
  }, 120_000);
});
