import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HAS_SHARED, STORIES, TINYSTORIES, needsShared, tempDir } from '@autoround/testing';

const work = tempDir();
let child: ChildProcess | undefined;
afterAll(() => {
  child?.kill('SIGKILL');
  work.cleanup();
});

const ENTRY = resolve(import.meta.dirname, '../src/index.ts');
// the CLI from its sources in a child process, so that a real SIGINT reaches it
const RUNNER = `const { main } = await import(${JSON.stringify(ENTRY)}); process.exitCode = await main(process.argv.slice(1), 'auto-round');`;

describe.skipIf(!HAS_SHARED)(needsShared('Ctrl-C during a run'), () => {
  it('stops within seconds, exits 130 and leaves neither the output folder nor its staging folder', async () => {
    const out = join(work.dir, 'interrupted');
    const args = ['--model', STORIES, '--bits', '2', '--group_size', '32', '--asym', '--iters', '1000', '--nsamples', '32', '--seqlen', '128', '--dataset', `${TINYSTORIES}:concat`, '--format', 'fake', '--output_dir', out];
    const proc = (child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', RUNNER, '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let err = '';
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // wait until tuning has started (the calibration line is printed before the first block)
    await new Promise<void>((res, rej) => {
      const t = setInterval(() => {
        if (/calibration:/.test(err)) {
          clearInterval(t);
          setTimeout(res, 1500);
        }
      }, 50);
      proc.once('exit', () => {
        clearInterval(t);
        rej(new Error(`the run ended before it could be interrupted:\n${err}`));
      });
    });
    const t0 = Date.now();
    proc.kill('SIGINT');
    // a run that ignores the signal is killed after 10 s (and fails below)
    const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    const code = await new Promise<number | null>((res) => proc.once('exit', (c) => res(c)));
    clearTimeout(killer);
    const seconds = (Date.now() - t0) / 1000;
    expect(code).toBe(130);
    expect(err).toMatch(/SIGINT: stopped; nothing was written to/);
    expect(seconds).toBeLessThan(5);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(work.dir).filter((f) => f.includes('interrupted'))).toEqual([]);
  }, 60_000);
});
