// Reading a multi-shard checkpoint tensor by tensor against a plain sequential read of the same files.
//   npm run bench -- read [--gb 1.1] [--shard_mb 256]
// Each reader runs in its own process so its peak RSS is its own.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ShardedSafetensorsWriter } from '@autoround/core-tensor';

const argv = process.argv;
const opt = (k: string, d: number) => (argv.includes(`--${k}`) ? Number(argv[argv.indexOf(`--${k}`) + 1]) : d);
const totalBytes = opt('gb', 1.1) * 1e9;
const shardBytes = opt('shard_mb', 256) * 1e6;
const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'read-bench-'));
try {
  console.log(`writing a ${(totalBytes / 1e9).toFixed(2)} GB checkpoint in ${(shardBytes / 1e6).toFixed(0)} MB shards to ${dir}`);
  const w = new ShardedSafetensorsWriter(dir, { maxShardBytes: shardBytes });
  let written = 0;
  let k = 0;
  let seed = 12345;
  while (written < totalBytes) {
    // layer-like shapes: alternating 4096x2048 (32 MiB) and 2048 (a norm) tensors
    const big = new Float32Array(4096 * 2048);
    for (let i = 0; i < big.length; i += 64) big[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 2 ** 31;
    w.add(`model.layers.${k}.mlp.weight`, 'F32', [4096, 2048], big);
    w.add(`model.layers.${k}.norm.weight`, 'F32', [2048], new Float32Array(2048).fill(1));
    written += big.byteLength + 8192;
    k++;
  }
  w.close();
  const shards = readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
  const largest = Math.max(...shards.map((f) => statSync(join(dir, f)).size));
  console.log(`${shards.length} shards, largest ${(largest / 1e6).toFixed(0)} MB`);
  const runOne = (mode: string) => {
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(here, 'read-worker.ts'), mode, dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { sec: number; bytes: number; maxRssBytes: number };
  };
  // warm the page cache once, then alternate so both see the same cache state
  runOne('plain');
  const plain: number[] = [];
  const ours: { sec: number; rss: number }[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const p = runOne('plain');
    plain.push(p.bytes / p.sec);
    const o = runOne('checkpoint');
    ours.push({ sec: o.bytes / o.sec, rss: o.maxRssBytes });
  }
  const best = (a: number[]) => Math.max(...a);
  const plainMBs = best(plain) / 1e6;
  const oursMBs = best(ours.map((o) => o.sec)) / 1e6;
  const peak = Math.max(...ours.map((o) => o.rss));
  console.log(`plain sequential read: ${plainMBs.toFixed(0)} MB/s; tensor by tensor: ${oursMBs.toFixed(0)} MB/s (${((100 * oursMBs) / plainMBs).toFixed(0)}%)`);
  console.log(`peak RSS ${(peak / 1e6).toFixed(0)} MB; limit (largest shard + 10%) ${((largest * 1.1) / 1e6).toFixed(0)} MB`);
  console.log(JSON.stringify({ bench: 'read', total_gb: written / 1e9, shards: shards.length, plain_mb_s: plainMBs, ours_mb_s: oursMBs, peak_rss_mb: peak / 1e6, largest_shard_mb: largest / 1e6, rss_within_limit: peak < largest * 1.1, ratio: oursMBs / plainMBs }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
