// referenceGemm stands in for a kernel backend in core-tensor's tests: check it on products worked out by hand.
import { describe, expect, it } from 'vitest';
import { referenceGemm } from '../src/index.js';

// A [2,3], B [3,2]: A·B = [[1·7+2·9+3·11, 1·8+2·10+3·12], [4·7+5·9+6·11, 4·8+5·10+6·12]] = [[58, 64], [139, 154]]
const A = Float32Array.from([1, 2, 3, 4, 5, 6]);
const B = Float32Array.from([7, 8, 9, 10, 11, 12]);
const AT = Float32Array.from([1, 4, 2, 5, 3, 6]); // A stored [3,2]
const BT = Float32Array.from([7, 9, 11, 8, 10, 12]); // B stored [2,3]
const AB = [58, 64, 139, 154];

describe('referenceGemm', () => {
  it('computes op(A)·op(B) for every transpose', () => {
    for (const [ta, a] of [[false, A], [true, AT]] as const) {
      for (const [tb, b] of [[false, B], [true, BT]] as const) {
        const c = new Float32Array(4);
        referenceGemm(ta, tb, 2, 2, 3, a, b, c);
        expect([...c], `${ta} ${tb}`).toEqual(AB);
      }
    }
  });

  it('scales by alpha and accumulates beta·C; beta 0 ignores C, alpha 0 reads neither A nor B', () => {
    const c = Float32Array.from([1, 1, 1, 1]);
    referenceGemm(false, false, 2, 2, 3, A, B, c, 2, 3);
    expect([...c]).toEqual(AB.map((x) => 2 * x + 3));
    const d = Float32Array.from([NaN, NaN, NaN, NaN]);
    referenceGemm(false, false, 2, 2, 3, A, B, d);
    expect([...d]).toEqual(AB);
    const e = Float32Array.from([1, 2, 3, 4]);
    referenceGemm(false, false, 2, 2, 3, Float32Array.from([NaN, 0, 0, 0, 0, 0]), B, e, 0, 1);
    expect([...e]).toEqual([1, 2, 3, 4]);
    // otherwise every product counts: 0·Inf is NaN
    const f = new Float32Array(4);
    referenceGemm(false, false, 2, 2, 3, new Float32Array(6), Float32Array.from([Infinity, 0, 0, 0, 0, 0]), f);
    expect(Number.isNaN(f[0])).toBe(true);
  });
});
