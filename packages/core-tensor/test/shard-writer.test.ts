import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '@autoround/core-tensor';
import { ShardedSafetensorsWriter } from '../src/index.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

describe('ShardedSafetensorsWriter', () => {
  it('cuts shards: HF names, an index, 8-byte aligned data, __metadata__ format pt', () => {
    const dir = join(work.dir, 'sharded');
    mkdirSync(dir);
    const w = new ShardedSafetensorsWriter(dir, { maxShardBytes: 100 });
    const a = Float32Array.from({ length: 20 }, (_, i) => i); // 80 B
    const b = Int32Array.from({ length: 10 }, (_, i) => -i); // 40 B: does not fit beside a
    const c = new Uint16Array(300).fill(7); // 600 B: larger than a shard, alone
    w.add('a', 'F32', [4, 5], a);
    w.add('b', 'I32', [10], b);
    w.add('c', 'F16', [300], c);
    expect(w.close()).toEqual(['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors', 'model.safetensors.index.json']);
    expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    expect(index).toEqual({ metadata: { total_size: 720 }, weight_map: { a: 'model-00001-of-00003.safetensors', b: 'model-00002-of-00003.safetensors', c: 'model-00003-of-00003.safetensors' } });
    const raw = readFileSync(join(dir, 'model-00001-of-00003.safetensors'));
    const n = Number(raw.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    expect(JSON.parse(raw.subarray(8, 8 + n).toString()).__metadata__).toEqual({ format: 'pt' });
    const ck = Checkpoint.open(dir);
    expect(Array.from(ck.read('a').data as Float32Array)).toEqual(Array.from(a));
    expect(Array.from(ck.read('b').data as Int32Array)).toEqual(Array.from(b));
    expect(ck.read('c').shape).toEqual([300]);
    ck.close();
  });

  it('writes a single model.safetensors when everything fits, and refuses duplicates and wrong sizes', () => {
    const dir = join(work.dir, 'single');
    mkdirSync(dir);
    const w = new ShardedSafetensorsWriter(dir);
    w.add('x', 'U8', [3], Uint8Array.of(1, 2, 3));
    expect(() => w.add('x', 'U8', [3], Uint8Array.of(1, 2, 3))).toThrow(/written twice/);
    expect(() => w.add('y', 'F32', [2], new Float32Array(3))).toThrow(/needs 8 bytes, got 12/);
    expect(w.close()).toEqual(['model.safetensors']);
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
  });
});
