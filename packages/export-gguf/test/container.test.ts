import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAutoRoundError } from '@autoround/core-tensor';
import { GgufMetadata, GgufValueType, formatGgufInfo, readGguf, readGgufTensorF32 } from '../src/index.js';
import { GgufWriter } from '../src/gguf/writer.js';
import { readGgufTensorBytes } from '../src/gguf/reader.js';
import { GGMLType, quantizeRows } from '@autoround/quant-types';

const dir = mkdtempSync(join(tmpdir(), 'gguf-container-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sample(path: string, md = new GgufMetadata().str('general.architecture', 'llama').u32('llama.block_count', 1)): { a: Float32Array; q: Uint8Array } {
  const a = new Float32Array(7).map((_, i) => i - 3.5);
  const x = new Float32Array(512).map((_, i) => Math.sin(i) / 10);
  const q = quantizeRows(GGMLType.Q4_K, x, 256);
  const w = new GgufWriter(path, md, [
    { name: 'a.weight', ne: [7], type: GGMLType.F32 },
    { name: 'b.weight', ne: [256, 2], type: GGMLType.Q4_K },
  ]);
  // out of order on purpose: data lands at its declared offset
  w.writeTensor('b.weight', q);
  w.writeTensor('a.weight', new Uint8Array(a.buffer));
  w.close();
  return { a, q };
}

function expectGgufError(fn: () => unknown, file: string, what: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(isAutoRoundError(e)).toBe(true);
    expect((e as Error).message).toContain(file);
    expect((e as Error).message).toMatch(what);
    return;
  }
  throw new Error('expected an error');
}

describe('GGUF v3 writer and reader', () => {
  it('writes header, infos, aligned data and final padding; reads it back', () => {
    const p = join(dir, 'ok.gguf');
    const md = new GgufMetadata()
      .str('general.architecture', 'llama')
      .u32('llama.block_count', 1)
      .f32('x.f', 0.5)
      .bool('x.b', true)
      .i32s('x.ints', [1, -2, 3])
      .f32s('x.floats', [0.25])
      .strings('x.strs', ['▁a', 'b c', ''])
      .u64('x.big', 2n ** 40n);
    const { a, q } = sample(p, md);
    const g = readGguf(p);
    expect(g.version).toBe(3);
    expect(g.alignment).toBe(32);
    expect(g.dataOffset % 32).toBe(0);
    expect(g.tensors.map((t) => [t.name, t.type, t.offset, t.nbytes])).toEqual([
      ['a.weight', GGMLType.F32, 0, 28],
      ['b.weight', GGMLType.Q4_K, 32, 288],
    ]);
    // final padding written: the file ends at an aligned offset after the last tensor
    expect(statSync(p).size).toBe(g.dataOffset + 32 + 288);
    expect(g.metadata.get('llama.block_count')).toEqual({ type: GgufValueType.UINT32, value: 1 });
    expect(g.metadata.get('x.b')!.value).toBe(true);
    expect([...(g.metadata.get('x.ints')!.value as Int32Array)]).toEqual([1, -2, 3]);
    expect(g.metadata.get('x.strs')!.value).toEqual(['▁a', 'b c', '']);
    expect(g.metadata.get('x.big')!.value).toBe(2 ** 40);
    expect(readGgufTensorF32(g, 'a.weight')).toEqual(a);
    expect(readGgufTensorBytes(g, 'b.weight')).toEqual(q);
    const info = formatGgufInfo(p);
    expect(info).toContain('GGUF version 3');
    expect(info).toContain('b.weight');
    expect(info).toContain('Q4_K');
    expect(info).toContain('ARRAY<STRING>[3]');
  });

  it('honours general.alignment', () => {
    const p = join(dir, 'al.gguf');
    sample(p, new GgufMetadata().str('general.architecture', 'llama').u32('general.alignment', 64));
    const g = readGguf(p);
    expect(g.alignment).toBe(64);
    expect(g.tensors[1]!.offset).toBe(64);
    expect(g.dataOffset % 64).toBe(0);
  });

  it('refuses what llama.cpp refuses when writing', () => {
    const md = new GgufMetadata();
    expect(() => new GgufWriter(join(dir, 'x1.gguf'), md, [{ name: 'q', ne: [100, 2], type: GGMLType.Q4_K }])).toThrow(/multiple of the Q4_K block size 256/);
    expect(() => new GgufWriter(join(dir, 'x2.gguf'), md, [{ name: 'x'.repeat(64), ne: [4], type: GGMLType.F32 }])).toThrow(/1\.\.63/);
    expect(() => new GgufWriter(join(dir, 'x3.gguf'), md, [{ name: 't', ne: [4], type: 0 }, { name: 't', ne: [4], type: 0 }])).toThrow(/twice/);
    expect(() => new GgufWriter(join(dir, 'x4.gguf'), new GgufMetadata().u32('general.alignment', 48), [])).toThrow(/power of two/);
    const w = new GgufWriter(join(dir, 'x5.gguf'), md, [{ name: 't', ne: [4], type: GGMLType.F32 }]);
    expect(() => w.writeTensor('t', new Uint8Array(8))).toThrow(/needs 16 bytes/);
    expect(() => w.close()).toThrow(/never written: t/);
  });
});

describe('malformed files are rejected with the file named', () => {
  const good = join(dir, 'good.gguf');
  sample(good);
  const bytes = new Uint8Array(readFileSync(good));
  const g = readGguf(good);
  const mutate = (name: string, f: (b: Buffer) => Buffer | Uint8Array): string => {
    const p = join(dir, name);
    writeFileSync(p, f(Buffer.from(bytes)));
    return p;
  };

  it('bad magic', () => {
    const p = mutate('magic.gguf', (b) => (b.write('GGML', 0, 'latin1'), b));
    expectGgufError(() => readGguf(p), p, /bad magic "GGML".*not a GGUF file/);
  });
  it('version 1, a future version, byte-swapped version', () => {
    for (const [v, re] of [
      [1, /version 1 is no longer supported/],
      [4, /version 4 is newer/],
      [0x03000000, /byte-swapped/],
    ] as const) {
      const p = mutate(`v${v}.gguf`, (b) => (b.writeUInt32LE(v, 4), b));
      expectGgufError(() => readGguf(p), p, re);
    }
  });
  it('impossible counts', () => {
    const p = mutate('count.gguf', (b) => (b.writeBigInt64LE(1n << 40n, 8), b));
    expectGgufError(() => readGguf(p), p, /tensor count .* impossible/);
    const q = mutate('count2.gguf', (b) => (b.writeBigInt64LE(-1n, 16), b));
    expectGgufError(() => readGguf(q), q, /metadata count -1/);
  });
  it('truncated header and truncated data', () => {
    const p = mutate('trunc1.gguf', (b) => b.subarray(0, 40));
    expectGgufError(() => readGguf(p), p, /truncated/);
    const q = mutate('trunc2.gguf', (b) => b.subarray(0, g.dataOffset + 100));
    expectGgufError(() => readGguf(q), q, /b\.weight.*ends past the end .*truncated/);
  });
  it('duplicate keys, unknown value types, nested arrays, bad alignment type', () => {
    const k1 = 24 + 8 + 'general.architecture'.length; // offset of the first key's value type
    const md = new GgufMetadata().str('a', 'x').str('b', 'y');
    const p = join(dir, 'dup2.gguf');
    new GgufWriter(p, md, []).close();
    const raw = Buffer.from(readFileSync(p));
    raw.write('a', 24 + 8 + 1 + 4 + 8 + 1 + 8, 'latin1'); // rename key "b" to "a"
    writeFileSync(p, raw);
    expectGgufError(() => readGguf(p), p, /duplicate metadata key "a"/);
    const t = mutate('type.gguf', (b) => (b.writeUInt32LE(13, k1), b));
    expectGgufError(() => readGguf(t), t, /unknown value type 13/);
    const md2 = new GgufMetadata().set('arr', { type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, value: new Int32Array([1]) });
    const n = join(dir, 'nested.gguf');
    new GgufWriter(n, md2, []).close();
    const raw2 = Buffer.from(readFileSync(n));
    raw2.writeUInt32LE(GgufValueType.ARRAY, 24 + 8 + 3 + 4);
    writeFileSync(n, raw2);
    expectGgufError(() => readGguf(n), n, /array of arrays/);
    const md3 = new GgufMetadata().i32('general.alignment', 32);
    const a = join(dir, 'align.gguf');
    // the writer refuses it, so write the bytes by hand: header + one INT32 key
    const key = Buffer.from('general.alignment');
    const h = Buffer.alloc(24 + 8 + key.length + 4 + 4);
    h.writeUInt32LE(0x46554747, 0);
    h.writeUInt32LE(3, 4);
    h.writeBigInt64LE(0n, 8);
    h.writeBigInt64LE(1n, 16);
    h.writeBigUInt64LE(BigInt(key.length), 24);
    key.copy(h, 32);
    h.writeUInt32LE(GgufValueType.INT32, 32 + key.length);
    h.writeInt32LE(32, 36 + key.length);
    writeFileSync(a, h);
    void md3;
    expectGgufError(() => readGguf(a), a, /general\.alignment has type INT32/);
  });
  it('tensor offsets that are not packed, dims, unknown types, rows not fitting the block', () => {
    // b.weight's info record: name (u64 length + bytes), n_dims u32, ne0 i64, ne1 i64, type u32, offset u64
    const namePos = Buffer.from(bytes).indexOf('b.weight', 24, 'latin1');
    const dimsPos = namePos + 8;
    const ne0Pos = dimsPos + 4;
    const typePos = ne0Pos + 16;
    const offPos = typePos + 4;
    const p = mutate('off.gguf', (b) => (b.writeBigUInt64LE(64n, offPos), b));
    expectGgufError(() => readGguf(p), p, /data offset 64, expected 32/);
    const q = mutate('ttype.gguf', (b) => (b.writeUInt32LE(77, typePos), b));
    expectGgufError(() => readGguf(q), q, /unknown ggml type 77/);
    const r = mutate('ne0.gguf', (b) => (b.writeBigInt64LE(100n, ne0Pos), b));
    expectGgufError(() => readGguf(r), r, /ne\[0\] = 100 is not a multiple of the Q4_K block size 256/);
    const s = mutate('dims.gguf', (b) => (b.writeUInt32LE(5, dimsPos), b));
    expectGgufError(() => readGguf(s), s, /has 5 dims/);
  });
  it('a missing file', () => {
    expectGgufError(() => readGguf(join(dir, 'nope.gguf')), 'nope.gguf', /cannot open/);
  });
});
