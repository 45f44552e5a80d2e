import { copyFileSync, rmSync, existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { demoModel } from './demo-model.js';
import { runCli } from './run-cli.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

const run = runCli;

const { demo, variant } = demoModel(work.dir);

function noOutput(out: string): void {
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(work.dir).some((f) => f.includes('.partial'))).toBe(false);
}

const base = (model: string, out: string, extra: string[] = []) => ['--model', model, '--iters', '0', '--disable_opt_rtn', '--output_dir', out, ...extra];

describe('bad input gives a clear error, a non-zero exit and no output folder', () => {
  it('missing config.json', async () => {
    const d = variant('noconfig', (x) => rmSync(join(x, 'config.json')));
    const out = join(work.dir, 'out-noconfig');
    const r = await run(base(d, out));
    expect(r.code).toBe(1);
    expect(r.err).toContain(join(d, 'config.json'));
    expect(r.err).toContain('missing');
    noOutput(out);
  });

  it('an architecture we do not know', async () => {
    const d = variant('arch', (x) => {
      const c = JSON.parse(readFileSync(join(x, 'config.json'), 'utf8'));
      c.architectures = ['GPT2LMHeadModel'];
      writeFileSync(join(x, 'config.json'), JSON.stringify(c));
    });
    const out = join(work.dir, 'out-arch');
    const r = await run(base(d, out));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/GPT2LMHeadModel.*not supported/);
    expect(r.err).toContain('LlamaForCausalLM');
    noOutput(out);
  });

  it('a truncated safetensors file', async () => {
    const d = variant('trunc', (x) => truncateSync(join(x, 'model.safetensors'), 5000));
    const out = join(work.dir, 'out-trunc');
    const r = await run(base(d, out));
    expect(r.code).toBe(1);
    expect(r.err).toContain(join(d, 'model.safetensors'));
    expect(r.err).toMatch(/truncated/);
    noOutput(out);
  });

  it('a malformed safetensors header', async () => {
    const d = variant('badheader', (x) => {
      const f = join(x, 'model.safetensors');
      const b = readFileSync(f);
      b.write('#', 9); // corrupt the JSON
      writeFileSync(f, b);
    });
    const out = join(work.dir, 'out-badheader');
    const r = await run(base(d, out));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/model\.safetensors: malformed safetensors file: header is not valid JSON/);
    noOutput(out);
  });

  it('a tensor whose byte count does not match its shape', async () => {
    const d = variant('bytes', (x) => {
      const f = join(x, 'model.safetensors');
      const b = readFileSync(f);
      const n = Number(b.readBigUInt64LE(0));
      const h = b.subarray(8, 8 + n).toString('utf8');
      // claim one more row for the final norm than its data holds, keeping the header length
      const edited = h.replace('"model.norm.weight":{"dtype":"F32","shape":[64]', '"model.norm.weight":{"dtype":"F32","shape":[65]');
      expect(edited).not.toBe(h);
      b.write(edited, 8);
      writeFileSync(f, b);
    });
    const out = join(work.dir, 'out-bytes');
    const r = await run(base(d, out));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/model\.norm\.weight.*260 bytes but data_offsets span 256 bytes/);
    noOutput(out);
  });

  it('an unknown scheme', async () => {
    const out = join(work.dir, 'out-scheme');
    const r = await run(base(demo, out, ['--scheme', 'W5A3']));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/unknown scheme "W5A3" \(--scheme\)/);
    noOutput(out);
  });

  it('an unknown format', async () => {
    const out = join(work.dir, 'out-format');
    const r = await run(base(demo, out, ['--format', 'auto_round,onnx_q99']));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/unknown format "onnx_q99" \(--format\)/);
    noOutput(out);
  });

  it('an unknown flag and a bad flag value', async () => {
    expect((await run(['--model', demo, '--bitz', '4'])).err).toMatch(/unknown flag --bitz/);
    expect((await run(['--model', demo, '--bits', 'four'])).err).toMatch(/--bits expects an integer/);
    expect((await run(['--model', demo, '--device', 'cuda:0'])).err).toMatch(/--device cuda:0/);
    expect((await run(['--model', demo, '--momentum', '1.5'])).err).toMatch(/--momentum must be a number ≥ 0 and < 1, got 1\.5/);
    expect((await run(['--model', demo, '--nblocks', '0'])).err).toMatch(/--nblocks must be an integer ≥ 1 and ≤ 1000000, got 0/);
  });

  it('an output folder that cannot be written', async () => {
    const file = join(work.dir, 'a-file');
    writeFileSync(file, 'x');
    const out = join(file, 'sub', 'out');
    const r = await run(base(demo, out));
    expect(r.code).toBe(1);
    expect(r.err).toContain(join(file, 'sub'));
    expect(existsSync(join(file, 'sub'))).toBe(false);
  });

  it('an existing non-empty output folder without --overwrite', async () => {
    const out = join(work.dir, 'out-existing');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'mine');
    const r = await run(base(demo, out));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/not empty.*--overwrite/);
    expect(readFileSync(join(out, 'keep.txt'), 'utf8')).toBe('mine');
    // keep.txt is not an output of ours: --overwrite alone does not replace it (docs/output-folders.md)
    const foreign = await run(base(demo, out, ['--overwrite']));
    expect(foreign.code).toBe(1);
    expect(foreign.err).toMatch(/does not look like an earlier output.*--force/);
    expect(readFileSync(join(out, 'keep.txt'), 'utf8')).toBe('mine');
    const ok = await run(base(demo, out, ['--overwrite', '--force']));
    expect(ok.code).toBe(0);
    expect(existsSync(join(out, 'keep.txt'))).toBe(false);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
  });

  it('a missing model folder', async () => {
    const r = await run(base(join(work.dir, 'nope'), join(work.dir, 'o')));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nope/);
  });
});

void copyFileSync;
