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
