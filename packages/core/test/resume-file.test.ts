import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CheckpointValue, PyRandom, type QuantizedWeight, readResumeFile, resolveScheme, writeResumeFile } from '../src/index.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

/** A QuantizedWeight with every field filled, odd values included. */
function sampleWeight(): QuantizedWeight {
  const qdq = Float32Array.from([1.5, -0, Number.NaN, Number.POSITIVE_INFINITY, 3e-39, -2.25]);
  return {
    scheme: { ...resolveScheme('W4A16'), super_bits: undefined } as QuantizedWeight['scheme'],
    shape: [2, 3],
    groupSize: 3,
    qdq,
    codes: Uint8Array.from([0, 15, 7, 8, 1, 2]),
    scales: Float32Array.from([0.125, -0.5]),
    zeros: Int32Array.from([8, -3]),
    blocks: { type: 'Q4_K', data: Uint8Array.from([1, 2, 3]) },
    imatrix: Float32Array.from([1, 2, 3]),
  };
}

/** Bit-exact equality: typed arrays by bytes and type, numbers with Object.is, key sets included. */
function expectSame(a: unknown, b: unknown, where = 'value'): void {
  if (ArrayBuffer.isView(a)) {
    expect(b?.constructor, where).toBe(a.constructor);
    const bytes = (x: ArrayBufferView) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    expect(bytes(b as ArrayBufferView).equals(bytes(a)), where).toBe(true);
    return;
  }
  if (a && typeof a === 'object') {
    expect(b && typeof b === 'object', where).toBe(true);
    expect(Array.isArray(b), where).toBe(Array.isArray(a));
    expect(Object.keys(b as object).sort(), where).toEqual(Object.keys(a).sort());
    for (const k of Object.keys(a)) expectSame((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${where}.${k}`);
    return;
  }
  expect(Object.is(a, b), `${where}: ${String(a)} vs ${String(b)}`).toBe(true);
}

describe('resume state files', () => {
  it('a QuantizedWeight (codes, scales, zeros, GGUF blocks, imatrix) and odd values (NaN, −0, undefined, "$" keys) reads back equal in every bit', () => {
    const q = sampleWeight();
    const file = join(work.dir, 'q.bin');
    const value = { layers: [{ name: 'model.layers.0.mlp.up_proj', q: q as unknown as CheckpointValue }], view: new Float64Array(8).fill(0.1).subarray(2, 5), odd: { note: null, gone: undefined, nan: Number.NaN, negZero: -0, $odd: { $: 'b', i: 9 } } };
    const bytes = writeResumeFile(file, { hello: 'meta' }, value);
    const back = readResumeFile(file);
    expect(back.bytes).toBe(bytes);
    expect(back.meta).toEqual({ hello: 'meta' });
    expectSame(value, back.value);
    // no temporary file is left beside it
    expect(readdirSync(work.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('a damaged file (one byte flipped, cut short, or foreign) is an AutoRoundError naming it, never a wrong value', () => {
    const file = join(work.dir, 'd.bin');
    writeResumeFile(file, {}, { a: Float32Array.from([1, 2, 3, 4]) });
    const good = readFileSync(file);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 40]! ^= 1;
    const cases: [string, Buffer][] = [
      ['flipped', flipped],
      ['short', good.subarray(0, good.length - 5)],
      ['foreign', Buffer.from('{"not": "a state"}')],
    ];
    for (const [what, bytes] of cases) {
      writeFileSync(file, bytes);
      expect(() => readResumeFile(file), what).toThrow(expect.objectContaining({ code: 'E_RESUME', message: expect.stringContaining(file) }));
    }
  });

  it('refuses values it cannot restore (a Map, a function) when writing, naming where they are', () => {
    expect(() => writeResumeFile(join(work.dir, 'x.bin'), {}, { a: [new Map()] } as unknown as CheckpointValue)).toThrow(/state\.a\[0\] is a Map/);
  });
});

describe('PyRandom state', () => {
  it('getState/setState continue the stream exactly (the sampler of a resumed run)', () => {
    const a = new PyRandom(42);
    for (let i = 0; i < 700; i++) a.random(); // past one MT19937 refill
    const s = a.getState();
    const expected = Array.from({ length: 1000 }, () => a.random());
    const b = new PyRandom(7);
    b.setState(s);
    expect(Array.from({ length: 1000 }, () => b.random())).toEqual(expected);
  });
});
