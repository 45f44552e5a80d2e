/** The largest absolute difference relative to the largest magnitude of `want`: one number for "how close is a forward to its reference". */
export function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]!));
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  }
  return worst / scale;
}

/** Index of the largest of a[off … off + n) relative to off (the first on ties). */
export function argmax(a: ArrayLike<number>, off = 0, n = a.length - off): number {
  let b = 0;
  for (let i = 1; i < n; i++) if (a[off + i]! > a[off + b]!) b = i;
  return b;
}
