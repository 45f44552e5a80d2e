import * as realFs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { isAutoRoundError, memoryLogger, writeAtomically } from '../src/index.js';
import { tempDir } from '@autoround/testing';

// Failures that root cannot provoke with permissions are injected into node:fs as staging.ts sees it.
const inject = vi.hoisted(() => ({ rmFails: false, renameIntoFails: false }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const eacces = (p: string) => Object.assign(new Error(`EACCES: permission denied, '${p}'`), { code: 'EACCES' });
  return {
    ...fs,
    // a recursive delete that stops part-way, as on a read-only subfolder: one file gone, then EACCES
    rmSync(p: realFs.PathLike, o?: realFs.RmOptions) {
      const path = String(p);
      if (inject.rmFails && o?.recursive && !path.includes('.partial-') && fs.existsSync(path)) {
        const first = fs.readdirSync(path).sort()[0];
        if (first) fs.rmSync(join(path, first), { recursive: true, force: true });
        throw eacces(path);
      }
      return fs.rmSync(p, o);
    },
    // the staged output cannot be renamed into place
    renameSync(from: realFs.PathLike, to: realFs.PathLike) {
      if (inject.renameIntoFails && String(from).includes('.partial-') && !String(to).includes('.autoround-')) throw eacces(String(to));
      return fs.renameSync(from, to);
    },
  };
});

const work = tempDir('autoround-staging-fail-');
afterAll(() => work.cleanup());

function writeOutput(dir: string, tag: string): void {
  realFs.mkdirSync(dir, { recursive: true });
  realFs.writeFileSync(join(dir, 'config.json'), JSON.stringify({ quantization_config: { tag } }));
  realFs.writeFileSync(join(dir, 'model.safetensors'), tag);
}
const contents = (dir: string) => realFs.readdirSync(dir).sort().map((f) => `${f}=${realFs.readFileSync(join(dir, f), 'utf8')}`);

describe('replacing an output is atomic (issue 13, item 2)', () => {
  it('a delete of the old folder that stops part-way leaves the new output whole in place', async () => {
    const out = join(work.dir, 'a', 'out');
    writeOutput(out, 'old');
    inject.rmFails = true;
    const log = memoryLogger();
    try {
      await writeAtomically(out, (tmp) => writeOutput(tmp, 'new'), { overwrite: true, log });
    } finally {
      inject.rmFails = false;
    }
    expect(contents(out)).toEqual(['config.json={"quantization_config":{"tag":"new"}}', 'model.safetensors=new']);
    expect(log.lines.join('\n')).toMatch(/could not be deleted .*delete it by hand/);
  });

  it('a new output that cannot be renamed in puts the old one back and keeps the new one', async () => {
    const out = join(work.dir, 'b', 'out');
    writeOutput(out, 'old');
    inject.renameIntoFails = true;
    let err: unknown;
    try {
      await writeAtomically(out, (tmp) => writeOutput(tmp, 'new'), { overwrite: true });
    } catch (e) {
      err = e;
    } finally {
      inject.renameIntoFails = false;
    }
    expect(isAutoRoundError(err)).toBe(true);
    expect((err as Error).message).toMatch(/the old folder was put back and the new output is in .*out\.autoround-/);
    expect(contents(out)).toEqual(['config.json={"quantization_config":{"tag":"old"}}', 'model.safetensors=old']);
    const kept = realFs.readdirSync(join(work.dir, 'b')).filter((f) => f.startsWith('out.autoround-'));
    expect(kept).toHaveLength(1);
    expect(contents(join(work.dir, 'b', kept[0]!))).toEqual(['config.json={"quantization_config":{"tag":"new"}}', 'model.safetensors=new']);
  });
});
