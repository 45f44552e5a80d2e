import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAutoRoundError, memoryLogger, writeAtomically } from '../src/index.js';
import { checkOutputPath } from '../src/staging.js';
import { tempDir } from '@autoround/testing';

const work = tempDir('autoround-staging-');
afterAll(() => work.cleanup());
let n = 0;
/** A fresh folder per test under the temporary work folder. */
function fresh(): string {
  const d = join(work.dir, `case-${n++}`);
  mkdirSync(d);
  return d;
}

/** An earlier output of ours: config.json with a quantization_config and a weight file. */
function writeOldOutput(dir: string, tag = 'old'): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ quantization_config: { quant_method: 'auto-round', tag } }));
  writeFileSync(join(dir, 'model.safetensors'), tag.repeat(100));
}
const fillNew = (dir: string) => writeFileSync(join(dir, 'config.json'), JSON.stringify({ quantization_config: { tag: 'new' } }));

async function expectRefused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(isAutoRoundError(e), String(e)).toBe(true);
  expect((e as Error).message).toMatch(pattern);
}

function listing(dir: string): string[] {
  return readdirSync(dir).sort();
}

describe('writeAtomically refuses folders it must never replace (issue 13, item 1)', () => {
  const cwd = process.cwd();
  const home = process.env.HOME;
  afterEach(() => {
    process.chdir(cwd);
    if (home === undefined) delete process.env.HOME;
    else process.env.HOME = home;
  });

  it('an empty path', async () => {
    const d = fresh();
    process.chdir(d);
    writeFileSync(join(d, 'keep.txt'), 'x');
    await expectRefused(writeAtomically('', fillNew, { overwrite: true, force: true }), /output folder is empty/);
    expect(listing(d)).toEqual(['keep.txt']);
  });

  it('the current folder and its ancestors, even with --overwrite --force', async () => {
    const d = fresh();
    const inner = join(d, 'inner');
    writeOldOutput(inner);
    process.chdir(inner);
    await expectRefused(writeAtomically('.', fillNew, { overwrite: true, force: true }), /current folder/);
    await expectRefused(writeAtomically('..', fillNew, { overwrite: true, force: true }), /ancestor of the current folder/);
    expect(readFileSync(join(inner, 'model.safetensors'), 'utf8')).toBe('old'.repeat(100));
  });

  it('the root and the home folder', async () => {
    const d = fresh();
    process.env.HOME = join(d, 'home');
    writeOldOutput(process.env.HOME);
    await expectRefused(writeAtomically(process.env.HOME, fillNew, { overwrite: true, force: true }), /home folder/);
    await expectRefused(writeAtomically(d, fillNew, { overwrite: true, force: true }), /ancestor of the home folder/);
    // the root through the check alone: a regression must not get as far as touching it
    expect(() => checkOutputPath('/', { overwrite: true, force: true })).toThrow(/root folder/);
    expect(existsSync(join(process.env.HOME, 'model.safetensors'))).toBe(true);
  });

  it('the input model folder and any folder holding an input', async () => {
    const d = fresh();
    const model = join(d, 'models', 'm');
    writeOldOutput(model);
    const calib = join(d, 'data', 'calib.txt');
    mkdirSync(join(d, 'data'));
    writeFileSync(calib, 'text');
    await expectRefused(writeAtomically(model, fillNew, { overwrite: true, force: true, protect: [model] }), /is the input/);
    await expectRefused(writeAtomically(join(d, 'models'), fillNew, { overwrite: true, force: true, protect: [model] }), /contains the input/);
    await expectRefused(writeAtomically(join(d, 'data'), fillNew, { overwrite: true, force: true, protect: [model, calib] }), /contains the input .*calib\.txt/);
    expect(readFileSync(join(model, 'model.safetensors'), 'utf8')).toBe('old'.repeat(100));
    expect(readFileSync(calib, 'utf8')).toBe('text');
  });

  it('a folder that does not look like an earlier output, unless --force comes with --overwrite', async () => {
    const d = fresh();
    const photos = join(d, 'photos');
    mkdirSync(photos);
    writeFileSync(join(photos, 'cat.jpg'), 'meow');
    await expectRefused(writeAtomically(photos, fillNew, { overwrite: true }), /does not look like an earlier output.*--force/);
    expect(listing(photos)).toEqual(['cat.jpg']);
    await writeAtomically(photos, fillNew, { overwrite: true, force: true });
    expect(listing(photos)).toEqual(['config.json']);
  });

  it('an earlier output (one format or one subfolder per format) is replaced with --overwrite', async () => {
    const d = fresh();
    const one = join(d, 'one');
    writeOldOutput(one);
    await writeAtomically(one, fillNew, { overwrite: true });
    expect(listing(one)).toEqual(['config.json']);
    const several = join(d, 'several');
    writeOldOutput(join(several, 'auto_round'));
    mkdirSync(join(several, 'fake'));
    writeFileSync(join(several, 'fake', 'quantization_config.json'), '{}');
    await writeAtomically(several, fillNew, { overwrite: true });
    expect(listing(several)).toEqual(['config.json']);
    expect(listing(d)).toEqual(['one', 'several']); // nothing left beside them
  });
});

describe('writeAtomically replaces only what it checked at the start (issue 13, item 3)', () => {
  it('a file created in the target during the run stops the replacement and keeps both', async () => {
    const d = fresh();
    const out = join(d, 'out');
    writeOldOutput(out);
    await expectRefused(
      writeAtomically(
        out,
        (tmp) => {
          fillNew(tmp);
          writeFileSync(join(out, 'written-meanwhile.txt'), 'mine');
        },
        { overwrite: true },
      ),
      /changed during the run.*new output is in/,
    );
    expect(readFileSync(join(out, 'written-meanwhile.txt'), 'utf8')).toBe('mine');
    expect(readFileSync(join(out, 'model.safetensors'), 'utf8')).toBe('old'.repeat(100));
    const kept = readdirSync(d).filter((f) => f.startsWith('out.autoround-'));
    expect(kept).toHaveLength(1);
    expect(listing(join(d, kept[0]!))).toEqual(['config.json']);
  });

  it('a target that appears during a run without --overwrite (a concurrent run) is not replaced', async () => {
    const d = fresh();
    const out = join(d, 'out');
    await expectRefused(
      writeAtomically(out, (tmp) => {
        fillNew(tmp);
        writeOldOutput(out, 'other-run');
      }),
      /changed during the run \(it appeared\)/,
    );
    expect(readFileSync(join(out, 'model.safetensors'), 'utf8')).toBe('other-run'.repeat(100));
  });
});

describe('writeAtomically cleans what dead runs left (issue 13, item 4)', () => {
  /** The pid of a process that has exited. */
  function deadPid(): number {
    const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    return Number(r.stdout.toString());
  }

  it('removes the staging folder of a killed run and says so; keeps a live one', async () => {
    const d = fresh();
    const dead = deadPid();
    const stale = join(d, `.out.partial-${dead}-abc`);
    mkdirSync(stale);
    writeFileSync(join(stale, 'model-00001-of-00002.safetensors'), 'x'.repeat(1000));
    const live = join(d, `.out.partial-${process.ppid}-abc`);
    mkdirSync(live);
    const other = join(d, `.other.partial-${dead}-abc`);
    mkdirSync(other);
    const log = memoryLogger();
    await writeAtomically(join(d, 'out'), fillNew, { log });
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(other)).toBe(true);
    expect(log.lines.join('\n')).toContain(`removed ${stale}`);
  });

  it('puts back an output a killed run had set aside', async () => {
    const d = fresh();
    const aside = join(d, `.out.old-${deadPid()}-abc`);
    writeOldOutput(aside);
    const log = memoryLogger();
    await writeAtomically(join(d, 'out2'), fillNew, { log }); // another output's leftovers are not touched
    expect(existsSync(aside)).toBe(true);
    // put back first, then checked as any existing folder: not replaced without --overwrite
    await expectRefused(writeAtomically(join(d, 'out'), fillNew, { log }), /not empty/);
    expect(existsSync(aside)).toBe(false);
    expect(readFileSync(join(d, 'out', 'model.safetensors'), 'utf8')).toBe('old'.repeat(100));
    expect(log.lines.join('\n')).toContain(`put back ${join(d, 'out')}`);
  });
});

describe('writeAtomically keeps the permissions of the folder it replaces (issue 13, item 5)', () => {
  let umask = 0;
  beforeEach(() => {
    umask = process.umask(0o022);
  });
  afterEach(() => {
    process.umask(umask);
  });

  it('refuses a read-only (chmod 500) output folder', async () => {
    const d = fresh();
    const out = join(d, 'out');
    mkdirSync(out);
    chmodSync(out, 0o500);
    await expectRefused(writeAtomically(out, fillNew), /read-only \(mode 0500\)/);
    expect(statSync(out).mode & 0o777).toBe(0o500);
    expect(listing(out)).toEqual([]);
  });

  it('a replaced folder keeps its mode', async () => {
    const d = fresh();
    const out = join(d, 'out');
    mkdirSync(out);
    chmodSync(out, 0o770);
    await writeAtomically(out, fillNew);
    expect(statSync(out).mode & 0o777).toBe(0o770);
    expect(listing(out)).toEqual(['config.json']);
  });
});
