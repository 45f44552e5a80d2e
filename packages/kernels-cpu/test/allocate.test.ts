// The native backend's allocate (KernelBackend.allocate): zero-filled float32 buffers whose first element is on a
// 64-byte boundary (docs/perf/signround-iteration.md, "Aligned buffers"), and the addon's alignOffset it rests on.
import { describe, expect, it } from 'vitest';
import { Graph } from '@autoround/core-tensor';
import { native, nativeBackend } from '../src/index.js';

describe.skipIf(!native?.alignOffset)('native allocate', () => {
  const addon = native!;
  it('alignOffset gives the bytes to the next multiple of the alignment', () => {
    for (const bytes of [4, 64, 4000, 160_000, 1 << 22]) {
      const buf = new ArrayBuffer(bytes);
      for (const al of [16, 64, 4096]) {
        const off = addon.alignOffset!(buf, al);
        expect(off).toBeGreaterThanOrEqual(0);
        expect(off).toBeLessThan(al);
        // two offsets of one buffer differ as the alignments nest: the 64-byte boundary is also a 16-byte one
        if (al === 64) expect((off - addon.alignOffset!(buf, 16)) % 16).toBe(0);
      }
    }
    expect(() => addon.alignOffset!(new ArrayBuffer(8), 48)).toThrow(/power of two/);
    expect(() => (addon.alignOffset as unknown as (x: unknown, a: number) => number)(new Float32Array(2), 64)).toThrow(/ArrayBuffer/);
  });

  it('hands out zero-filled, 64-byte-aligned buffers of exactly n floats, also through a Graph', () => {
    const be = nativeBackend.create({ threads: 1 });
    for (const n of [0, 1, 17, 1000, 1 << 20, 3 * (1 << 20) + 5]) {
      const a = be.allocate!(n);
      expect(a.length).toBe(n);
      // the element at byteOffset sits where the buffer's next 64-byte boundary is
      expect((addon.alignOffset!(a.buffer as ArrayBuffer, 64) - a.byteOffset) % 64).toBe(0);
      expect(a.every((x) => x === 0)).toBe(true);
    }
    const g = new Graph(be);
    const x = g.input(new Float32Array(300 * 64).fill(1), [300, 64]);
    const y = g.rmsNorm(x, g.input(new Float32Array(64).fill(2), [64]), 1e-6);
    expect((addon.alignOffset!(y.data.buffer as ArrayBuffer, 64) - y.data.byteOffset) % 64).toBe(0);
    expect(y.data[0]).toBeCloseTo(2, 5);
  });
});
