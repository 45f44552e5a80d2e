import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root and the shared fixtures beside it (tests only; the product never reads them). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/**
 * ../shared, or the folder AUTOROUND_SHARED names: .ci/run sets it to a missing folder for a second run that
 * checks every suite skips cleanly on a fresh clone. Tests find the fixtures only through this constant, so
 * that run hides them from all of them (packages/testing/test/shared.test.ts fails on any other path to ../shared).
 */
export const SHARED = process.env.AUTOROUND_SHARED ? resolve(process.env.AUTOROUND_SHARED) : resolve(REPO_ROOT, '../shared');
export const STORIES = join(SHARED, 'models/stories260K');
export const LLAMA256 = join(SHARED, 'models/llama-256');
export const TINYSTORIES = join(SHARED, 'datasets/tinystories/TinyStories-validation-sample.txt');
export const HAS_SHARED = existsSync(join(STORIES, 'config.json'));
/** Why a suite that needs the fixtures is skipped, for its name or a warning. */
export const NO_SHARED_REASON = `needs the ../shared fixtures, absent at ${SHARED}`;
/** A suite name that says, when the fixtures are absent, why the suite is skipped. */
export const needsShared = (name: string): string => (HAS_SHARED ? name : `${name} (skipped: ${NO_SHARED_REASON})`);

/** What `f` throws (a test of an error's type and message); fails the test when it returns. */
export function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('did not throw');
}

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = 'autoround-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A seeded xorshift32 stream of numbers in [0, 1), for generated test and benchmark inputs. */
export function xorshiftRandom(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

// the seeded stream of the demo model and `--dataset self`, for generated test inputs
export { mulberry32 } from '@autoround/core-tensor';

/** n float32 values drawn uniformly from [lo, hi) with the stream r. */
export function uniformArray(n: number, r: () => number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

/** n Gaussian float32 values (Box–Muller, standard deviation `sigma`) drawn with the stream r. */
export function randn(n: number, r: () => number, sigma = 0.02): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = sigma * Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r());
  return x;
}

/** Round half to even (torch.round / numpy.round), in float64. */
export const roundHalfEven = (x: number): number => {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/** The gradient of fn at x0 by central differences with step eps, in float64 (fn sees one array, perturbed in place). */
export function centralDifferences(fn: (x: Float64Array) => number, x0: ArrayLike<number>, eps: number): Float64Array {
  const x = Float64Array.from(x0);
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    x[i] = v + eps;
    const p = fn(x);
    x[i] = v - eps;
    const m = fn(x);
    x[i] = v;
    g[i] = (p - m) / (2 * eps);
  }
  return g;
}

export type NodeLlamaCpp = typeof import('node-llama-cpp');

/**
 * node-llama-cpp (prebuilt llama.cpp, a dev dependency of @autoround/export-gguf) when it loads on
 * this machine, else null and the reason: tests that run our GGUF files in llama.cpp skip without it.
 */
export async function loadNodeLlamaCpp(): Promise<{ nlc: NodeLlamaCpp | null; why: string }> {
  try {
    return { nlc: await import('node-llama-cpp'), why: '' };
  } catch (e) {
    return { nlc: null, why: (e as Error).message };
  }
}

/** 'n' NaN, '+' +Inf, '-' −Inf, '.' finite, one character per element: where a backend's NaN/Inf must agree with the reference's. */
export function nonFiniteClasses(a: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    s += x !== x ? 'n' : x === Infinity ? '+' : x === -Infinity ? '-' : '.';
  }
  return s;
}

/** The keys of `want` (outputs present there) whose non-finite classes `got` does not match, for `expect(…).toEqual([])`. */
export function nonFiniteMismatches(got: Record<string, ArrayLike<number> | null | undefined>, want: Record<string, ArrayLike<number> | null | undefined>): string[] {
  return Object.keys(want).filter((key) => {
    const w = want[key];
    return w && nonFiniteClasses(got[key] ?? []) !== nonFiniteClasses(w);
  });
}

/** A llama.cpp instance of node-llama-cpp (CPU, prebuilt binaries). */
export type NodeLlama = Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;

/**
 * Log-probabilities llama.cpp gives each scored token of `windows` (each window evaluated from an empty
 * cache, token j+1 scored after tokens 0…j, for j + 1 from `scoredFrom[i]` on, default 1): the per-token comparison
 * of our GGUF files with our own eval.
 */
export async function llamaCppLogProbs(llama: NodeLlama, file: string, windows: readonly Int32Array[], seqlen: number, scoredFrom?: readonly number[]): Promise<number[]> {
  const model = await llama.loadModel({ modelPath: file });
  try {
    const ctx = await model.createContext({ contextSize: seqlen, threads: 1, batchSize: seqlen });
    try {
      const seq = ctx.getSequence();
      const lp: number[] = [];
      for (const [wi, w] of windows.entries()) {
        await seq.clearHistory();
        const opts = { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } };
        // probabilities only where a token is scored: each is a map over the whole vocabulary
        const from = scoredFrom?.[wi] ?? 1;
        const out = await seq.controlledEvaluate([...w].map((t, j) => (j + 1 >= from ? [t, opts] : t)) as never);
        for (let j = from - 1; j + 1 < w.length; j++) {
          const p = out[j]?.next.probabilities?.get(w[j + 1]! as never);
          if (p === undefined) throw new Error(`no probability for token ${w[j + 1]} at ${j}`);
          lp.push(Math.log(p));
        }
      }
      return lp;
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

/**
 * The largest |our log p − llama.cpp's| over every scored token of `windows` (token j+1 after 0…j, in
 * llamaCppLogProbs' order), our log p from `forward`'s logits [T, vocab] by a float64 log-softmax.
 */
export function worstLogProbGap(forward: (ids: Int32Array) => Float32Array, vocab: number, windows: readonly Int32Array[], theirs: readonly number[]): { worst: number; tokens: number } {
  let worst = 0;
  let k = 0;
  for (const w of windows) {
    const logits = forward(w);
    for (let j = 0; j + 1 < w.length; j++, k++) {
      const row = logits.subarray(j * vocab, (j + 1) * vocab);
      let mx = -Infinity;
      for (const v of row) mx = Math.max(mx, v);
      let sum = 0;
      for (const v of row) sum += Math.exp(v - mx);
      worst = Math.max(worst, Math.abs(row[w[j + 1]!]! - mx - Math.log(sum) - theirs[k]!));
    }
  }
  return { worst, tokens: k };
}

/**
 * llama.cpp's mean log-probability of each sequence's tokens from index `from` on (llama-perplexity
 * --hellaswag's score of an ending), from llamaCppLogProbs: the reference the llama.cpp task protocol is checked against.
 */
export async function llamaCppMeanLogProbs(llama: NodeLlama, file: string, requests: readonly { tokens: Int32Array; from: number }[]): Promise<number[]> {
  const lp = await llamaCppLogProbs(llama, file, requests.map((r) => r.tokens), Math.max(...requests.map((r) => r.tokens.length)), requests.map((r) => r.from));
  let at = 0;
  return requests.map((r) => {
    const scored = lp.slice(at, at + r.tokens.length - r.from);
    at += r.tokens.length - r.from;
    return scored.reduce((a, b) => a + b, 0) / scored.length;
  });
}
