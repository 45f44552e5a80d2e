import { describe, expect, it } from 'vitest';
import { NpPCG64, PyRandom, npPermutation, seedSequenceState } from '../src/index.js';

// Expected values are CPython 3.11 / NumPy 2.x outputs, written down here (not computed by the code under test).
describe('PyRandom (CPython random.Random)', () => {
  it('random() after seed(42) is the well-known 0.6394267984578837, 0.025010755222666936', () => {
    const r = new PyRandom(42);
    expect(r.random()).toBe(0.6394267984578837);
    expect(r.random()).toBe(0.025010755222666936);
  });
  it('shuffles like random.Random(seed).shuffle', () => {
    expect(new PyRandom(42).shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])).toEqual([7, 3, 2, 8, 5, 6, 9, 4, 0, 1]);
    expect(new PyRandom(0).shuffle([...Array(20).keys()])).toEqual([10, 18, 16, 14, 0, 17, 11, 2, 3, 9, 5, 7, 4, 19, 6, 15, 8, 1, 13, 12]);
    expect(new PyRandom(42).shuffle([...Array(12).keys()])).toEqual([7, 5, 2, 8, 9, 6, 11, 3, 4, 0, 1, 10]);
    expect(new PyRandom(7).shuffle([...Array(12).keys()])).toEqual([7, 11, 3, 10, 8, 4, 9, 1, 0, 6, 2, 5]);
    const l = new PyRandom(42).shuffle([...Array(1000).keys()]);
    expect(l.slice(0, 10)).toEqual([776, 507, 895, 922, 33, 483, 85, 750, 354, 523]);
    expect(l.slice(-5)).toEqual([281, 759, 25, 114, 654]);
  });
  it('seeds big and negative ints from their 32-bit words, and getrandbits matches', () => {
    const r = new PyRandom(2n ** 40n + 5n);
    expect(r.random()).toBe(0.5043802970418443);
    expect(r.getrandbits(7)).toBe(34);
    expect(r.getrandbits(40)).toBe(1020758241026);
    expect(r.getrandbits(53)).toBe(4782454791832712);
    expect(new PyRandom(-7).random()).toBe(0.32383276483316237);
    expect(new PyRandom(123456789012345678901234567890n).random()).toBe(0.7275084571578186);
  });
});

describe('NumPy default_rng permutation (datasets.Dataset.shuffle)', () => {
  it('SeedSequence and PCG64 raw outputs', () => {
    expect([...seedSequenceState(42, 4)]).toEqual([3444837047, 2669555309, 2046530742, 3581440988]);
    const g = new NpPCG64(42);
    expect(g.nextUint64()).toBe(14276969152011380360n);
    expect(g.nextUint64()).toBe(8095878257575067585n);
  });
  it('permutations', () => {
    expect(npPermutation(10, 42)).toEqual([5, 6, 0, 7, 3, 2, 4, 9, 1, 8]);
    expect(npPermutation(20, 0)).toEqual([4, 19, 6, 2, 13, 16, 3, 11, 10, 8, 0, 12, 7, 5, 18, 17, 14, 9, 1, 15]);
    expect(npPermutation(12, 7)).toEqual([4, 6, 10, 0, 1, 3, 8, 7, 2, 5, 9, 11]);
    const p = npPermutation(10000, 42);
    expect(p.slice(0, 8)).toEqual([8132, 8268, 719, 8237, 4555, 6651, 5650, 9034]);
    expect(p.slice(-3)).toEqual([5668, 5729, 9864]);
    expect(npPermutation(7, 2n ** 70n + 3n)).toEqual([3, 4, 5, 1, 6, 0, 2]);
  });
});
