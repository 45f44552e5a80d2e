// npm run bench -- whole-run --baseline DIR [--reps N] [--iters N] [--model DIR]
// The wall time of whole `auto-round` runs (load, calibration, SignRound block by block, export) of this tree's
// built CLI against the CLI of another built checkout (DIR: e.g. `git worktree add ../base <commit>` then
// `npm ci && npm run build` there), in the same run: the two alternate, run after run, so that the load of the
// machine falls on both alike. Prints each run, the medians and their ratio (this tree / baseline; below 1 is
// faster), and one JSON line per case. The default case is llama-256 (../shared), W4A16, SignRound 20 iterations
// on 16 TinyStories samples of 128 tokens, auto_round format, the sanity probe skipped.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LLAMA256, REPO_ROOT, TINYSTORIES } from '@autoround/testing';

const opt = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const baseline = opt('baseline', '');
const reps = Number(opt('reps', '3'));
const iters = opt('iters', '20');
const model = resolve(opt('model', LLAMA256));
if (!baseline) {
  console.error('whole-run: --baseline DIR (a built checkout of the commit to compare with) is required');
  process.exit(2);
}
const cli = (tree: string) => join(resolve(tree), 'packages', 'cli', 'bin', 'auto-round.js');
for (const t of [REPO_ROOT, baseline]) {
  if (!existsSync(cli(t))) {
    console.error(`whole-run: no CLI at ${cli(t)} (build that tree first)`);
    process.exit(2);
  }
}
if (!existsSync(join(model, 'config.json'))) {
  console.error(`whole-run: no model at ${model} (the ../shared fixtures are needed)`);
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), 'autoround-whole-run-'));
const args = (out: string) => ['--model', model, '--scheme', 'W4A16', '--iters', iters, '--nsamples', '16', '--seqlen', '128', '--dataset', TINYSTORIES, '--format', 'auto_round', '--output_dir', out, '--skip_sanity_check'];

/** Seconds of one run of the CLI in `tree`. */
function run(tree: string, k: number): number {
  const out = join(work, `out-${k}`);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [cli(tree), ...args(out)], { cwd: work, encoding: 'utf8' });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) {
    console.error(`whole-run: ${tree} exited ${r.status}:\n${(r.stderr ?? '').slice(-2000)}`);
    process.exit(1);
  }
  rmSync(out, { recursive: true, force: true });
  return s;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const mine: number[] = [];
const base: number[] = [];
console.log(`whole-run: ${model}, W4A16, SignRound ${iters} iterations, 16 × 128 tokens; this tree (${REPO_ROOT}) vs ${resolve(baseline)}, ${reps} alternating pairs`);
for (let k = 0; k < reps; k++) {
  // alternate which goes first, so that neither always meets a warmer (or busier) machine
  const pair = k % 2 === 0 ? ([['this', REPO_ROOT], ['baseline', baseline]] as const) : ([['baseline', baseline], ['this', REPO_ROOT]] as const);
  for (const [which, tree] of pair) {
    const s = run(tree, k);
    (which === 'this' ? mine : base).push(s);
    console.log(`  pair ${k + 1}: ${which.padEnd(8)} ${s.toFixed(2)} s`);
  }
}
rmSync(work, { recursive: true, force: true });
const ratio = median(mine) / median(base);
console.log(`median: this ${median(mine).toFixed(2)} s, baseline ${median(base).toFixed(2)} s, ratio ${ratio.toFixed(3)}`);
console.log(JSON.stringify({ bench: 'whole-run', model: model.split('/').pop(), iters: Number(iters), reps, this_s: Number(median(mine).toFixed(3)), baseline_s: Number(median(base).toFixed(3)), ratio: Number(ratio.toFixed(4)) }));
