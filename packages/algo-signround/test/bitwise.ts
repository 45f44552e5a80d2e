// Bit-for-bit comparison of two arrays for the native-against-TypeScript tests (NaN equal to any NaN, −0 distinct from +0).
import { expect } from 'vitest';

/** Index of the first element that differs (bit for bit, any NaN equal to any NaN), or -1. */
export function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return -1;
}

export function expectSame(what: string, a: ArrayLike<number> | undefined, b: ArrayLike<number> | undefined): void {
  if (a === undefined || b === undefined) {
    expect(b === undefined, `${what}: present in one only`).toBe(a === undefined);
    return;
  }
  const i = firstDiff(a, b);
  expect(i, `${what}: first difference at ${i} (ts ${a[i]}, native ${b[i]})`).toBe(-1);
}

