// The paired comparison of two --log_samples files against counts and formulas written out by hand.
import type { TaskSample } from '@autoround/core';
import { describe, expect, it } from 'vitest';
import { binomialHalfCdf, pairedDifferences, parseSamples } from '../src/index.js';

const s = (doc_id: number, acc: number, acc_norm: number, target = 0): TaskSample => ({ task: 't', doc_id, target, scores: [0, 0], metrics: { acc, acc_norm } });

describe('paired differences', () => {
  it('binomial(n, ½) tail: exact small cases', () => {
    expect(binomialHalfCdf(2, 10)).toBeCloseTo((1 + 10 + 45) / 1024, 15);
    expect(binomialHalfCdf(0, 1)).toBe(0.5);
    expect(binomialHalfCdf(5, 5)).toBe(1);
    expect(binomialHalfCdf(-1, 5)).toBe(0);
    // symmetric: P(X ≤ 49) + P(X ≤ 50) = 1 for n = 99
    expect(binomialHalfCdf(49, 99) + binomialHalfCdf(49, 99)).toBeCloseTo(1, 12);
  });

  it('b − a, its stderr from the per-document differences, and McNemar counts over documents in both files', () => {
    const a = [s(0, 1, 0), s(1, 0, 0), s(2, 1, 1), s(3, 0, 1), s(9, 1, 1)];
    const b = [s(0, 1, 1), s(1, 1, 0), s(2, 0, 1), s(3, 1, 1), s(7, 0, 0)];
    const rows = pairedDifferences(a, b);
    const acc = rows.find((r) => r.metric === 'acc')!;
    // acc differences over docs 0..3: 0, +1, −1, +1 → mean 0.25, sample variance ((−.25)² + .75² + (−1.25)² + .75²)/3
    expect(acc.n).toBe(4);
    expect(acc.diff).toBe(0.25);
    expect(acc.stderr).toBeCloseTo(Math.sqrt((0.0625 + 0.5625 + 1.5625 + 0.5625) / 3 / 4), 15);
    expect([acc.bOnly, acc.aOnly]).toEqual([2, 1]);
    // McNemar exact: 2 · P(X ≤ 1), X ~ Bin(3, ½) = 2 · 4/8 = 1
    expect(acc.pValue).toBe(1);
    const norm = rows.find((r) => r.metric === 'acc_norm')!;
    expect([norm.diff, norm.bOnly, norm.aOnly]).toEqual([0.25, 1, 0]);
    expect(norm.pValue).toBe(1);
  });

  it('a strong difference gets a small p-value: 30 documents only b gets right, 5 only a', () => {
    const a = [...Array(35).keys()].map((i) => s(i, i < 30 ? 0 : 1, 0));
    const b = [...Array(35).keys()].map((i) => s(i, i < 30 ? 1 : 0, 0));
    const r = pairedDifferences(a, b).find((x) => x.metric === 'acc')!;
    let tail = 0;
    for (let k = 0; k <= 5; k++) {
      let c = 1;
      for (let j = 1; j <= k; j++) c = (c * (35 - k + j)) / j;
      tail += c / 2 ** 35;
    }
    expect(r.pValue).toBeCloseTo(2 * tail, 15);
    expect(r.pValue).toBeLessThan(1e-4);
  });

  it('refuses files whose documents disagree on the gold choice, and names a malformed line', () => {
    expect(() => pairedDifferences([s(0, 1, 1, 0)], [s(0, 1, 1, 2)])).toThrow(/document 0: the two files disagree on its gold choice/);
    expect(() => parseSamples('{"task":"t","doc_id":0,"target":1,"scores":[]}\n', 'a.jsonl')).toThrow(/a\.jsonl:1: field "metrics" is missing/);
    expect(() => parseSamples('\n{oops\n', 'b.jsonl')).toThrow(/b\.jsonl:2: not a JSON line/);
    expect(parseSamples(`${JSON.stringify(s(3, 1, 0))}\n`, 'c.jsonl')).toEqual([s(3, 1, 0)]);
  });
});
