import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HAS_SHARED, needsShared, tempDir, writeMoeFixture } from '@autoround/testing';

// Issue #16: the peak memory of RTN on a mixture-of-experts model is set by one block, not by the model
// (docs/models/moe.md#memory). 4 sparse blocks of 16 experts (each expert 768 × 256, 38.5 MB of float32 per block),
// sharded at 40 MB: the run's peak RSS above the process's RSS before it starts must stay below twice one block's
// weights plus the largest shard.
const work = tempDir('moe-mem-');
afterAll(() => work.cleanup());

const ENTRY = resolve(import.meta.dirname, '../src/index.ts');
const RUNNER = `const { main } = await import(${JSON.stringify(ENTRY)});
const before = process.memoryUsage().rss;
const rc = await main(process.argv.slice(1), 'auto-round');
console.log(JSON.stringify({ rc, before, peak: process.resourceUsage().maxRSS * 1024 }));`;

describe.skipIf(!HAS_SHARED)(needsShared('MoE RTN memory'), () => {
  it('peak RSS of plain RTN on 4 blocks × 16 experts stays below 2 × one block + the largest shard', async () => {
    const model = join(work.dir, 'moe');
    writeMoeFixture(model, { family: 'qwen3_moe', layers: 4, experts: 16, expertIntermediate: 768, maxShardBytes: 40_000_000 });
    const index = JSON.parse(readFileSync(join(model, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
    const shards = readdirSync(model).filter((f) => f.endsWith('.safetensors'));
    expect(shards.length).toBe(4);
    const largestShard = Math.max(...shards.map((f) => statSync(join(model, f)).size));
    // one block's weights: its tensors' float32 bytes (read from the header sizes of the 16 experts' and attention's shapes)
    const blockBytes = (16 * 3 * 768 * 256 + 2 * 256 * 256 + 2 * 128 * 256 + 16 * 256 + 2 * 256 + 2 * 32) * 4;
    expect(Object.keys(index.weight_map).filter((n) => n.startsWith('model.layers.0.')).length).toBe(16 * 3 + 4 + 1 + 4);
    const out = join(work.dir, 'out');
    const args = ['--model', model, '--scheme', 'W4A16', '--group_size', '128', '--iters', '0', '--disable_opt_rtn', '--format', 'auto_round', '--skip_sanity_check', '--output_dir', out];
    // asynchronously: a blocked worker misses vitest's heartbeat
    const stdout = await new Promise<string>((done, fail) => {
      const p = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', RUNNER, '--', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
      let text = '';
      p.stdout.on('data', (d: Buffer) => (text += d.toString()));
      p.on('error', fail);
      p.on('close', () => done(text));
    });
    const line = stdout.trim().split('\n').pop()!;
    const { rc, before, peak } = JSON.parse(line) as { rc: number; before: number; peak: number };
    expect(rc).toBe(0);
    const limit = 2 * blockBytes + largestShard;
    console.log(JSON.stringify({ grewBytes: peak - before, limit, blockBytes, largestShard, peak }));
    expect(peak - before).toBeLessThan(limit);
  }, 300_000);
});
