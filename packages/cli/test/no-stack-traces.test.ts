// Issue #13 item 14: no input may produce a stack trace. Every case here once ended with exit 2 and a
// Node stack (or, for the last two, a message that named no file); each must now be exit 1 and one
// `error: …` line naming the file at fault.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_TEXT } from '@autoround/autoround';
import { demoModel } from './demo-model.js';
import { runCli, runCliProcess } from './run-cli.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
const undo: (() => void)[] = [];
afterAll(() => {
  // mounts and immutable flags first, or the temporary folder cannot be removed
  for (const u of undo.reverse()) {
    try {
      u();
    } catch {
      /* the next step still runs */
    }
  }
  work.cleanup();
});

const { demo, variant } = demoModel(work.dir);

const base = (model: string, out: string, extra: string[] = []) => ['--model', model, '--iters', '0', '--disable_opt_rtn', '--output_dir', out, ...extra];
/** A run that reads its calibration data (RTN with --iters 0 reads none). */
const tuned = (model: string, out: string, dataset: string) => ['--model', model, '--iters', '1', '--nsamples', '1', '--seqlen', '16', '--dataset', dataset, '--output_dir', out];

/** exit 1, exactly one `error: ` line, which names `subject`, and no stack frame anywhere. */
function expectClean(r: { code: number | null; err: string }, subject: string): string {
  expect(r.err, r.err).not.toMatch(/^ {4}at /m);
  expect(r.code, r.err).toBe(1);
  const errors = r.err.split('\n').filter((l) => l.startsWith('error: '));
  expect(errors.length, r.err).toBe(1);
  expect(errors[0]).toContain(subject);
  return errors[0]!;
}

/** `f` with environment variables set (undefined: removed), restored afterwards. */
async function withEnv<T>(vars: Record<string, string | undefined>, f: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const put = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
    }
  };
  put(vars);
  try {
    return await f();
  } finally {
    put(saved);
  }
}

/** The CLI in this process; AUTOROUND_DEBUG is cleared: it prints stacks on purpose. */
async function cleanError(args: string[], subject: string): Promise<string> {
  return expectClean(await withEnv({ AUTOROUND_DEBUG: undefined }, () => runCli(args)), subject);
}

/** The same in a child process, for runs that need the plugins the CLI discovers (SignRound, the dataset readers, export-gguf), which do not load in-process under vitest. */
async function cleanErrorProcess(args: string[], subject: string): Promise<string> {
  return expectClean(await runCliProcess(args, { AUTOROUND_DEBUG: '' }), subject);
}

function sh(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A tmpfs of `kib` KiB at a fresh folder, unmounted after the file's tests; undefined where mounting is not allowed. */
function smallDisk(name: string, kib: number): string | undefined {
  const mnt = join(work.dir, name);
  mkdirSync(mnt);
  if (!sh('mount', ['-t', 'tmpfs', '-o', `size=${kib}k`, 'tmpfs', mnt])) return undefined;
  undo.push(() => sh('mountpoint', ['-q', mnt]) && execFileSync('umount', [mnt]));
  return mnt;
}
const NO_MOUNT = 'cannot mount a small tmpfs here (needs root or CAP_SYS_ADMIN), so a full disk cannot be provoked';

describe('no input produces a stack trace (issue #13 item 14)', () => {
  it('a .parquet calibration file that is text', async () => {
    const f = join(work.dir, 'calib-text.parquet');
    writeFileSync(f, DEMO_TEXT);
    expect(await cleanErrorProcess(tuned(demo, join(work.dir, 'o-pq-text'), f), f)).toMatch(/not a readable Parquet file/);
  });

  it('a .parquet calibration file that is truncated', async () => {
    const f = join(work.dir, 'calib-trunc.parquet');
    const texts = DEMO_TEXT.split('\n').filter((l) => l.trim());
    writeFileSync(f, Buffer.from(parquetWriteBuffer({ columnData: [{ name: 'text', data: texts, type: 'STRING' }] })));
    truncateSync(f, 100);
    expect(await cleanErrorProcess(tuned(demo, join(work.dir, 'o-pq-trunc'), f), f)).toMatch(/not a readable Parquet file/);
  });

  it('model.safetensors that is a folder', async () => {
    const d = variant('st-folder', (x) => {
      rmSync(join(x, 'model.safetensors'));
      mkdirSync(join(x, 'model.safetensors'));
    });
    expect(await cleanError(base(d, join(work.dir, 'o-st-folder')), join(d, 'model.safetensors'))).toMatch(/is a folder/);
  });

  it('model.safetensors.index.json that is a folder is not called invalid JSON', async () => {
    const d = variant('index-folder', (x) => mkdirSync(join(x, 'model.safetensors.index.json')));
    const msg = await cleanError(base(d, join(work.dir, 'o-index-folder')), join(d, 'model.safetensors.index.json'));
    expect(msg).toMatch(/is a folder/);
    expect(msg).not.toMatch(/JSON \(/);
  });

  it('gguf-info on a folder', async () => {
    expect(await cleanError(['gguf-info', demo], demo)).toMatch(/is a folder, expected a \.gguf file/);
  });

  it('--eval_ppl naming a folder, after quantizing and with eval', async () => {
    const folder = join(work.dir, 'a-folder.txt');
    mkdirSync(folder);
    expect(await cleanError(base(demo, join(work.dir, 'o-eval-folder'), ['--eval_ppl', folder]), folder)).toMatch(/is a folder/);
    expect(await cleanError(['eval', '--model', demo, '--eval_ppl', folder], folder)).toMatch(/is a folder/);
  });

  it('no space left on the device during GGUF export', async (ctx) => {
    // 16 KiB: the staging folder fits, the demo model's GGUF (about 64 KB) does not
    const mnt = smallDisk('full-gguf', 16);
    if (!mnt) return ctx.skip(NO_MOUNT);
    const msg = await cleanErrorProcess(base(demo, join(mnt, 'out'), ['--format', 'gguf:q4_0']), mnt);
    expect(msg).toMatch(/cannot write .*\.gguf: no space left on the device \(ENOSPC/);
    expect(readdirSync(mnt)).toEqual([]); // the staging folder is gone
  });

  it('no space left on the device during a safetensors export', async (ctx) => {
    const mnt = smallDisk('full-st', 16);
    if (!mnt) return ctx.skip(NO_MOUNT);
    expect(await cleanError(base(demo, join(mnt, 'out')), mnt)).toMatch(/cannot write .*: no space left on the device \(ENOSPC/);
    expect(readdirSync(mnt)).toEqual([]);
    // EBUSY here: this process still holds a descriptor of a deleted partial file, and its space
    execFileSync('umount', [mnt]);
  });

  it('an old output folder that cannot be removed during --overwrite', async (ctx) => {
    const out = join(work.dir, 'o-locked');
    expect((await runCli(base(demo, out))).code).toBe(0);
    // root ignores permission bits: as root the folder is made immutable, otherwise read-only
    if (process.getuid?.() === 0) {
      if (!sh('chattr', ['+i', out])) return ctx.skip('chattr +i is not available here (and root ignores chmod), so no folder resists removal');
      undo.push(() => execFileSync('chattr', ['-i', out]));
    } else {
      execFileSync('chmod', ['555', out]);
      undo.push(() => execFileSync('chmod', ['755', out]));
    }
    await cleanError(base(demo, out, ['--overwrite']), out);
  });

  it('a system error no reader or writer named (TMPDIR is a file) is one line with its path, exit 1', async () => {
    const file = join(work.dir, 'tmpdir-is-a-file');
    writeFileSync(file, 'x');
    const r = await withEnv({ TMPDIR: file, AUTOROUND_DEBUG: undefined }, () => runCli(['demo']));
    expect(expectClean(r, file)).toMatch(/not a folder .*\(ENOTDIR in mkdtemp\)/);
  });

  it('a full disk while writing the demo model names the file', async (ctx) => {
    const mnt = smallDisk('full-tmp', 8);
    if (!mnt) return ctx.skip(NO_MOUNT);
    const r = await withEnv({ TMPDIR: mnt, AUTOROUND_DEBUG: undefined }, () => runCli(['demo']));
    expect(expectClean(r, mnt)).toMatch(/cannot write .*demo-llama\/\S+: no space left on the device/);
  });

  it('AUTOROUND_DEBUG=1 prints the stack, and the exit code stays 1', async () => {
    const r = await withEnv({ AUTOROUND_DEBUG: '1' }, () => runCli(['gguf-info', demo]));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: .*is a folder/m);
    expect(r.err).toMatch(/^ {4}at /m);
  });
});
