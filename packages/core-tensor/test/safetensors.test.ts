import { readFileSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AutoRoundError, Checkpoint, SafetensorsFile, ShardedSafetensorsWriter, encodeSafetensorsHeader, parseByteSize, toFloat32Into, viewBytes } from '../src/index.js';
import { tempDir } from '@autoround/testing';

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups) c();
  cleanups = [];
});
function tmp(): string {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return t.dir;
}

/** Writes a safetensors file from a literal header object and raw data bytes. */
function writeRaw(file: string, header: unknown, data: Uint8Array, headerLenOverride?: number): void {
  const hb = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLenOverride ?? hb.length));
  writeFileSync(file, Buffer.concat([len, hb, data]));
}

function expectError(fn: () => unknown, code: string, ...parts: string[]): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AutoRoundError);
    expect((e as AutoRoundError).code).toBe(code);
    for (const p of parts) expect((e as Error).message).toContain(p);
    return;
  }
  throw new Error('expected an error');
}

describe('safetensors reader', () => {
  it('reads tensors lazily by offset and widens every float dtype', () => {
    const dir = tmp();
    const f = join(dir, 'a.safetensors');
    const f32 = new Float32Array([1, -2, 3.5, 0.25]);
    const f16 = new Uint16Array([0x3c00, 0xc000]); // 1, -2
    const bf16 = new Uint16Array([0x3f80, 0x4040]); // 1, 3
    const i64 = new BigInt64Array([5n, -7n]);
    const data = Buffer.concat([Buffer.from(f32.buffer), Buffer.from(f16.buffer), Buffer.from(bf16.buffer), Buffer.from(i64.buffer)]);
    writeRaw(
      f,
      {
        __metadata__: { format: 'pt' },
        a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
        h: { dtype: 'F16', shape: [2], data_offsets: [16, 20] },
        b: { dtype: 'BF16', shape: [2], data_offsets: [20, 24] },
        i: { dtype: 'I64', shape: [2], data_offsets: [24, 40] },
      },
      data,
    );
    const s = SafetensorsFile.open(f);
    expect(s.metadata.format).toBe('pt');
    expect(s.names.sort()).toEqual(['a', 'b', 'h', 'i']);
    expect([...s.readFloat32('a').data]).toEqual([1, -2, 3.5, 0.25]);
    expect(s.read('a').shape).toEqual([2, 2]);
    expect([...s.readFloat32('h').data]).toEqual([1, -2]);
    expect([...s.readFloat32('b').data]).toEqual([1, 3]);
    expect([...(s.read('i').data as BigInt64Array)]).toEqual([5n, -7n]);
    s.close();
  });

  it('reads a range of rows (the innermost dimension) and widens it into a reused buffer', () => {
    const dir = tmp();
    const f = join(dir, 'r.safetensors');
    // BF16 [2, 3, 2]: 6 rows of 2; values 0 … 11 (exact in bf16)
    const bf16 = new Uint16Array(12).map((_, i) => new Uint16Array(new Float32Array([i]).buffer)[1]!);
    writeRaw(f, { t: { dtype: 'BF16', shape: [2, 3, 2], data_offsets: [0, 24] } }, Buffer.from(bf16.buffer));
    const s = SafetensorsFile.open(f);
    const into = new Uint8Array(16);
    const b = s.readRowBytes('t', 2, 5, into);
    expect(b.buffer).toBe(into.buffer);
    expect(b.byteLength).toBe(12);
    // widened into the middle of a larger buffer (a subarray with an offset), the rest untouched
    const out = new Float32Array(10).fill(-1);
    const got = toFloat32Into('BF16', viewBytes('BF16', b), out.subarray(2));
    expect(got.length).toBe(6);
    expect([...out]).toEqual([-1, -1, 4, 5, 6, 7, 8, 9, -1, -1]);
    expect([...toFloat32Into('F32', new Float32Array([1.5, 2]), new Float32Array(2))]).toEqual([1.5, 2]);
    expect(() => toFloat32Into('BF16', viewBytes('BF16', b), new Float32Array(5))).toThrow(/6 BF16 values do not fit a buffer of 5/);
    expect([...viewBytes('BF16', s.readRowBytes('t', 0, 6))]).toEqual([...bf16]);
    expect(() => s.readRowBytes('t', 4, 7)).toThrow(/rows 4…7 of tensor "t", which has 6/);
    expect(() => s.readRowBytes('t', 3, 2)).toThrow(/rows 3…2/);
    s.close();
  });

  it('rejects a file shorter than its header length (truncated)', () => {
    const f = join(tmp(), 't.safetensors');
    writeRaw(f, { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4), 10_000);
    expectError(() => SafetensorsFile.open(f), 'E_SAFETENSORS', f, 'truncated');
  });

  it('rejects a header that is not JSON', () => {
    const f = join(tmp(), 'j.safetensors');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(5n);
    writeFileSync(f, Buffer.concat([len, Buffer.from('{oops')]));
    expectError(() => SafetensorsFile.open(f), 'E_SAFETENSORS', 'not valid JSON');
  });

  it('rejects a file under 8 bytes', () => {
    const f = join(tmp(), 's.safetensors');
    writeFileSync(f, Buffer.from([1, 2, 3]));
    expectError(() => SafetensorsFile.open(f), 'E_SAFETENSORS', 'shorter than the 8-byte');
  });

  it('rejects a byte count that does not match dtype and shape, naming the tensor', () => {
    const f = join(tmp(), 'b.safetensors');
    writeRaw(f, { 'model.w': { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8));
    expectError(() => SafetensorsFile.open(f), 'E_SAFETENSORS', 'model.w', '12 bytes', '8 bytes');
  });

  it('rejects data past the end of the file, overlaps, unknown dtypes and bad shapes', () => {
    const d = tmp();
    const f1 = join(d, '1.safetensors');
    writeRaw(f1, { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8));
    expectError(() => SafetensorsFile.open(f1), 'E_SAFETENSORS', '"w"', 'past the');
    const f2 = join(d, '2.safetensors');
    writeRaw(f2, { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12));
    expectError(() => SafetensorsFile.open(f2), 'E_SAFETENSORS', 'overlap');
    const f3 = join(d, '3.safetensors');
    writeRaw(f3, { a: { dtype: 'Q4', shape: [2], data_offsets: [0, 1] } }, new Uint8Array(1));
    expectError(() => SafetensorsFile.open(f3), 'E_SAFETENSORS', 'unknown dtype');
    const f4 = join(d, '4.safetensors');
    writeRaw(f4, { a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4));
    expectError(() => SafetensorsFile.open(f4), 'E_SAFETENSORS', 'invalid shape');
  });

  it('names a missing file', () => {
    expectError(() => SafetensorsFile.open('/nonexistent/x.safetensors'), 'E_NOT_FOUND', '/nonexistent/x.safetensors');
  });
});

describe('sharded writer and checkpoint', () => {
  it('writes one file below the shard limit, aligned headers', () => {
    const dir = tmp();
    const w = new ShardedSafetensorsWriter(dir, { maxShardBytes: 1000 });
    w.add('x', 'F32', [2], new Float32Array([1, 2]));
    expect(w.close()).toEqual(['model.safetensors']);
    const raw = readFileSync(join(dir, 'model.safetensors'));
    expect(Number(raw.readBigUInt64LE(0)) % 8).toBe(0);
    const hdr = JSON.parse(raw.subarray(8, 8 + Number(raw.readBigUInt64LE(0))).toString());
    expect(hdr.__metadata__).toEqual({ format: 'pt' });
  });

  it('cuts shards at the limit, names them n-of-N and writes an index the checkpoint reads', () => {
    const dir = tmp();
    const w = new ShardedSafetensorsWriter(dir, { maxShardBytes: 64 });
    const tensors: Record<string, Float32Array> = {};
    for (let i = 0; i < 7; i++) {
      const a = new Float32Array(6).map((_, k) => i * 10 + k);
      tensors[`t${i}`] = a;
      w.add(`t${i}`, 'F32', [2, 3], a);
    }
    const files = w.close();
    expect(files).toContain('model.safetensors.index.json');
    const shards = files.filter((f) => f.endsWith('.safetensors'));
    expect(shards.length).toBeGreaterThan(1);
    expect(shards[0]).toMatch(/^model-00001-of-0000\d\.safetensors$/);
    expect(readdirSync(dir).some((f) => f.includes('partial'))).toBe(false);
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata.total_size).toBe(7 * 24);
    const ck = Checkpoint.open(dir);
    for (const [n, a] of Object.entries(tensors)) expect([...ck.readFloat32(n).data]).toEqual([...a]);
    expect(ck.names.length).toBe(7);
    const streamed = [...ck.stream()].map(({ name, tensor }) => [name, [...tensor.toFloat32().data]] as const);
    expect(streamed.length).toBe(7);
    expect(streamed.map(([n]) => n).sort()).toEqual(Object.keys(tensors).sort());
    for (const { name, tensor } of ck.stream()) expect([...tensor.toFloat32().data]).toEqual([...tensors[name]!]);
    ck.close();
  });

  it('refuses a tensor whose bytes do not match its shape, and duplicates', () => {
    const w = new ShardedSafetensorsWriter(tmp());
    expect(() => w.add('x', 'F32', [3], new Float32Array(2))).toThrow(/needs 12 bytes/);
    w.add('y', 'F32', [1], new Float32Array(1));
    expect(() => w.add('y', 'F32', [1], new Float32Array(1))).toThrow(/twice/);
  });

  it('reports a shard the index names but the folder lacks, and a folder without weights', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors' } }));
    expectError(() => Checkpoint.open(dir), 'E_NOT_FOUND', 'model-00001-of-00002.safetensors');
    const empty = tmp();
    expectError(() => Checkpoint.open(empty), 'E_NO_WEIGHTS', empty);
  });

  it('encodes headers padded to 8 bytes', () => {
    const h = encodeSafetensorsHeader([{ name: 'abc', dtype: 'F32', shape: [1], byteLength: 4 }]);
    expect(h.length % 8).toBe(0);
    expect(existsSync('/')).toBe(true);
  });

  it('parses sizes like the original', () => {
    expect(parseByteSize('5GB')).toBe(5e9);
    expect(parseByteSize('500MB')).toBe(5e8);
    expect(parseByteSize('1GiB')).toBe(2 ** 30);
    expect(parseByteSize(1234)).toBe(1234);
    expect(() => parseByteSize('lots')).toThrow(/size/);
  });
});
