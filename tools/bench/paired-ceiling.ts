// Work measured against the FMA ceiling of the same moment. This host's speed moves by ±40% within a
// second (a 1024³ GEMM once ran at 127% of the ceiling measured a few seconds before it, and the
// ceiling measured again at the end was 47% higher than at the start), so a best GEMM call over a
// best ceiling trial compares two different phases of the machine. Here short ceiling trials
// alternate with short windows of work; each window's rate is divided by the mean of the two trials
// around it, and the median of those ratios is the figure.

/** Ceiling trial: GFLOP/s of the FMA loop on every core for about `seconds`. */
export type CeilingTrial = (seconds: number) => number;

export interface PairedOptions {
  /** One call of the work; returns the floating-point operations it did. */
  call: () => number;
  ceiling: CeilingTrial;
  /** Seconds of work per window (at least one call per window). */
  windowSeconds: number;
  /** Stop once this much time went into the work (and at least minWindows windows ran). */
  workSeconds: number;
  minWindows: number;
  maxCalls: number;
  ceilingSeconds: number;
}

export interface PairedResult {
  /** Seconds of every call, in order. */
  times: number[];
  /** Per window: work GFLOP/s over the mean of the ceiling trials just before and just after it. */
  ratios: number[];
  /** Median of ratios. */
  median: number;
  /** Highest ceiling trial seen. */
  ceilingMax: number;
}

export function pairedFraction(o: PairedOptions): PairedResult {
  const times: number[] = [];
  const ratios: number[] = [];
  let before = o.ceiling(o.ceilingSeconds);
  let ceilingMax = before;
  let spent = 0;
  let windows = 0;
  while ((windows < o.minWindows || spent < o.workSeconds) && times.length < o.maxCalls) {
    let flop = 0;
    let windowSpent = 0;
    do {
      const t0 = performance.now();
      flop += o.call();
      const dt = (performance.now() - t0) / 1000;
      times.push(dt);
      windowSpent += dt;
    } while (windowSpent < o.windowSeconds && times.length < o.maxCalls);
    const after = o.ceiling(o.ceilingSeconds);
    ceilingMax = Math.max(ceilingMax, after);
    ratios.push(flop / windowSpent / 1e9 / ((before + after) / 2));
    before = after;
    spent += windowSpent;
    windows++;
  }
  return { times, ratios, median: median(ratios), ceilingMax };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

export interface InterleavedResult {
  /** Per round: rate of a (mean of the windows before and after) over the rate of b between them. */
  ratios: number[];
  median: number;
}

/**
 * Two implementations of the same work compared directly: windows of a, b, a, b, … a; each b window
 * against the mean of the a windows around it. Measuring one after the other instead puts them in
 * different phases of the host: one such sequence had our GEMM at 0.90-0.95 of OpenBLAS where
 * alternating windows, minutes apart, gave 1.07-1.15.
 */
export function interleavedRatio(o: { a: () => number; b: () => number; windowSeconds: number; rounds: number }): InterleavedResult {
  const window = (call: () => number) => {
    let flop = 0;
    const t0 = performance.now();
    let dt = 0;
    do {
      flop += call();
      dt = (performance.now() - t0) / 1000;
    } while (dt < o.windowSeconds);
    return flop / dt;
  };
  const ratios: number[] = [];
  let before = window(o.a);
  for (let r = 0; r < o.rounds; r++) {
    const b = window(o.b);
    const after = window(o.a);
    ratios.push((before + after) / 2 / b);
    before = after;
  }
  return { ratios, median: median(ratios) };
}
