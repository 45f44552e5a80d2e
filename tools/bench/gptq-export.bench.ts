// auto_gptq export of a ≥1 GB LLaMA-shaped checkpoint (RTN, W4A16 g128) against a plain read of
// the same bytes and the fake export, each in its own process; checks peak RSS against one output
// shard + one block + 20%.
//   npm run bench -- gptq-export [--layers 10] [--hidden 2048] [--intermediate 5632] [--shard_mb 200] [--reps 2] [--keep]
// The exports alternate (fake, auto_gptq, fake, …) and the best of --reps counts, so both see the same
// machine load; MB per CPU-second is reported too, being less sensitive to other processes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv;
const opt = (k: string, d: number) => (argv.includes(`--${k}`) ? Number(argv[argv.indexOf(`--${k}`) + 1]) : d);
const layers = opt('layers', 10);
const hidden = opt('hidden', 2048);
const inter = opt('intermediate', 5632);
const vocab = opt('vocab', 32000);
const kvHeads = opt('kv_heads', 16);
const shardBytes = opt('shard_mb', 200) * 1e6;
const reps = opt('reps', 2);
const here = dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'gptq-export-bench-'));
const src = join(root, 'src');

try {
  // the checkpoint is generated in a child too: a forked child starts with its parent's resident
  // pages counted in its peak RSS, so the parent must stay small
  const g = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(here, 'gptq-export-worker.ts'), 'generate', src, '', '0', String(layers), String(hidden), String(inter), String(vocab), String(kvHeads)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (g.status !== 0) throw new Error('generating the checkpoint failed');
  const { total, blockBytes } = JSON.parse(g.stdout.trim().split('\n').pop()!) as { total: number; blockBytes: number };
  console.log(`${(total / 1e9).toFixed(2)} GB of weights; one block ${(blockBytes / 1e6).toFixed(0)} MB in bf16, ${((2 * blockBytes) / 1e6).toFixed(0)} MB as float32`);

  interface Run {
    mode: string;
    sec: number;
    cpuSec: number;
    sourceBytes: number;
    outBytes: number;
    largestOutShard: number;
    maxRssBytes: number;
  }
  const runOne = (mode: string): Run => {
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(here, 'gptq-export-worker.ts'), mode, src, join(root, `out-${mode}`), String(shardBytes)], {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    if (r.status !== 0) throw new Error(`${mode} run failed:\n${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Run;
  };
  runOne('plain'); // warm the page cache so every run sees the same cache state
  const plain = runOne('plain');
  const best = (a: Run, b: Run | undefined): Run => (b && b.sec < a.sec ? b : a);
  let fake: Run | undefined;
  let gptq: Run | undefined;
  const peak = { fake: 0, gptq: 0 };
  for (let k = 0; k < reps; k++) {
    const f = runOne('fake');
    const g = runOne('auto_gptq');
    peak.fake = Math.max(peak.fake, f.maxRssBytes);
    peak.gptq = Math.max(peak.gptq, g.maxRssBytes);
    fake = best(f, fake);
    gptq = best(g, gptq);
  }
  fake!.maxRssBytes = peak.fake;
  gptq!.maxRssBytes = peak.gptq;
  const mbs = (r: Run) => r.sourceBytes / 1e6 / r.sec;
  const mbcpu = (r: Run) => r.sourceBytes / 1e6 / r.cpuSec;
  // the bound: one output shard (the writer buffers one) + one block as float32 (what a block-wise
  // algorithm holds; RTN holds one layer of it) + 20%
  const limit = (shardBytes + 2 * blockBytes) * 1.2;
  for (const r of [plain, fake!, gptq!]) {
    console.log(
      `${r.mode.padEnd(9)} ${mbs(r).toFixed(0).padStart(5)} MB/s of source (${r.sec.toFixed(1)} s, ${mbcpu(r).toFixed(0)} MB per CPU-second), peak RSS ${(r.maxRssBytes / 1e6).toFixed(0)} MB` +
        (r.outBytes ? `, wrote ${(r.outBytes / 1e6).toFixed(0)} MB (largest shard ${(r.largestOutShard / 1e6).toFixed(0)} MB)` : ''),
    );
  }
  console.log(`peak RSS limit: (shard ${(shardBytes / 1e6).toFixed(0)} MB + block ${((2 * blockBytes) / 1e6).toFixed(0)} MB) × 1.2 = ${(limit / 1e6).toFixed(0)} MB`);
  console.log(
    JSON.stringify({
      bench: 'gptq-export',
      source_gb: total / 1e9,
      layers,
      max_shard_mb: shardBytes / 1e6,
      block_f32_mb: (2 * blockBytes) / 1e6,
      reps,
      load_avg_1m: loadavg()[0],
      plain_read_mb_s: mbs(plain),
      fake_mb_s: mbs(fake!),
      gptq_mb_s: mbs(gptq!),
      fake_mb_per_cpu_s: mbcpu(fake!),
      gptq_mb_per_cpu_s: mbcpu(gptq!),
      fake_peak_rss_mb: fake!.maxRssBytes / 1e6,
      gptq_peak_rss_mb: gptq!.maxRssBytes / 1e6,
      rss_limit_mb: limit / 1e6,
      rss_within_limit: gptq!.maxRssBytes < limit,
      ratio: mbs(gptq!) / mbs(fake!),
    }),
  );
} finally {
  if (!argv.includes('--keep')) rmSync(root, { recursive: true, force: true });
}
