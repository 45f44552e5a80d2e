// The native-against-TypeScript tests' helpers: run a computation with and without a process-wide native kernel, and
// compare two arrays bit for bit (NaN equal to any NaN, −0 distinct from +0).
import { expect } from 'vitest';

/**
 * Runs f with the TypeScript loops (the slot emptied), then with `kernel` registered; restores what was registered.
 * `get`/`set` are a process-wide kernel slot's accessors (e.g. fpQdqKernel / setFpQdqKernel).
 */
export function tsThenNative<K, T>(get: () => K | null, set: (k: K | null) => unknown, kernel: K | null, f: () => T): [T, T] {
  const prev = get();
  try {
    set(null);
    const ts = f();
    set(kernel);
    return [ts, f()];
  } finally {
    set(prev);
  }
}

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

