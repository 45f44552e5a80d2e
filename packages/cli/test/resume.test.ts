// Resumable runs (issue #13, docs/resume.md): a SignRound run killed with SIGKILL right after a block's
// checkpoint continues with --resume and writes the same bytes as an uninterrupted run; a saved state
// of a different run (another --iters, an edited config.json) is refused, naming what differs.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_TEXT, resumeDirOf, writeDemoModel } from '@autoround/autoround';
import { HAS_SHARED, LLAMA256, TINYSTORIES, needsShared, tempDir } from '@autoround/testing';
import { runCli as runInProcess } from './run-cli.js';

const work = tempDir('autoround-resume-');
afterAll(() => work.cleanup());

const ENTRY = resolve(import.meta.dirname, '../src/index.ts');
// the CLI from its sources in a child process, so that it can die of a real SIGKILL
const RUNNER = `const { main } = await import(${JSON.stringify(ENTRY)}); process.exitCode = await main(process.argv.slice(1), 'auto-round');`;

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  err: string;
}

/**
 * Runs the CLI in a child process (the SignRound plugin is found as an installed package there, which
 * the in-process runner cannot load from its sources); with `killAfter` the child kills itself with
 * SIGKILL once that many blocks are checkpointed (AUTOROUND_TEST_EXIT_AFTER_BLOCK).
 */
function runCli(args: string[], killAfter?: number): Promise<ChildRun> {
  const env = { ...process.env };
  delete env.AUTOROUND_TEST_EXIT_AFTER_BLOCK;
  if (killAfter !== undefined) env.AUTOROUND_TEST_EXIT_AFTER_BLOCK = String(killAfter);
  const proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', RUNNER, '--', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((res) => proc.once('exit', (code, signal) => res({ code, signal, err })));
}
const runKilledAfter = (blocks: number, args: string[]) => runCli(args, blocks);

/** Every file under `dir` (relative path → bytes). */
function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

function expectSameFiles(a: string, b: string): void {
  const fa = filesOf(a);
  const fb = filesOf(b);
  expect([...fb.keys()].sort()).toEqual([...fa.keys()].sort());
  for (const [name, bytes] of fa) expect(fb.get(name)!.equals(bytes), `${name} differs`).toBe(true);
}

/**
 * An uninterrupted run into A, a run into B killed after `killAfter` blocks, then --resume into B:
 * B must hold A's bytes and the resume folder must be gone.
 */
async function killAndResume(name: string, args: string[], killAfter: number): Promise<void> {
  const a = join(work.dir, `${name}-a`);
  const b = join(work.dir, `${name}-b`);
  // the two first runs are independent: side by side
  const [full, killed] = await Promise.all([runCli([...args, '--output_dir', a]), runKilledAfter(killAfter, [...args, '--output_dir', b])]);
  expect(full.code, full.err).toBe(0);
  expect(killed.signal, killed.err).toBe('SIGKILL');
  expect(existsSync(b)).toBe(false);
  expect(existsSync(join(resumeDirOf(b), 'state.bin'))).toBe(true);
  const resumed = await runCli([...args, '--output_dir', b, '--resume']);
  expect(resumed.code, resumed.err).toBe(0);
  expect(resumed.err).toMatch(new RegExp(`${killAfter} of \\d+ blocks restored, continuing with block ${killAfter + 1}`));
  expectSameFiles(a, b);
  expect(existsSync(resumeDirOf(b))).toBe(false);
}

describe.skipIf(!HAS_SHARED)(needsShared('--resume on llama-256'), () => {
  // a small lr, so that tuning moves every block away from RTN, and 8 samples drawn 2 at a time: a
  // resumed run that did not restore the sampler's state would differ (checked by undoing it)
  const base = ['--model', LLAMA256, '--lr', '0.02', '--nsamples', '8', '--seqlen', '48', '--batch_size', '2', '--dataset', TINYSTORIES];

  it('SIGKILL right after block 2 of 4, then --resume: every output file byte-identical to an uninterrupted run', async () => {
    await killAndResume('llama', [...base, '--iters', '6', '--format', 'auto_round,fake'], 2);
  }, 180_000);

  it('the GGUF tuning path (--format gguf:q4_k_m) resumes byte-identically too', async () => {
    await killAndResume('llama-gguf', [...base, '--iters', '4', '--format', 'gguf:q4_k_m'], 2);
  }, 180_000);
});

describe('--resume on the demo model (no fixtures needed)', () => {
  const model = join(work.dir, 'demo-llama');
  const text = join(work.dir, 'demo.txt');
  // 8 samples drawn 2 at a time: a resumed run that did not restore the sampler's state would differ
  const args = () => ['--model', model, '--group_size', '32', '--iters', '6', '--nsamples', '8', '--seqlen', '32', '--batch_size', '2', '--dataset', text, '--format', 'auto_round'];
  const setup = () => {
    if (existsSync(model)) return;
    writeDemoModel(model, { layers: 4 });
    // 48 different paragraphs (the demo text's sentences, rotated), one calibration sample each
    const sentences = DEMO_TEXT.split(/(?<=[.!?])\s+/).filter(Boolean);
    const paragraphs = Array.from({ length: 48 }, (_, i) => [...sentences.slice(i % sentences.length), ...sentences.slice(0, i % sentences.length)].join(' '));
    writeFileSync(text, `${paragraphs.join('\n\n')}\n`);
  };

  it('SIGKILL after block 2, --resume: byte-identical output (with tuned norms and biases, which the state carries)', async () => {
    setup();
    await killAndResume('demo-nbt', [...args(), '--enable_norm_bias_tuning'], 2);
  }, 120_000);

  it('a saved state of another run is refused with the field that differs (--iters, config.json), and kept', async () => {
    setup();
    const a = join(work.dir, 'demo-a');
    if (!existsSync(a)) expect((await runCli([...args(), '--output_dir', a])).code).toBe(0);
    const out = join(work.dir, 'demo-mismatch');
    const state = join(resumeDirOf(out), 'state.bin');
    expect((await runKilledAfter(1, [...args(), '--output_dir', out])).signal).toBe('SIGKILL');
    const saved = readFileSync(state);

    const iters = await runCli([...args().map((x) => (x === '6' ? '5' : x)), '--output_dir', out, '--resume']);
    expect(iters.code).toBe(1);
    expect(iters.err).toMatch(/^error: cannot resume the interrupted run saved in .*: option --iters differs \(interrupted run: 6; this run: 5\)/m);

    const configFile = join(model, 'config.json');
    const config = readFileSync(configFile);
    writeFileSync(configFile, config.toString().replace('"rms_norm_eps": 0.00001', '"rms_norm_eps": 0.000011').replace('"rms_norm_eps": 1e-5', '"rms_norm_eps": 1.1e-5'));
    expect(readFileSync(configFile).equals(config)).toBe(false);
    let edited: ChildRun;
    try {
      edited = await runCli([...args(), '--output_dir', out, '--resume']);
    } finally {
      writeFileSync(configFile, config);
    }
    expect(edited.code).toBe(1);
    expect(edited.err).toMatch(/model file config\.json differs/);
    // nothing was written and the state is untouched: the right run still resumes
    expect(existsSync(out)).toBe(false);
    expect(readFileSync(state).equals(saved)).toBe(true);
    const resumed = await runCli([...args(), '--output_dir', out, '--resume']);
    expect(resumed.code, resumed.err).toBe(0);
    expectSameFiles(a, out);
  }, 120_000);

  it('without --resume a saved state of the same output is discarded with one line, and the run starts over', async () => {
    setup();
    const a = join(work.dir, 'demo-a');
    if (!existsSync(a)) expect((await runCli([...args(), '--output_dir', a])).code).toBe(0);
    const out = join(work.dir, 'demo-discard');
    expect((await runKilledAfter(3, [...args(), '--output_dir', out])).signal).toBe('SIGKILL');
    expect(existsSync(resumeDirOf(out))).toBe(true);
    const fresh = await runCli([...args(), '--output_dir', out]);
    expect(fresh.code, fresh.err).toBe(0);
    expect(fresh.err.match(/discarding the saved state of an interrupted run/g)).toHaveLength(1);
    expect(fresh.err).not.toMatch(/blocks restored/);
    expectSameFiles(a, out);
    expect(existsSync(resumeDirOf(out))).toBe(false);
  }, 120_000);

  it('--resume of a run that does not checkpoint (RTN, --iters 0) starts from the beginning and says so', async () => {
    setup();
    const out = join(work.dir, 'demo-rtn');
    // plain RTN is built in: this one runs in this process
    const r = await runInProcess([...args().map((x) => (x === '6' ? '0' : x)), '--disable_opt_rtn', '--output_dir', out, '--resume']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/--resume: .* does not checkpoint its work .*starting from the beginning/);
    expect(existsSync(resumeDirOf(out))).toBe(false);
  }, 60_000);
});
