import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { writeDemoModel } from '@autoround/autoround';
import { runCli } from './run-cli.js';
import { tempDir } from '@autoround/testing';

// The reproductions of issue 13, item 1, through the CLI: each must exit 1 and touch nothing.
const work = tempDir('autoround-output-safety-');
afterAll(() => work.cleanup());
const demo = join(work.dir, 'demo');
writeDemoModel(demo, { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 });

/** Every file under `dir` with its bytes, to show that nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[join(e.parentPath, e.name)] = readFileSync(join(e.parentPath, e.name)).toString('base64');
  }
  return out;
}

const rtn = ['--iters', '0', '--disable_opt_rtn'];
const cwd = process.cwd();
afterEach(() => process.chdir(cwd));

describe('--overwrite never replaces the input, the current folder or an empty path (issue 13, item 1)', () => {
  it('--output_dir . --overwrite from the folder holding the model', async () => {
    const d = join(work.dir, 'here');
    cpSync(demo, join(d, 'm'), { recursive: true });
    const before = snapshot(d);
    process.chdir(d);
    const r = await runCli(['--model', 'm', ...rtn, '--output_dir', '.', '--overwrite', '--force']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: --output_dir \. is the current folder/m);
    expect(snapshot(d)).toEqual(before);
  });

  it('--output_dir "" --overwrite', async () => {
    const d = join(work.dir, 'empty');
    cpSync(demo, join(d, 'm'), { recursive: true });
    const before = snapshot(d);
    process.chdir(d);
    const r = await runCli(['--model', 'm', ...rtn, '--output_dir', '', '--overwrite']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: the output folder is empty/m);
    expect(snapshot(d)).toEqual(before);
  });

  it('--model m --output_dir m --overwrite, and a folder holding the model', async () => {
    const d = join(work.dir, 'same');
    cpSync(demo, join(d, 'm'), { recursive: true });
    const before = snapshot(d);
    for (const out of [join(d, 'm'), d]) {
      const r = await runCli(['--model', join(d, 'm'), ...rtn, '--output_dir', out, '--overwrite', '--force']);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/refusing to write over the run's input/);
    }
    expect(snapshot(d)).toEqual(before);
  });

  it('a folder holding the calibration or evaluation text', async () => {
    const d = join(work.dir, 'texts');
    mkdirSync(d);
    writeFileSync(join(d, 'eval.txt'), 'Once upon a time there was a cat. '.repeat(50));
    const before = snapshot(d);
    const r = await runCli(['--model', demo, ...rtn, '--output_dir', d, '--overwrite', '--force', '--eval_ppl', join(d, 'eval.txt')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/contains the input .*eval\.txt/);
    expect(snapshot(d)).toEqual(before);
  });

  it('--overwrite replaces an earlier output; a foreign folder needs --force too', async () => {
    const out = join(work.dir, 'out');
    expect((await runCli(['--model', demo, ...rtn, '--output_dir', out])).code).toBe(0);
    expect((await runCli(['--model', demo, ...rtn, '--output_dir', out, '--overwrite'])).code).toBe(0);
    const foreign = join(work.dir, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'mine');
    const r = await runCli(['--model', demo, ...rtn, '--output_dir', foreign, '--overwrite']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/does not look like an earlier output.*--force/);
    expect(readFileSync(join(foreign, 'notes.txt'), 'utf8')).toBe('mine');
    expect((await runCli(['--model', demo, ...rtn, '--output_dir', foreign, '--overwrite', '--force'])).code).toBe(0);
    expect(readdirSync(foreign)).toContain('config.json');
  });

  it('a folder named like a resume state but holding other files is never deleted', async () => {
    const d = join(work.dir, 'resume-name');
    mkdirSync(join(d, '.out.resume'), { recursive: true });
    writeFileSync(join(d, '.out.resume', 'notes.txt'), 'mine');
    const r = await runCli(['--model', demo, ...rtn, '--output_dir', join(d, 'out')]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(d, '.out.resume', 'notes.txt'), 'utf8')).toBe('mine');
    expect(r.err).toMatch(/holds files a resume state does not \(notes\.txt\): left as it is/);
  });
});
